"""Rate-limit header parsing, proactive pacing and the client-side budget.

Dialects: IETF ``RateLimit``/``RateLimit-Policy`` (draft 11 structured fields), the older
``RateLimit-Limit/-Remaining/-Reset`` triple, ``X-RateLimit-*`` and ``X-Rate-Limit-*``.
Reset values are told apart: > 1e12 epoch milliseconds, > 1e9 epoch seconds, else a delta.
Malformed values are ignored, never fatal; absurd resets are capped.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_apisync.client.config import RateBudget

MAX_RESET_S = 24 * 3600.0
_PARAM = re.compile(r";\s*([a-z]+)\s*=\s*(\"[^\"]*\"|[^;,\s]+)")


@dataclass(frozen=True)
class RateLimitStatus:
    """What the server said about the quota: any field may be unknown (None)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None

    def reset_in(self, now: float | None = None) -> float | None:
        """Seconds until the window resets (>= 0), or None when unknown."""
        if self.reset_at is None:
            return None
        now = time.time() if now is None else now
        return max(0.0, self.reset_at.timestamp() - now)


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    lower = {k.lower(): v for k, v in headers.items()}
    for name in names:
        value = lower.get(name.lower())
        if value is not None and value.strip():
            return value.strip()
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.split(",")[0].strip())
    except ValueError:
        return None
    return number if number >= 0 and number == number else None


def reset_to_epoch(value: str | None, now: float | None = None) -> float | None:
    """A reset value (delta s, epoch s, epoch ms or HTTP-date) as epoch seconds, capped."""
    if value is None:
        return None
    now = time.time() if now is None else now
    number = _number(value)
    if number is None:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError):
            return None
    elif number > 1e12:
        when = number / 1000.0
    elif number > 1e9:
        when = number
    else:
        when = now + number
    return min(max(when, now), now + MAX_RESET_S)


def _structured(value: str | None) -> dict[str, str] | None:
    """Parameters of the first item of an IETF structured-field list (``"p";r=5;t=30``)."""
    if value is None:
        return None
    first = value.split(",")[0]
    params = {k: v.strip('"') for k, v in _PARAM.findall(first)}
    return params or None


def parse_rate_limit(
    headers: Mapping[str, str], now: float | None = None
) -> RateLimitStatus | None:
    """Parse any supported dialect; None when the response says nothing about quotas."""
    now = time.time() if now is None else now
    limit = remaining = None
    reset: float | None = None
    ietf = _structured(_header(headers, "RateLimit"))
    if ietf and ("r" in ietf or "t" in ietf):
        remaining = _number(ietf.get("r"))
        t = _number(ietf.get("t"))
        reset = None if t is None else now + min(t, MAX_RESET_S)  # draft 11: t is a delta
        policy = _structured(_header(headers, "RateLimit-Policy")) or {}
        limit = _number(policy.get("q"))
    else:
        limit = _number(
            _header(
                headers,
                "RateLimit-Limit",
                "X-RateLimit-Limit",
                "X-Rate-Limit-Limit",
                "X-Rate-Limit",
            )
        )
        remaining = _number(
            _header(
                headers, "RateLimit-Remaining", "X-RateLimit-Remaining", "X-Rate-Limit-Remaining"
            )
        )
        reset = reset_to_epoch(
            _header(headers, "RateLimit-Reset", "X-RateLimit-Reset", "X-Rate-Limit-Reset"), now
        )
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitStatus(
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset_at=None if reset is None else datetime.fromtimestamp(reset, tz=timezone.utc),
    )


def parse_retry_after(
    headers: Mapping[str, str], body: Any = None, now: float | None = None
) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP-date) or a body hint."""
    now = time.time() if now is None else now
    value = _header(headers, "Retry-After")
    if value is not None:
        number = _number(value)
        if number is not None:
            return min(number, MAX_RESET_S)
        try:
            return min(max(0.0, parsedate_to_datetime(value).timestamp() - now), MAX_RESET_S)
        except (TypeError, ValueError, IndexError):
            pass
    if isinstance(body, Mapping):
        for key, scale in (("retry_after_ms", 0.001), ("retry_after", 1.0), ("retryAfter", 1.0)):
            hint = body.get(key)
            if isinstance(hint, int | float) and not isinstance(hint, bool) and hint >= 0:
                return min(float(hint) * scale, MAX_RESET_S)
    return None


class Throttle:
    """Waits before a request instead of eating a 429.

    Two independent limits, both shared by every thread of the client: the server's
    announced quota (remaining <= ``floor`` -> sleep until the reset; in-flight requests are
    counted against it so concurrent threads do not overrun it) and an optional client-side
    token bucket from the connection's ``rate_limit``.
    """

    def __init__(
        self,
        budget: RateBudget | None = None,
        *,
        floor: int = 0,
        max_wait: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.budget = budget
        self.floor = floor
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._tokens = float(budget.requests) if budget else 0.0
        self._refilled = clock()
        self.status: RateLimitStatus | None = None

    def observe(self, status: RateLimitStatus | None) -> None:
        """Record the quota a response announced."""
        if status is None:
            return
        with self._lock:
            self.status = status
            if status.remaining is not None:
                self._remaining = status.remaining
                self._reset_at = status.reset_at.timestamp() if status.reset_at else None

    def before_request(self) -> float:
        """Block until a request may go out; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                delay = self._quota_delay() or self._budget_delay()
                if delay <= 0:
                    self._take()
                    return waited
            delay = min(delay, self.max_wait)
            if self._on_wait:
                self._on_wait(delay)
            self._sleep(delay)
            waited += delay

    def _quota_delay(self) -> float:
        if self._remaining is None or self._remaining > self.floor:
            return 0.0
        now = self._clock()
        if self._reset_at is None or self._reset_at <= now:
            self._remaining = None  # window passed (or unknown): trust the next response
            return 0.0
        return self._reset_at - now + 0.01

    def _budget_delay(self) -> float:
        if not self.budget:
            return 0.0
        now = self._clock()
        rate = self.budget.requests / self.budget.per_seconds
        self._tokens = min(
            float(self.budget.requests), self._tokens + (now - self._refilled) * rate
        )
        self._refilled = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / rate

    def _take(self) -> None:
        if self._remaining is not None:
            self._remaining -= 1
        if self.budget:
            self._tokens -= 1
