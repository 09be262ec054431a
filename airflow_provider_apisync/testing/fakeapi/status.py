"""Quota status endpoints for ``FakeApi``, shaped like GitHub's and Salesforce's.

``install_status_routes(api)`` adds, below the API prefix:

- ``GET /rate_limit`` (GitHub): ``{"resources": {"core": {"limit", "remaining", "reset",
  "used"}}, "rate": {...}}`` with ``reset`` in epoch seconds;
- ``GET /limits`` (Salesforce ``/services/data/vXX.X/limits``):
  ``{"DailyApiRequests": {"Max", "Remaining"}}``.

Both report a :class:`QuotaStatus` the test controls (``close(for_seconds)``, ``spend(n)``)
and, like GitHub's endpoint, reading them costs no quota. Exclude them from a
``RateLimit`` with ``RateLimit(paths=...)`` if one is installed as well.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi

GITHUB_PATH = "/rate_limit"
SALESFORCE_PATH = "/limits"


@dataclass
class QuotaStatus:
    """A quota of ``limit`` per ``window`` seconds that refills when the window ends."""

    limit: int = 5000
    window: float = 3600.0
    remaining: int = -1  # -1: start full
    reset_at: float = 0.0  # epoch seconds; 0: one window from now
    reads: int = 0  # status requests served
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.limit
        if not self.reset_at:
            self.reset_at = time.time() + self.window

    def snapshot(self) -> tuple[int, int, float]:
        """(limit, remaining, reset_at); a window that has ended is refilled first."""
        with self._lock:
            now = time.time()
            if now >= self.reset_at:
                self.remaining = self.limit
                self.reset_at = now + self.window
            return self.limit, self.remaining, self.reset_at

    def close(self, for_seconds: float) -> None:
        """Spend the whole quota; it comes back in ``for_seconds``."""
        with self._lock:
            self.remaining = 0
            self.reset_at = time.time() + for_seconds

    def spend(self, count: int = 1) -> None:
        self.snapshot()
        with self._lock:
            self.remaining = max(0, self.remaining - count)


def install_status_routes(api: FakeApi, quota: QuotaStatus | None = None) -> QuotaStatus:
    """Register ``/rate_limit`` and ``/limits`` on ``api``; returns the quota they report."""
    quota = quota if quota is not None else QuotaStatus()

    def github(request: Request) -> Response:
        limit, remaining, reset_at = _read(quota)
        core = {
            "limit": limit,
            "remaining": remaining,
            "reset": math.ceil(reset_at),
            "used": limit - remaining,
            "resource": "core",
        }
        return Response.json({"resources": {"core": core}, "rate": core})

    def salesforce(request: Request) -> Response:
        limit, remaining, _ = _read(quota)
        return Response.json({"DailyApiRequests": {"Max": limit, "Remaining": remaining}})

    api.route("GET", GITHUB_PATH, github, first=True)
    api.route("GET", SALESFORCE_PATH, salesforce, first=True)
    return quota


def _read(quota: QuotaStatus) -> tuple[int, int, float]:
    snapshot = quota.snapshot()
    with quota._lock:
        quota.reads += 1
    return snapshot
