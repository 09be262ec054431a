"""The sensors under a real Airflow (`airflow dags test`), deferring for real.

FakeApi runs in this process; the DAG runs in an `airflow dags test` subprocess that
reaches it through an ``AIRFLOW_CONN_APISYNC_DEFAULT`` connection. `dags test` runs each
trigger in line (``_run_inline_trigger``) and resumes the task with only the trigger's event
— the ``defer(kwargs=...)`` are dropped — which the sensors do not need.
"""

from __future__ import annotations

import re
import shutil
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import conn_json
from sensor_testkit import BEARER

from airflow_provider_apisync.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_apisync.testing import FakeApi, RateLimit
from airflow_provider_apisync.testing.dagrun import AirflowEnv

pytestmark = pytest.mark.timeout(600)

EXAMPLE = Path(__file__).resolve().parents[1] / "example_dags" / "rate_limit_window_example.py"
WINDOW_S = 5.0

FRESHNESS_DAG = textwrap.dedent(
    '''
    """Wait until the API has events newer than the run's data interval end."""
    from datetime import datetime

    from airflow_provider_apisync.compat import DAG

    from airflow_provider_apisync.sensors import DataFreshnessSensor

    with DAG("apisync_freshness_test", schedule=None, start_date=datetime(2026, 1, 1)):
        DataFreshnessSensor(
            task_id="wait_for_events",
            apisync_conn_id="apisync_default",
            endpoint="/events",
            records_path="data",
            timestamp_field="updated_at",
            newer_than="{{ data_interval_end }}",
            deferrable=True,
            poke_interval=2,
            timeout=120,
        )
    '''
)


class OpensAtAnnouncedReset:
    """FakeApi finisher: the window stays closed (limit 0) until the first 429 the sensor
    gets, then opens exactly at the reset that 429 announced (Retry-After)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.first_refusal: float | None = None
        self.retry_after: float | None = None
        self._lock = threading.Lock()

    def __call__(self, request, response) -> None:
        if response.status != 429 or "x-request-id" not in request.headers:
            return
        with self._lock:
            if self.first_refusal is not None:
                return
            self.first_refusal = request.at
            self.retry_after = float(response.headers["Retry-After"])
        timer = threading.Timer(self.retry_after, setattr, (self.limit, "limit", 100))
        timer.daemon = True
        timer.start()


class AddsEventAfterFirstCheck:
    """FakeApi finisher: a new event is written 3 s after the sensor's first look, so the
    sensor defers twice (poke_interval 2 s) before it sees it."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.started = False

    def __call__(self, request, response) -> None:
        if self.started or request.method != "GET" or not request.path.endswith("/events"):
            return
        self.started = True
        timer = threading.Timer(3.0, self.api.collection("events").create, ({"kind": "new"},))
        timer.daemon = True
        timer.start()


@pytest.fixture(scope="module")
def server():
    old = datetime.now(timezone.utc) - timedelta(days=2)
    events = [{"id": 1, "updated_at": old.isoformat()}]
    limit = RateLimit(limit=0, window=WINDOW_S, paths=("/contacts",))
    with FakeApi(seed={"contacts": 20, "events": events}, rate_limit=limit) as api:
        api.opener = OpensAtAnnouncedReset(limit)
        api.finishers.append(api.opener)
        api.finishers.append(AddsEventAfterFirstCheck(api))
        yield api


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, server):
    root = tmp_path_factory.mktemp("sensor-dags")
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    (dags / "freshness_test_dag.py").write_text(FRESHNESS_DAG)
    conn = conn_json(server.url, password=BEARER)
    return AirflowEnv(root / "home", dags, env={"AIRFLOW_CONN_APISYNC_DEFAULT": conn}).setup()


def test_rate_limit_window_dag_defers_until_the_reset_and_succeeds(airflow_env, server):
    result = airflow_env.dags_test("apisync_rate_limit_window")
    assert result.ok, result.output[-6000:]
    assert "running trigger in line" in result.output  # a real deferral happened

    sensor_probes = [r for r in server.log(path="/contacts") if not r.query]
    pulls = [r for r in server.log(path="/contacts") if r.query]
    assert [r.status for r in sensor_probes] == [429, 200]
    gap = sensor_probes[1].at - sensor_probes[0].at
    assert server.opener.retry_after is not None
    # Not before the announced reset, and well before one more window: resuming the task
    # after the trigger fires takes seconds on a loaded 2-core CI machine (3.6 s seen).
    assert server.opener.retry_after <= gap < server.opener.retry_after + WINDOW_S
    assert [r.status for r in pulls] == [200]
    assert pulls[0].at > sensor_probes[1].at
    assert "Rate-limit window closed" in result.output
    assert "'quota_before': 99" in result.output  # the sensor's XCom reached the next task


def test_freshness_dag_with_templated_newer_than(airflow_env, server):
    result = airflow_env.dags_test("apisync_freshness_test")
    assert result.ok, result.output[-6000:]
    assert "running trigger in line" in result.output
    checks = server.log("GET", "/events")
    assert len(checks) >= 2  # stale, deferred, ... fresh (3 s after the first check: a slow
    # line's resume can take longer than that, so the second check may already be fresh)
    assert result.output.count("running trigger in line") == len(checks) - 1
    # two days old when the fixture started; minutes depend on how long set-up took
    assert re.search(r"lag 2d\S* \(newer_than [^)]+\): stale", result.output)
    assert re.search(r"lag \d+\.\ds \(newer_than [^)]+\): fresh", result.output)
    # `dags test` restarts ti.start_date on every resume; the sensor's deadline must not move.
    # Before 3.3 (no task_state_store) the start time is ti.start_date: degraded, docs table.
    deadlines = set(re.findall(r"sensor deadline (\S+)", result.output))
    assert len(deadlines) == 1 or not AIRFLOW_V_3_3_PLUS, deadlines
