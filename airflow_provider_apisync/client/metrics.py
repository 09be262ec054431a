"""Per-client counters, summarised in task XCom and emitted to a metrics sink.

Sink names (the hook prefixes them with ``apisync.``):

=============================  ======  =====================================================
name                           kind    meaning
=============================  ======  =====================================================
``requests``                   incr    logical requests (one per ``ApiClient.request`` call)
``attempts``                   incr    HTTP attempts (requests + retries)
``retries``                    incr    attempts repeated after a retryable failure
``throttled``                  incr    waits caused by rate limits (proactive or after a 429)
``throttled_ms``               timing  length of each such wait
``rate_limited``               incr    responses refusing for quota reasons (429, quota 403)
``errors.<category>``          incr    logical requests that failed, by taxonomy category
``latency``                    timing  duration of each attempt
``shared_store.unavailable``   incr    the shared store went away: per-process state from now
=============================  ======  =====================================================
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MetricSink = Callable[[str, str, float], None]
"""``sink(kind, name, value)`` with kind ``incr`` or ``timing`` (ms); the hook wires Airflow."""


def _no_sink(kind: str, name: str, value: float) -> None:
    return None


@dataclass
class ClientStats:
    """Thread-safe counters for one client (one task run)."""

    sink: MetricSink = _no_sink
    requests: int = 0
    attempts: int = 0
    retries: int = 0
    throttled: int = 0
    throttled_s: float = 0.0
    rate_limited: int = 0
    latency_ms: float = 0.0
    max_latency_ms: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def request(self) -> None:
        with self._lock:
            self.requests += 1
        self.sink("incr", "requests", 1)

    def attempt(self, status: int | None, ms: float, error: str | None = None) -> None:
        """One HTTP attempt: its status (None when no response came) or network error."""
        with self._lock:
            self.attempts += 1
            self.latency_ms += ms
            self.max_latency_ms = max(self.max_latency_ms, ms)
            self.statuses[str(status) if status is not None else (error or "network")] += 1
        self.sink("incr", "attempts", 1)
        self.sink("timing", "latency", ms)

    def retry(self) -> None:
        with self._lock:
            self.retries += 1
        self.sink("incr", "retries", 1)

    def throttle(self, seconds: float) -> None:
        with self._lock:
            self.throttled += 1
            self.throttled_s += seconds
        self.sink("incr", "throttled", 1)
        self.sink("timing", "throttled_ms", seconds * 1000.0)

    def rate_limit_hit(self) -> None:
        with self._lock:
            self.rate_limited += 1
        self.sink("incr", "rate_limited", 1)

    def error(self, category: str) -> None:
        with self._lock:
            self.errors[category] += 1
        self.sink("incr", f"errors.{category}", 1)

    def summary(self) -> dict[str, Any]:
        """Small JSON-safe dict for XCom."""
        with self._lock:
            return {
                "requests": self.requests,
                "attempts": self.attempts,
                "retries": self.retries,
                "throttled": self.throttled,
                "throttled_s": round(self.throttled_s, 3),
                "rate_limited": self.rate_limited,
                "avg_latency_ms": round(self.latency_ms / self.attempts, 1) if self.attempts else 0,
                "max_latency_ms": round(self.max_latency_ms, 1),
                "errors": dict(self.errors),
                "statuses": dict(self.statuses),
            }
