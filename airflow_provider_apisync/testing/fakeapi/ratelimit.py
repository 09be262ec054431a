"""Rate limiting for ``FakeApi``: fixed windows announced in headers, enforced with 429.

``headers`` selects what is announced: ``"ietf"`` (draft-11 ``RateLimit`` +
``RateLimit-Policy``), ``"x"`` (``X-RateLimit-*``, reset as epoch seconds), ``"both"``,
or ``"none"`` (429 + ``Retry-After`` only; ``retry_after=False`` sends a bare 429).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from airflow_provider_apisync.testing.fakeapi.http import Request, Response


@dataclass
class RateLimit:
    """``limit`` requests per ``window`` seconds, counted per server (not per client)."""

    limit: int
    window: float = 1.0
    headers: str = "both"
    retry_after: bool = True
    reset_format: str = "epoch"  # for X- headers: epoch | epoch_ms | delta
    paths: tuple[str, ...] = ()  # empty = every path
    rejected: int = 0
    allowed: int = 0
    _window_start: float = field(default_factory=time.time)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def applies(self, local_path: str) -> bool:
        return not self.paths or any(local_path.startswith(p) for p in self.paths)

    def admit(self, request: Request) -> tuple[bool, int, float]:
        """Count the request; returns (allowed, remaining, seconds until reset)."""
        with self._lock:
            now = time.time()
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

    def decorate(self, response: Response, remaining: int, reset_in: float) -> None:
        if self.headers in ("ietf", "both"):
            response.headers["RateLimit-Policy"] = f'"default";q={self.limit};w={self.window:g}'
            response.headers["RateLimit"] = (
                f'"default";r={remaining};t={math.ceil(reset_in * 1000) / 1000:g}'
            )
        if self.headers in ("x", "both"):
            reset_at = time.time() + reset_in
            value = {
                "epoch": f"{reset_at:.3f}",
                "epoch_ms": str(int(reset_at * 1000)),
                "delta": f"{reset_in:.3f}",
            }[self.reset_format]
            response.headers["X-RateLimit-Limit"] = str(self.limit)
            response.headers["X-RateLimit-Remaining"] = str(remaining)
            response.headers["X-RateLimit-Reset"] = value

    def rejection(self, reset_in: float) -> Response:
        headers = {}
        if self.retry_after:
            headers["Retry-After"] = f"{max(reset_in, 0.001):.3f}"
        response = Response.json({"error": "rate limit exceeded"}, 429, headers)
        if self.headers != "none":
            self.decorate(response, 0, reset_in)
        return response
