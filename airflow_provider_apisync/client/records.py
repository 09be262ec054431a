"""Dotted-path lookups and JSON decoding for responses."""

from __future__ import annotations

from typing import Any

import msgspec
import requests

from airflow_provider_apisync.client.errors import ApiContractError
from airflow_provider_apisync.client.urls import redact_url

_MISSING = object()


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """``get_path({"meta": {"next": 1}}, "meta.next") == 1``; list indexes allowed."""
    if not path:
        return data
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            current = _MISSING
        if current is _MISSING:
            return default
    return current


def decode_json(resp: requests.Response) -> Any:
    """Decode a JSON body fast (msgspec), or raise ``ApiContractError`` naming the request."""
    if not resp.content:
        return None
    try:
        return msgspec.json.decode(resp.content)
    except msgspec.DecodeError as exc:
        raise ApiContractError(
            f"response is not valid JSON: {exc}",
            status=resp.status_code,
            method=resp.request.method if resp.request else None,
            url=redact_url(resp.url),
            body=resp.content,
            correlation_id=None,
        ) from None
