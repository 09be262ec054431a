"""Requests sent while a rate-limit window is closed: apisync's sensor vs the HTTP provider.

A FakeApi window is spent for WINDOW_S seconds. We count the requests that reach it from
(a) ``RateLimitWindowSensor`` (deferrable: probe, defer on a DateTimeTrigger until the
announced reset, probe again) and (b) the HTTP provider's ``HttpSensorTrigger``, which keeps
re-requesting on any non-404 error (here: 429) inside the triggerer, run for SAMPLE_S.

Run: .venv/bin/python bench/sensor_probes.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="apisync-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import requests  # noqa: E402
from airflow.sdk import Connection  # noqa: E402
from sensor_testkit import BEARER, make_context, run_sensor  # noqa: E402

from airflow_provider_apisync.sensors import RateLimitWindowSensor  # noqa: E402
from airflow_provider_apisync.testing import FakeApi, RateLimit  # noqa: E402

WINDOW_S = 10.0
SAMPLE_S = 2.0


def closed_api() -> FakeApi:
    api = FakeApi(seed={"contacts": 5}, rate_limit=RateLimit(limit=2, window=WINDOW_S)).start()
    for _ in range(2):
        requests.get(api.url + "/contacts", headers={"Authorization": f"Bearer {BEARER}"})
    api.clear_log()
    return api


def apisync_sensor() -> tuple[int, float]:
    api = closed_api()
    try:
        os.environ["AIRFLOW_CONN_BENCH_APISYNC"] = Connection(
            conn_id="x", conn_type="apisync", host=api.url, password=BEARER
        ).as_json()
        sensor = RateLimitWindowSensor(
            task_id="s", apisync_conn_id="bench_apisync", endpoint="/contacts", deferrable=True
        )
        started = time.time()
        run_sensor(sensor, make_context())
        return len(api.log()), time.time() - started
    finally:
        api.stop()


def http_provider_trigger() -> int:
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    api = closed_api()
    try:
        os.environ["AIRFLOW_CONN_BENCH_HTTP"] = Connection(
            conn_id="x",
            conn_type="http",
            host=api.origin,
            extra='{"Authorization": "Bearer ' + BEARER + '"}',
        ).as_json()
        trigger = HttpSensorTrigger(endpoint="v1/contacts", http_conn_id="bench_http")

        async def sample() -> None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(anext(trigger.run()), SAMPLE_S)

        asyncio.run(sample())
        return len(api.log())
    finally:
        api.stop()


def main() -> None:
    count, elapsed = apisync_sensor()
    print(
        f"apisync RateLimitWindowSensor: {count} requests over a {WINDOW_S:.0f} s closed "
        f"window (finished after {elapsed:.1f} s)"
    )
    try:
        http = http_provider_trigger()
    except Exception as exc:  # the baseline is optional
        print(f"HttpSensorTrigger baseline skipped: {type(exc).__name__}: {exc}")
        return
    print(
        f"HttpSensorTrigger: {http} requests in {SAMPLE_S:.0f} s against the same closed "
        f"window ({http / SAMPLE_S:.0f} requests/s, still waiting)"
    )


if __name__ == "__main__":
    main()
