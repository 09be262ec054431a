"""Per-client counters, summarised in task XCom and emitted to a metrics sink.

Sink names (the hook prefixes them with ``apisync.``):

========================  ======  ==========================================================
name                      kind    meaning
========================  ======  ==========================================================
``requests``              incr    logical requests (one per ``ApiClient.request`` call)
``attempts``              incr    HTTP attempts (requests + retries)
``retries``               incr    attempts repeated after a retryable failure
``throttled``             incr    logical requests that waited for a rate limit (proactive or
                                  after a 429), counted once however often each waited
``throttled_ms``          timing  length of each such wait
``rate_limited``          incr    responses refusing for quota reasons (429, quota 403)
``errors.<category>``     incr    logical requests that failed, by taxonomy category
``latency``               timing  duration of each attempt
========================  ======  ==========================================================

In the summary, ``throttled`` is the number of requests that waited and ``throttled_s`` the
wall-clock seconds during which at least one request was held back: four threads waiting
the same second count one second, not four, so ``throttled_s`` never exceeds the run time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _waiting: int = field(default=0, repr=False)  # threads inside ``waiting()`` now
    _period_start: float = field(default=0.0, repr=False)
    _period_longest: float = field(default=0.0, repr=False)

    def request(self) -> None:
        """A new logical request starts on this thread (its retries stay on it)."""
        self._local.waited = False
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

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Wrap a possible rate-limit wait; overlapping waits of threads count once.

        Call :meth:`throttle` inside with the seconds actually waited (0 = no wait).
        """
        with self._lock:
            if self._waiting == 0:
                self._period_start = time.monotonic()
                self._period_longest = 0.0
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1
                if self._waiting == 0 and self._period_longest > 0:
                    # Wall time of the period; at least its longest wait (injected clocks).
                    elapsed = time.monotonic() - self._period_start
                    self.throttled_s += max(elapsed, self._period_longest)

    def throttle(self, seconds: float) -> None:
        """This thread's current request waited ``seconds`` for a rate limit."""
        if seconds <= 0:
            return
        first = not getattr(self._local, "waited", False)
        self._local.waited = True
        with self._lock:
            self._period_longest = max(self._period_longest, seconds)
            if self._waiting == 0:  # reported outside ``waiting()``: count it as it is
                self.throttled_s += seconds
            if first:
                self.throttled += 1
        if first:
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
