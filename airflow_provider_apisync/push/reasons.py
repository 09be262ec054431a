"""One short, human line for why an API refused something (for log lines, not storage).

APIs answer a refusal with very different bodies: ``{"message": ...}`` (GitHub, Stripe's
``{"error": {"message": ...}}``), ``{"errors": {"field": "msg"}}`` (Rails-style),
``{"errors": [{"message": ...}]}`` (JSON:API, Salesforce lists), RFC 9457 problem details
(``title``/``detail``) or plain text. :func:`short_reason` picks the readable part and
caps it, so a WARNING says *why* in one line; the full body stays in the dead letter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_REASON = 160
_MESSAGE_KEYS = ("message", "detail", "error_description", "title", "errors", "error", "msg")


def short_reason(error: Any, limit: int = MAX_REASON) -> str:
    """``{"error": "validation failed", "errors": {"total": "must be > 0"}}`` ->
    ``"total: must be > 0"``; bytes, JSON text, dicts, lists and plain text accepted."""
    text = _text(_decode(error)).strip() or "no reason given"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any, depth: int = 0) -> str:
    if value is None:
        return ""
    if depth > 4:
        return json.dumps(value, default=str)[:MAX_REASON]
    if isinstance(value, Mapping):
        for key in _MESSAGE_KEYS:
            inner = value.get(key)
            if inner not in (None, "", [], {}):
                # ``errors`` beats a generic ``error: "validation failed"``: it says which field.
                if key == "error" and isinstance(inner, str) and value.get("errors"):
                    continue
                return _text(inner, depth + 1)
        return "; ".join(f"{k}: {_text(v, depth + 1)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_text(v, depth + 1) for v in value)
    return str(value)


def key_text(key: Any) -> str:
    """A record key for a log line: ``['INV-1']`` -> ``INV-1``, ``['a', 2]`` -> ``a/2``."""
    if isinstance(key, list | tuple):
        return "/".join(str(k) for k in key) if key else "(no key)"
    return "(no key)" if key is None else str(key)
