"""Reading a sensor probe's answer: quota paths in a status endpoint's body, when to re-check.

Sensors send their requests through a client in probe mode (``ApiClient(..., probe=True)``:
no 429 retries, no proactive sleeps), so a closed window is reported at once and the waiting
happens in Airflow (a deferral or the sensor's own interval), never inside ``poke``. This
module keeps the probe logic free of Airflow imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests

from airflow_provider_apisync.client.errors import ApiContractError
from airflow_provider_apisync.client.ratelimit import (
    RateLimitStatus,
    parse_rate_limit,
    reset_to_epoch,
)
from airflow_provider_apisync.client.records import decode_json, get_path
from airflow_provider_apisync.client.timestamps import TimestampError, parse_timestamp


@dataclass(frozen=True)
class QuotaPaths:
    """Dotted paths into a status endpoint's JSON body (GitHub ``/rate_limit``, ...)."""

    remaining: str | None = None
    reset: str | None = None
    limit: str | None = None

    def __bool__(self) -> bool:
        return bool(self.remaining or self.reset or self.limit)


def quota_from_response(
    resp: requests.Response, paths: QuotaPaths, now: float | None = None
) -> RateLimitStatus | None:
    """The quota a successful response announces: body paths first, then headers."""
    headers = parse_rate_limit(resp.headers, now) or RateLimitStatus()
    if not paths:
        return None if headers == RateLimitStatus() else headers
    body = decode_json(resp)
    where = f"{resp.request.method if resp.request else 'GET'} {_path(resp)}"
    remaining = headers.remaining
    limit = headers.limit
    reset_at = headers.reset_at
    if paths.remaining:
        remaining = _count(body, paths.remaining, "remaining_path", where)
    if paths.limit:
        limit = _count(body, paths.limit, "limit_path", where)
    if paths.reset:
        reset_at = _reset(body, paths.reset, where, now)
    return RateLimitStatus(limit=limit, remaining=remaining, reset_at=reset_at)


def _path(resp: requests.Response) -> str:
    from airflow_provider_apisync.client.urls import path_of

    return path_of(resp.url or "")


def _lookup(body: Any, path: str, field: str, where: str) -> Any:
    missing = object()
    value = get_path(body, path, missing)
    if value is missing:
        keys = sorted(body)[:20] if isinstance(body, Mapping) else type(body).__name__
        raise ApiContractError(
            f"{field} '{path}' not found in the response of {where} (top level: {keys}); "
            f"fix the {field} argument"
        )
    return value


def _count(body: Any, path: str, field: str, where: str) -> int:
    value = _lookup(body, path, field, where)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiContractError(
            f"{field} '{path}' in the response of {where} is {value!r}, not a number"
        )
    return int(value)


def _reset(body: Any, path: str, where: str, now: float | None) -> datetime | None:
    value = _lookup(body, path, "reset_path", where)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        epoch = reset_to_epoch(str(value), now)  # delta s, epoch s or epoch ms
    elif isinstance(value, str):
        epoch = reset_to_epoch(value, now)
        if epoch is None:
            try:
                epoch = parse_timestamp(value).timestamp()
            except TimestampError as exc:
                raise ApiContractError(f"reset_path '{path}' in {where}: {exc}") from None
    else:
        raise ApiContractError(f"reset_path '{path}' in {where} is {value!r}, not a reset time")
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def wait_for(
    status: RateLimitStatus, margin: float, floor: float, now: float | None = None
) -> float | None:
    """Seconds to wait before the next check: until the reset plus ``margin``, at least
    ``floor``; None when the API gave no reset hint."""
    reset_in = status.reset_in(now)
    if reset_in is None:
        return None
    return max(reset_in + margin, floor)
