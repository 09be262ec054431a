"""A periodic INFO progress line while requests flow (per-request audit lines are DEBUG).

A long pull or push otherwise shows nothing between its first line and its summary;
one line every ``every`` seconds says it is alive and how it is going, without flooding
the task log with one line per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from airflow_provider_apisync.client.metrics import ClientStats
from airflow_provider_apisync.client.urls import path_of

log = logging.getLogger("airflow_provider_apisync.progress")


class ProgressLog:
    """Logs ``progress: ...`` at INFO at most once per ``every`` seconds (0 = never)."""

    def __init__(
        self,
        stats: ClientStats,
        every: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.every = every
        self._clock = clock
        self._started = clock()
        self._next = self._started + every
        self._lock = threading.Lock()

    def tick(self, method: str, url: str, outcome: object) -> None:
        """Called after every attempt; cheap unless a line is due."""
        if self.every <= 0:
            return
        now = self._clock()
        if now < self._next:
            return
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.every
        s = self.stats
        errors = sum(s.errors.values())
        log.info(
            "progress after %.0fs: %d requests (%d retries, %d errors), "
            "%d throttled (%.1fs waited); last %s %s -> %s",
            now - self._started,
            s.requests,
            s.retries,
            errors,
            s.throttled,
            s.throttled_s,
            method,
            path_of(url).split("?", 1)[0],
            outcome,
        )
