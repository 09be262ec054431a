"""Sensor probes: one cheap request per check, where a 429 is an answer, not a failure.

The client's normal behaviour suits pulls and pushes but not sensors: it retries a 429 for
up to ``max_retry_wait`` per attempt and sleeps proactively when the quota is spent. A
sensor must instead report "closed until T" at once, so the waiting happens in Airflow
(a deferral or the sensor's own interval) and never inside ``poke``. This module keeps the
probe logic free of Airflow imports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, stop_after_attempt

from airflow_provider_apisync.client.client import ApiClient
from airflow_provider_apisync.client.errors import (
    ApiAuthError,
    ApiContractError,
    ApiError,
    ApiRateLimitError,
)
from airflow_provider_apisync.client.ratelimit import (
    RateLimitStatus,
    Throttle,
    parse_rate_limit,
    reset_to_epoch,
)
from airflow_provider_apisync.client.records import decode_json, get_path
from airflow_provider_apisync.client.retry import (
    RequestFacts,
    RetryPolicy,
    is_retryable,
    wait_server_hint,
)
from airflow_provider_apisync.client.timestamps import TimestampError, parse_timestamp

PROBE_RETRIES = 2
PROBE_MAX_WAIT = 2.0


class ProbeRetryPolicy(RetryPolicy):
    """Retry a dropped connection or a 5xx twice within seconds; never a 429 or a 403."""

    def retrying(
        self,
        facts: RequestFacts,
        *,
        sleep: Callable[[float], None],
        before_sleep: Callable[[RetryCallState], None] | None = None,
    ) -> Retrying:
        def retry(state: RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None or not outcome.failed:
                return False
            error = outcome.exception()
            if isinstance(error, ApiRateLimitError):
                return False
            return error is not None and is_retryable(error, facts)

        return Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_server_hint(self.max_wait, self.backoff_base),
            retry=retry,
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


class ObserveOnlyThrottle(Throttle):
    """Records quotas like :class:`Throttle` but never waits: a probe must not sleep."""

    def before_request(self) -> float:
        return 0.0


def make_probe_client(client: ApiClient) -> ApiClient:
    """Turn ``client`` into a probe client: no proactive pacing, no 429 retries.

    Auth, the host guard, the 401 credential reload and audit lines stay as they are.
    """
    client.retry_policy = ProbeRetryPolicy(max_retries=PROBE_RETRIES, max_wait=PROBE_MAX_WAIT)
    # a probe never waits, but what it learns (a 429's window) still reaches the fleet
    client.throttle = ObserveOnlyThrottle(
        None, on_wait=client.stats.throttle, fleet=client.throttle.fleet
    )
    return client


@dataclass(frozen=True)
class Closed:
    """The API refused the request for quota reasons (429, or GitHub's 403 + remaining 0)."""

    status: RateLimitStatus
    http_status: int


def closed_window(exc: ApiError, now: float | None = None) -> Closed | None:
    """A :class:`Closed` when ``exc`` is a quota refusal, else None (a real failure)."""
    announced = exc.rate_limit if isinstance(exc.rate_limit, RateLimitStatus) else None
    quota_403 = isinstance(exc, ApiAuthError) and exc.status == 403
    if quota_403:
        spent = announced is not None and announced.remaining == 0
        if not (spent or exc.retry_after is not None):
            return None
    elif not isinstance(exc, ApiRateLimitError):
        return None
    now = time.time() if now is None else now
    reset_at = announced.reset_at if announced else None
    if exc.retry_after is not None:  # Retry-After takes precedence over the reset header
        reset_at = datetime.fromtimestamp(now + exc.retry_after, tz=timezone.utc)
    limit = announced.limit if announced else None
    status = RateLimitStatus(limit=limit, remaining=0, reset_at=reset_at)
    return Closed(status=status, http_status=exc.status or 429)


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
