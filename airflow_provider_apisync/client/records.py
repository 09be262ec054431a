"""Dotted-path lookups, record-list selection and JSON decoding for responses.

Stays in ``client/``: every page of a pull, auto-detection and the webhook plugin read
response bodies through these. Record *files* (JSONL parts, records inputs, transforms)
are not HTTP and live in :mod:`airflow_provider_apisync.recordio`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
import requests

from airflow_provider_apisync.client.errors import ApiContractError, redact_secrets
from airflow_provider_apisync.client.urls import is_secret_param, redact_url

_MISSING = object()

#: Keys that usually hold the records of a list response, most common first
#: (``data``: Stripe/Zendesk, ``results``: HubSpot, ``value``: MS Graph, ``records``: Salesforce).
RECORD_KEYS = (
    "data",
    "results",
    "items",
    "records",
    "value",
    "entries",
    "elements",
    "objects",
    "rows",
    "members",
    "hits",
    "list",
)


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """``get_path({"meta": {"next": 1}}, "meta.next") == 1``; list indexes allowed (``data.-1``).

    Keys that themselves contain dots (MS Graph ``@odata.nextLink``) are matched whole:
    at each level the longest run of path segments that is a key wins.
    """
    if not path:
        return data
    parts = path.split(".")
    current = data
    i = 0
    while i < len(parts):
        if isinstance(current, dict):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j]) if j - i > 1 else parts[i]
                if key in current:
                    current = current[key]
                    i = j
                    break
            else:
                return default
        elif isinstance(current, list) and parts[i].lstrip("-").isdigit():
            index = int(parts[i])
            if not -len(current) <= index < len(current):
                return default
            current = current[index]
            i += 1
        else:
            return default
    return current


def has_path(data: Any, path: str) -> bool:
    """True when ``path`` resolves, even to ``null``."""
    return get_path(data, path, _MISSING) is not _MISSING


def find_records_path(body: Any) -> str | None:
    """Guess where the records are: ``""`` for a top-level list, a dotted path, or None.

    A known key holding a list wins (``data``, ``results`` ...); otherwise the only
    list-valued key, one level deep at most (``{"response": {"items": [...]}}``).
    """
    if isinstance(body, list):
        return ""
    if not isinstance(body, dict):
        return None
    found = _list_key(body)
    if found is not None:
        return found
    nested = [
        f"{key}.{inner}"
        for key, value in body.items()
        if isinstance(value, dict) and (inner := _list_key(value)) is not None
    ]
    return nested[0] if len(nested) == 1 else None


def _list_key(obj: dict[str, Any]) -> str | None:
    for key in RECORD_KEYS:
        if isinstance(obj.get(key), list):
            return key
    lists = [key for key, value in obj.items() if isinstance(value, list)]
    return lists[0] if len(lists) == 1 else None


def select_records(body: Any, path: str | None, *, strict: bool) -> list[Any]:
    """The records list at ``path`` (``""`` = the body itself).

    ``strict`` (the first page): a missing path raises ``ApiContractError`` naming the
    keys present; later pages treat a missing or null path as an empty page.
    """
    if body is None:
        return []
    value = get_path(body, path, _MISSING) if path else body
    if value is _MISSING or value is None:
        if not strict:
            return []
        keys = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise ApiContractError(
            f"records_path '{path}' is not in the response (top-level keys: {keys}). "
            "Fix: set records_path to the dotted path of the records list."
        )
    if not isinstance(value, list):
        raise ApiContractError(
            f"records_path '{path or '<body>'}' holds a {type(value).__name__}, not a list. "
            "Fix: point records_path at the list of records."
        )
    return value


def record_key(record: Any, fields: tuple[str, ...]) -> Any:
    """The value (one field) or tuple (several) identifying ``record``; None when missing."""
    if len(fields) == 1:
        return get_path(record, fields[0]) if isinstance(record, dict) else None
    values = tuple(get_path(record, f) if isinstance(record, dict) else None for f in fields)
    return None if any(v is None for v in values) else values


def decode_json(resp: requests.Response) -> Any:
    """Decode a JSON body fast (msgspec), or raise ``ApiContractError`` naming the request."""
    if not resp.content:
        return None
    try:
        return msgspec.json.decode(resp.content)
    except (msgspec.DecodeError, RecursionError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiContractError(
            f"response is not valid JSON: {problem}",
            status=resp.status_code,
            method=resp.request.method if resp.request else None,
            url=redact_url(resp.url),
            body=redact_secrets(resp.content[:4000], sent_secrets(resp.request)),
            correlation_id=None,
        ) from None


def sent_secrets(request: requests.PreparedRequest | None) -> list[str]:
    """The credentials ``request`` carried (Authorization and key-like headers, secret
    query values): a body that echoes them must not be stored or raised verbatim."""
    if request is None:
        return []
    found: list[str] = []
    for name, value in request.headers.items():
        if name.lower() in ("authorization", "proxy-authorization"):
            found.append(str(value).partition(" ")[2] or str(value))
        elif is_secret_param(name) and name.lower() != "idempotency-key":
            found.append(str(value))
    query = urlsplit(request.url or "").query
    found += [v for k, v in parse_qsl(query, keep_blank_values=True) if is_secret_param(k)]
    return [s for s in found if len(s) >= 4]
