"""Rate limiting for ``FakeApi``: quotas announced in headers and enforced with 429.

``mode``: ``"fixed"`` windows (the count resets every ``window`` seconds) or ``"sliding"``
(at most ``limit`` requests in any ``window`` seconds; quota returns as old requests age
out, and ``t`` says when the next unit comes back, as draft-10+ of the IETF draft puts it).

``headers`` selects what is announced: ``"ietf"`` (draft-11 ``RateLimit`` +
``RateLimit-Policy``), ``"x"`` (``X-RateLimit-*``, reset as ``reset_format``), ``"both"``,
or ``"none"`` (429 + ``Retry-After`` only; ``retry_after=False`` sends a bare 429).

``integer_seconds=True`` behaves like real servers: ``t``, ``Retry-After`` and delta or
epoch resets are whole seconds, rounded up (the client never comes back too early).
The default sends millisecond precision, handy for fast tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

MODES = ("fixed", "sliding")
HEADER_STYLES = ("ietf", "x", "both", "none")
RESET_FORMATS = ("epoch", "epoch_ms", "delta")


@dataclass
class RateLimit:
    """``limit`` requests per ``window`` seconds, counted per server (not per client)."""

    limit: int
    window: float = 1.0
    headers: str = "both"
    retry_after: bool = True
    reset_format: str = "epoch"  # for X- headers: epoch | epoch_ms | delta
    paths: tuple[str, ...] = ()  # empty = every path
    mode: str = "fixed"
    integer_seconds: bool = False
    policy_name: str = "default"
    rejected: int = 0
    allowed: int = 0
    retry_after_sent: list[float] = field(default_factory=list)  # every Retry-After, in order
    _window_start: float = field(default_factory=time.time)
    _count: int = 0
    _log: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("mode", self.mode, MODES),
            ("headers", self.headers, HEADER_STYLES),
            ("reset_format", self.reset_format, RESET_FORMATS),
        ):
            if value not in allowed:
                raise ValueError(f"RateLimit {name}={value!r} is not one of {allowed}")
        if self.limit < 0 or self.window <= 0:
            raise ValueError("RateLimit needs limit >= 0 (0 = closed) and window > 0")

    def applies(self, local_path: str) -> bool:
        return not self.paths or any(local_path.startswith(p) for p in self.paths)

    def admit(self, request: Request) -> tuple[bool, int, float]:
        """Count the request; returns (allowed, remaining, seconds until more quota)."""
        with self._lock:
            now = time.time()
            if self.mode == "sliding":
                return self._admit_sliding(now)
            if now - self._window_start >= self.window:
                elapsed = now - self._window_start
                self._window_start += self.window * math.floor(elapsed / self.window)
                self._count = 0
            reset_in = max(0.0, self._window_start + self.window - now)
            if self._count >= self.limit:
                self.rejected += 1
                return False, 0, reset_in
            self._count += 1
            self.allowed += 1
            return True, self.limit - self._count, reset_in

    def _admit_sliding(self, now: float) -> tuple[bool, int, float]:
        while self._log and self._log[0] <= now - self.window:
            self._log.popleft()
        if len(self._log) >= self.limit:
            self.rejected += 1
            oldest = self._log[0] if self._log else now
            return False, 0, max(0.0, oldest + self.window - now)
        self._log.append(now)
        self.allowed += 1
        return True, self.limit - len(self._log), max(0.0, self._log[0] + self.window - now)

    def window_index(self, at: float) -> int:
        """Which fixed window ``at`` (epoch seconds) falls in (for benchmarks)."""
        return math.floor((at - self._window_start) / self.window)

    # -- announcing -------------------------------------------------------------------------
    def _seconds(self, value: float) -> str:
        if self.integer_seconds:
            return str(math.ceil(value - 1e-9))
        return f"{math.ceil(value * 1000) / 1000:g}"

    def decorate(self, response: Response, remaining: int, reset_in: float) -> None:
        if self.headers in ("ietf", "both"):
            name = self.policy_name
            response.headers["RateLimit-Policy"] = f'"{name}";q={self.limit};w={self.window:g}'
            response.headers["RateLimit"] = f'"{name}";r={remaining};t={self._seconds(reset_in)}'
        if self.headers in ("x", "both"):
            reset_at = time.time() + reset_in
            if self.reset_format == "epoch_ms":
                value = str(math.ceil(reset_at * 1000))
            elif self.reset_format == "delta":
                value = self._seconds(reset_in)
            else:
                value = str(math.ceil(reset_at)) if self.integer_seconds else f"{reset_at:.3f}"
            response.headers["X-RateLimit-Limit"] = str(self.limit)
            response.headers["X-RateLimit-Remaining"] = str(remaining)
            response.headers["X-RateLimit-Reset"] = value

    def rejection(self, reset_in: float) -> Response:
        headers = {}
        if self.retry_after:
            value = self._seconds(max(reset_in, 0.001))
            headers["Retry-After"] = value
            with self._lock:
                self.retry_after_sent.append(float(value))
        response = Response.json({"error": "rate limit exceeded"}, 429, headers)
        if self.headers != "none":
            self.decorate(response, 0, reset_in)
        return response
