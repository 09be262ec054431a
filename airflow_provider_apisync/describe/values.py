"""Turning operator attribute values into short, safe, deterministic Markdown fragments.

Everything shown in a generated page passes through here: values are rendered as code
spans, secret-looking values are hidden, and nothing depends on the machine (no memory
addresses, no absolute paths, no timestamps).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_apisync.client.urls import SECRET_PARAM, redact_url

HIDDEN = "(hidden)"
# DagBag imports DAG files as ``unusual_prefix_<sha1 of the path>_<file>``: path-dependent.
_DAGBAG_PREFIX = re.compile(r"^unusual_prefix_[0-9a-f]+_")
SECRET_NAME = re.compile(
    rf"{SECRET_PARAM.pattern}|authorization|cookie|session|bearer|private", re.IGNORECASE
)
# Header values shown as they are: version pins and plain content negotiation.
PUBLIC_HEADER = re.compile(
    r"version|^accept(-language|-encoding)?$|^content-type$|^prefer$|^user-agent$",
    re.IGNORECASE,
)
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def code(value: Any) -> str:
    """``value`` as one Markdown code span (backticks inside are handled; no pipes break)."""
    text = value if isinstance(value, str) else plain(value)
    text = " ".join(text.split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def codes(values: Iterable[Any], empty: str = "none") -> str:
    """Comma-separated code spans, or ``empty``."""
    items = [code(v) for v in values]
    return ", ".join(items) if items else empty


def plain(value: Any) -> str:
    """A stable text form of a configuration value (JSON-like, sorted, no addresses)."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, timedelta):
        return duration(value)
    task_ref = xcom_ref(value)
    if task_ref is not None:
        return task_ref
    if callable(value) and hasattr(value, "__qualname__"):
        module = _DAGBAG_PREFIX.sub("", getattr(value, "__module__", "") or "")
        return f"{module}.{value.__qualname__}".lstrip(".")
    if isinstance(value, Mapping):
        try:
            return json.dumps(
                {str(k): _jsonable(v) for k, v in value.items()}, sort_keys=True, default=str
            )
        except (TypeError, ValueError):
            pass
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return json.dumps([_jsonable(v) for v in items], default=str)
    text = repr(value)
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return plain(value)


def xcom_ref(value: Any) -> str | None:
    """``XCom 'uri' of task `pull``-style text for an XComArg, else None."""
    operator = getattr(value, "operator", None)
    task_id = getattr(operator, "task_id", None)
    if task_id is None or not hasattr(value, "key"):
        return None
    key = getattr(value, "key", None)
    if key in (None, "return_value"):
        return f"return value of task {task_id}"
    return f"XCom '{key}' of task {task_id}"


def is_templated(value: Any) -> bool:
    """True when a string (or any string inside a container) holds a Jinja expression."""
    if isinstance(value, str):
        return bool(_TEMPLATE.search(value))
    if isinstance(value, Mapping):
        return any(is_templated(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_templated(v) for v in value)
    return False


def safe_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters with the values of secret-looking names hidden."""
    out: dict[str, Any] = {}
    for key, value in sorted((params or {}).items(), key=lambda kv: str(kv[0])):
        out[str(key)] = HIDDEN if SECRET_NAME.search(str(key)) else value
    return out


def header_value(name: str, value: Any) -> str:
    """A header's value when it is a version pin or content negotiation, else hidden."""
    if SECRET_NAME.search(name) or not PUBLIC_HEADER.search(name):
        return HIDDEN
    return plain(value)


def safe_headers(headers: Mapping[str, Any] | None) -> list[str]:
    """``Name: value`` code spans, values hidden unless :func:`header_value` allows them."""
    return [
        code(f"{name}: {header_value(str(name), value)}")
        for name, value in sorted((headers or {}).items(), key=lambda kv: str(kv[0]).lower())
    ]


def safe_url(url: str | None) -> str | None:
    """A URL with user info and secret-looking query values hidden."""
    return redact_url(url) if url else url


def duration(value: Any) -> str:
    """``timedelta`` or seconds as ``90 s``, ``5 min``, ``2 h``, ``1 d 6 h``."""
    if value is None:
        return "none"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 120 and not (seconds >= 60 and seconds % 60 == 0):
        return f"{seconds:g} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{int(count)} {unit}")
    return " ".join(parts[:2])


def size(num_bytes: Any) -> str:
    """Bytes as ``64 MiB``-style text."""
    if not isinstance(num_bytes, int | float) or isinstance(num_bytes, bool):
        return plain(num_bytes)
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:g} {unit}"
        value /= 1024
    return f"{value:g} GiB"  # pragma: no cover


def first_line(text: Any) -> str:
    """The first non-empty line of a docstring (or ``""``)."""
    if not isinstance(text, str):
        return ""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def first_paragraph(text: Any) -> str:
    """The first paragraph of a docstring, joined into one line."""
    if not isinstance(text, str):
        return ""
    lines = []
    for line in text.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)
