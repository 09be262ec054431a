"""RateLimitWindowSensor against FakeApi: open, closed, deferred, poked, status endpoints."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sensor_testkit import BEARER, make_context, moment_epoch, run_sensor

from airflow_provider_apisync.client.errors import ApiConfigError, ApiServerError
from airflow_provider_apisync.compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    DateTimeTrigger,
    TaskDeferred,
)
from airflow_provider_apisync.sensors import RateLimitWindowSensor
from airflow_provider_apisync.testing import FakeApi, RateLimit, Response
from airflow_provider_apisync.testing.fakeapi.status import QuotaStatus, install_status_routes

CONN = "fake_rl"


def exhaust(api: FakeApi, times: int, path: str = "/contacts") -> None:
    """Spend the window from outside the sensor (another client of the same account)."""
    for _ in range(times):
        requests.get(api.url + path, headers={"Authorization": f"Bearer {BEARER}"}, timeout=5)


def sensor_requests(api: FakeApi, path: str = "/contacts") -> list:
    """Requests the sensor sent (the apisync client sends a correlation id)."""
    return [r for r in api.log(path=path) if "x-request-id" in r.headers]


@pytest.fixture
def conn(set_conn):
    def _conn(api: FakeApi, password: str = BEARER) -> str:
        return set_conn(CONN, api.url, password=password)

    return _conn


def make_sensor(**kwargs) -> RateLimitWindowSensor:
    kwargs.setdefault("task_id", "wait_for_quota")
    kwargs.setdefault("apisync_conn_id", CONN)
    kwargs.setdefault("endpoint", "/contacts")
    return RateLimitWindowSensor(**kwargs)


def test_open_window_succeeds_at_once(conn):
    with FakeApi(seed={"contacts": 3}, rate_limit=RateLimit(limit=10, window=60)) as api:
        conn(api)
        sensor = make_sensor(deferrable=True, min_remaining=5)
        result = sensor.execute(make_context())
        assert result["open"] is True
        assert result["remaining"] == 9 and result["limit"] == 10
        assert result["status"] == 200
        assert len(sensor_requests(api)) == 1


def test_closed_window_defers_until_reset_then_succeeds(conn):
    window_start = time.time()
    limit = RateLimit(limit=2, window=3.0)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 2)
        reset = window_start + 3.0
        sensor = make_sensor(deferrable=True)
        context = make_context()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
        trigger = deferred.value.trigger
        assert isinstance(trigger, DateTimeTrigger)
        assert abs(moment_epoch(trigger) - reset) <= 1.0
        assert deferred.value.method_name == "execute_complete"
        assert [r.status for r in sensor_requests(api)] == [429]

        outcome = run_sensor(sensor, context)  # defers again, the trigger fires, resumes
        assert outcome.result["open"] is True and outcome.result["remaining"] == 1
        assert len(outcome.deferrals) == 1
        assert outcome.deferrals[0].fired_at >= reset
        assert [r.status for r in sensor_requests(api)] == [429, 429, 200]


def test_poke_mode_waits_for_the_announced_reset_not_poke_interval(conn):
    with FakeApi(seed={"contacts": 3}, rate_limit=RateLimit(limit=2, window=2.0)) as api:
        conn(api)
        exhaust(api, 2)
        sensor = make_sensor(deferrable=False, mode="poke", poke_interval=120, timeout=60)
        started = time.monotonic()
        result = sensor.execute(make_context())
        assert time.monotonic() - started < 10  # not 120 s
        assert result["open"] is True
        assert [r.status for r in sensor_requests(api)] == [429, 200]


def test_probe_count_while_window_closed_for_10s_deferrable(conn):
    window_start = time.time()
    limit = RateLimit(limit=2, window=10.0)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 2)
        outcome = run_sensor(make_sensor(deferrable=True, poke_interval=1), make_context())
        probes = sensor_requests(api)
        assert outcome.result["open"] is True
        assert probes[-1].at >= window_start + 10.0  # it really waited for the window
        assert len(probes) <= 3
        assert [r.status for r in probes] == [429, 200]
        assert limit.rejected == 1


def test_probe_count_without_reset_hint_uses_poke_interval(conn):
    # A bare 429 (no Retry-After, no headers): the sensor can only wait poke_interval.
    limit = RateLimit(limit=1, window=10.0, headers="none", retry_after=False)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 1)
        sensor = make_sensor(deferrable=False, poke_interval=5, timeout=60)
        result = sensor.execute(make_context())
        probes = sensor_requests(api)
        assert result["open"] is True and result["remaining"] is None
        assert len(probes) <= 3
        assert [r.status for r in probes][-1] == 200
        gaps = [b.at - a.at for a, b in zip(probes, probes[1:])]
        assert all(gap >= 4.9 for gap in gaps)


def test_deferral_without_reset_hint_waits_poke_interval(conn):
    limit = RateLimit(limit=1, window=60.0, headers="none", retry_after=False)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 1)
        sensor = make_sensor(deferrable=True, poke_interval=42)
        before = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(make_context())
        assert abs(moment_epoch(deferred.value.trigger) - (before + 42)) <= 1.0


def test_github_rate_limit_status_endpoint(conn):
    with FakeApi(seed={"contacts": 3}) as api:
        quota = install_status_routes(api, QuotaStatus(limit=5000, window=3600))
        conn(api)
        quota.close(for_seconds=30)
        sensor = make_sensor(
            endpoint="/rate_limit",
            remaining_path="resources.core.remaining",
            reset_path="resources.core.reset",
            limit_path="resources.core.limit",
            min_remaining=100,
            deferrable=True,
        )
        context = make_context()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
        # GitHub's reset is whole epoch seconds: the deferral targets it (+ margin).
        assert abs(moment_epoch(deferred.value.trigger) - quota.reset_at) <= 1.6
        quota.reset_at = time.time()  # the window ends; the next read refills it
        result = sensor.resume_execution("execute_complete", {"event": None}, context)
        assert result["open"] is True
        assert result["remaining"] == 5000 and result["limit"] == 5000
        assert quota.reads == 2
        assert api.log(path="/contacts") == []


def test_salesforce_limits_endpoint_without_reset_waits_poke_interval(conn):
    with FakeApi() as api:
        quota = install_status_routes(api, QuotaStatus(limit=15000, window=86400))
        quota.spend(14500)
        conn(api)
        sensor = make_sensor(
            endpoint="/limits",
            remaining_path="DailyApiRequests.Remaining",
            limit_path="DailyApiRequests.Max",
            min_remaining=1000,
            deferrable=True,
            poke_interval=300,
        )
        context = make_context()
        before = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
        assert abs(moment_epoch(deferred.value.trigger) - (before + 300)) <= 1.0
        quota.remaining = 15000
        result = sensor.resume_execution("execute_complete", {"event": None}, context)
        assert result == {
            "open": True,
            "remaining": 15000,
            "limit": 15000,
            "reset_at": None,
            "status": 200,
            "endpoint": "/limits",
        }


def test_wrong_remaining_path_is_a_clear_error(conn):
    with FakeApi() as api:
        install_status_routes(api)
        conn(api)
        sensor = make_sensor(endpoint="/rate_limit", remaining_path="resources.core.left")
        with pytest.raises(AirflowFailException, match=r"remaining_path 'resources.core.left'"):
            sensor.execute(make_context())


def test_github_403_with_remaining_zero_is_a_closed_window(conn):
    reset = int(time.time()) + 20

    def secondary_limit(request):
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return Response.json({"message": "API rate limit exceeded"}, 403, headers)

    with FakeApi() as api:
        api.route("GET", "/repos", secondary_limit, first=True)
        conn(api)
        sensor = make_sensor(endpoint="/repos", deferrable=True)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(make_context())
        assert abs(moment_epoch(deferred.value.trigger) - reset) <= 1.0


@pytest.mark.parametrize("deferrable", [True, False])
def test_auth_error_fails_fast(conn, deferrable):
    with FakeApi(seed={"contacts": 3}) as api:
        conn(api, password="wrong-token")
        sensor = make_sensor(deferrable=deferrable, poke_interval=1, timeout=30)
        started = time.monotonic()
        with pytest.raises(AirflowFailException, match="ApiAuthError"):
            sensor.execute(make_context())
        assert time.monotonic() - started < 5
        assert len(sensor_requests(api)) == 1


def test_auth_error_with_soft_fail_skips(conn):
    with FakeApi(seed={"contacts": 3}) as api:
        conn(api, password="wrong-token")
        sensor = make_sensor(deferrable=True, soft_fail=True)
        with pytest.raises(AirflowSkipException):
            sensor.execute(make_context())


def test_server_errors_are_retried_briefly_then_raised_for_task_retries(conn):
    with FakeApi(seed={"contacts": 3}) as api:
        api.faults.add("status", path="/contacts", status=503)
        conn(api)
        sensor = make_sensor(deferrable=True)
        with pytest.raises(ApiServerError):
            sensor.execute(make_context())
        assert len(sensor_requests(api)) == 3  # 1 + 2 quick probe retries


def test_silent_fail_turns_a_server_error_into_another_wait(conn):
    with FakeApi(seed={"contacts": 3}) as api:
        api.faults.add("status", path="/contacts", status=503)
        conn(api)
        sensor = make_sensor(deferrable=True, silent_fail=True, poke_interval=30)
        before = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(make_context())
        after = time.time()  # the probe's own quick retries took some time
        assert before + 30 - 0.1 <= moment_epoch(deferred.value.trigger) <= after + 30 + 0.1


def test_head_probe_reads_headers(conn):
    with FakeApi(seed={"contacts": 3}, rate_limit=RateLimit(limit=5, window=60)) as api:
        conn(api)
        result = make_sensor(method="head", deferrable=True).execute(make_context())
        assert result["open"] is True and result["remaining"] == 4
        assert [r.method for r in sensor_requests(api)] == ["HEAD"]


def test_timeout_caps_the_deferral_and_then_times_out(conn):
    limit = RateLimit(limit=1, window=3600.0)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 1)
        sensor = make_sensor(deferrable=True, timeout=20)
        context = make_context()
        before = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
        # the reset is an hour away: the trigger fires at the sensor's deadline instead
        assert abs(moment_epoch(deferred.value.trigger) - (before + 20)) <= 1.0
        assert deferred.value.timeout <= timedelta(seconds=20 + 60)
        # pretend the deadline has passed (the sensor started 30 s ago)
        context["task_state_store"].data["apisync_sensor_started"]["started_at"] -= 30
        with pytest.raises(AirflowSensorTimeout):
            sensor.resume_execution("execute_complete", {"event": None}, context)
        sensor.soft_fail = True
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("execute_complete", {"event": None}, context)


def test_resume_ignores_defer_kwargs_and_falls_back_to_ti_start_date(conn):
    limit = RateLimit(limit=1, window=3600.0)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 1)
        sensor = make_sensor(deferrable=True, timeout=50)
        long_ago = datetime.now(timezone.utc) - timedelta(seconds=100)
        context = make_context(store=None, start_date=long_ago)
        with pytest.raises(AirflowSensorTimeout):
            sensor.resume_execution("execute_complete", {"event": None, "extra": 1}, context)


def test_stored_start_of_another_try_is_ignored(conn):
    limit = RateLimit(limit=1, window=3600.0)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        exhaust(api, 1)
        sensor = make_sensor(deferrable=True, timeout=50)
        context = make_context(try_number=2)
        context["task_state_store"].set(
            "apisync_sensor_started", {"try": 1, "started_at": time.time() - 100}
        )
        with pytest.raises(TaskDeferred):  # try 2 started now, not 100 s ago
            sensor.resume_execution("execute_complete", {"event": None}, context)


def test_default_deferrable_follows_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert make_sensor().deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert make_sensor().deferrable is False
    assert make_sensor(deferrable=True).deferrable is True


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "POST"}, "method"),
        ({"method": "HEAD", "remaining_path": "a.b"}, "method"),
        ({"min_remaining": 0}, "min_remaining"),
        ({"min_remaining": "5"}, "min_remaining"),
        ({"reset_margin": -1}, "reset_margin"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ApiConfigError) as error:
        make_sensor(**kwargs)
    assert error.value.field == field


def test_a_probe_never_sleeps_in_the_client_when_the_quota_is_spent(conn):
    # The window announces remaining=0 on a 200; a normal client would pace the next request
    # until the reset. The sensor's client must not: the second poke goes out at once.
    limit = RateLimit(limit=2, window=30.0)
    with FakeApi(seed={"contacts": 3}, rate_limit=limit) as api:
        conn(api)
        sensor = make_sensor(deferrable=True)
        assert sensor.execute(make_context())["remaining"] == 1
        with pytest.raises(TaskDeferred):  # the probe spent the last request: remaining=0
            sensor.execute(make_context())
        done = threading.Event()

        def second() -> None:
            try:
                sensor.execute(make_context())
            except TaskDeferred:
                done.set()

        thread = threading.Thread(target=second)
        started = time.monotonic()
        thread.start()
        thread.join(timeout=10)
        assert done.is_set() and time.monotonic() - started < 3
        assert [r.status for r in sensor_requests(api)] == [200, 200, 429]


def test_probe_mode_is_one_client_option_for_hooks_requests_and_rate_limit_status(conn):
    # rate_limit_status is a probe too: GitHub's quota 403 is an answer (remaining 0 until
    # the reset), not an error; and one request on a normal client can be sent as a probe.
    from airflow_provider_apisync.client.errors import ApiRateLimitError
    from airflow_provider_apisync.hooks import ApiSyncHook

    reset = int(time.time()) + 20

    def secondary_limit(request):
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return Response.json({"message": "API rate limit exceeded"}, 403, headers)

    with FakeApi(seed={"contacts": 3}) as api:
        api.route("GET", "/repos", secondary_limit, first=True)
        busy = Response.json({}, 429, {"Retry-After": "30"})
        api.route("GET", "/busy", lambda request: busy, first=True)
        conn(api)
        hook = ApiSyncHook(CONN)
        status = hook.rate_limit_status("/repos")
        assert status.remaining == 0 and abs(status.reset_at.timestamp() - reset) <= 1.0
        started = time.monotonic()
        with pytest.raises(ApiRateLimitError):
            hook.client.request("GET", "/busy", probe=True)  # normal client, one probe
        with pytest.raises(ApiRateLimitError):
            ApiSyncHook(CONN, probe=True).request("GET", "/busy")  # a probe-mode client
        assert time.monotonic() - started < 3 and len(api.log(path="/busy")) == 2
        assert hook.client.probe is False  # nothing was swapped on the hook's client
