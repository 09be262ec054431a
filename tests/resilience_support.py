"""Helpers for the retry, rate-limit, chaos and audit tests: clients and recorders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_apisync.client import ApiClient, config_from_connection
from airflow_provider_apisync.testing import FakeApi, Request

API_KEY = "test-api-key-0001"


def client_for(
    api: FakeApi, *, sleep: Callable[[float], None] = time.sleep, **extra: Any
) -> ApiClient:
    """An API-key client for ``api``; ``extra`` goes into the connection extra."""
    settings = {"auth_type": "api_key", **extra}
    config = config_from_connection(host=api.url, password=API_KEY, extra=settings)
    return ApiClient(config, sleep=sleep)


class SleepRecorder:
    """A real ``sleep`` that remembers every wait it was asked for (thread-safe)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        time.sleep(seconds)


def gaps(entries: Iterable[Request]) -> list[float]:
    """Seconds between consecutive requests the server received."""
    times = sorted(r.at for r in entries)
    return [b - a for a, b in zip(times, times[1:])]
