"""Metrics reach a real StatsD listener on every supported Airflow line (issue 12).

3.2 once exposed ``airflow.sdk.observability`` without the module-level functions the hook
called, and every ``apisync.*`` metric was silently dropped. This runs the hook in a fresh
Airflow process configured for StatsD (``[metrics] statsd_on``) against FakeApi and reads
the UDP datagrams it sends: the metrics must arrive, not merely "not raise".
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from airflow_provider_apisync.testing import FakeApi

pytest.importorskip("statsd", reason="the statsd client is a dev dependency")

_SCRIPT = """
from airflow_provider_apisync.hooks.apisync import ApiSyncHook

hook = ApiSyncHook("metrics_conn")
assert hook.request("GET", "/contacts/1").status_code == 200
assert len(list(hook.paginate("/contacts"))) >= 1
"""


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


def _drain(sock: socket.socket, deadline: float) -> list[str]:
    lines: list[str] = []
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except TimeoutError:
            if lines:
                break
            continue
        lines.extend(data.decode().splitlines())
    return lines


def test_hook_metrics_arrive_at_statsd(tmp_path):
    sock = _listen()
    port = sock.getsockname()[1]
    with sock, FakeApi(seed={"contacts": 120}) as api:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW_CONN_METRICS_CONN": json.dumps(
                {
                    "conn_type": "apisync",
                    "host": api.url,
                    "password": "test-api-key-0001",
                    "extra": {"auth_type": "api_key"},
                }
            ),
        }
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        lines = _drain(sock, time.monotonic() + 5)
    ours = [line for line in lines if line.startswith("airflow.apisync.")]
    assert ours, f"no apisync.* metric reached StatsD; got {lines[:20]}"
    assert any(line.endswith("|c") for line in ours), ours  # counters
    assert any("|ms" in line for line in ours), ours  # timers
