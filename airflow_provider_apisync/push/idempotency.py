"""Deterministic idempotency keys: the same write to the same target always gets one key.

A key is a hash over (target origin, method, endpoint path, record key, payload hash,
optional scope), so a task retry, a rerun or a resend after a lost acknowledgement sends
the key the server saw before, and the server replays its stored answer instead of
writing twice. Pure functions, no Airflow imports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.client.urls import origin_str

KEY_VERSION = "as1"
KEY_LENGTH = 64  # Adyen's limit; Stripe allows 255
_MISSING = object()


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted object keys: equal data gives equal bytes."""
    return msgspec.json.encode(value, order="sorted")


def payload_hash(payload: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``payload``."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def key_fields(record_key: str | Sequence[str] | None) -> tuple[str, ...]:
    """``record_key`` normalised to a tuple of dotted field paths (validated)."""
    if record_key is None:
        return ()
    fields = (record_key,) if isinstance(record_key, str) else tuple(record_key)
    if not fields or not all(isinstance(f, str) and f.strip() for f in fields):
        raise ApiConfigError(
            "record_key",
            f"{record_key!r} is not a field name or a list of field names.",
            'give the business key, e.g. record_key="email" or record_key=["org", "id"].',
        )
    return tuple(f.strip() for f in fields)


def record_key_of(record: Mapping[str, Any], fields: Sequence[str]) -> list[Any]:
    """The record's key values in ``fields`` order; ``KeyError`` names a missing field."""
    values = []
    for name in fields:
        value = get_path(record, name, _MISSING)
        if value is _MISSING or value is None or value == "":
            raise KeyError(name)
        values.append(value)
    return values


def derive_key(
    url: str,
    method: str,
    record_key: Any,
    payload_digest: str,
    *,
    scope: str | None = None,
) -> str:
    """The idempotency key for one write (or one batch) of ``payload_digest`` to ``url``.

    ``url`` is the absolute target (its origin and path both count, the query does not);
    ``record_key`` is any JSON value (a record's key values, or the list of a batch's);
    ``scope`` (optional) separates otherwise identical writes, e.g. one key per data
    interval. The result is ``as1-`` plus 60 hex chars (64 in all, within every vendor's
    limit).
    """
    path = urlsplit(url).path or "/"
    material = canonical_json(
        [KEY_VERSION, origin_str(url), method.upper(), path, record_key, payload_digest, scope]
    )
    digest = hashlib.sha256(material).hexdigest()
    return f"{KEY_VERSION}-{digest[: KEY_LENGTH - len(KEY_VERSION) - 1]}"
