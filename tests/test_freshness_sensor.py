"""DataFreshnessSensor against FakeApi, and the timestamp parser it relies on."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sensor_testkit import BEARER, make_context, moment_epoch, run_sensor

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.timestamps import TimestampError, parse_timestamp
from airflow_provider_apisync.compat import AirflowFailException, DateTimeTrigger, TaskDeferred
from airflow_provider_apisync.sensors import DataFreshnessSensor
from airflow_provider_apisync.testing import FakeApi, RateLimit

CONN = "fake_fresh"
UTC = timezone.utc


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events(*ages_s: float) -> list[dict]:
    now = datetime.now(UTC)
    return [
        {"id": i, "updated_at": iso(now - timedelta(seconds=age))}
        for i, age in enumerate(ages_s, start=1)
    ]


@pytest.fixture
def api(set_conn):
    with FakeApi(seed={"events": events(7200, 3600)}) as server:
        set_conn(CONN, server.url, password=BEARER)
        yield server


def make_sensor(**kwargs) -> DataFreshnessSensor:
    kwargs.setdefault("task_id", "wait_for_fresh_events")
    kwargs.setdefault("apisync_conn_id", CONN)
    kwargs.setdefault("endpoint", "/events")
    if "timestamp_path" not in kwargs:
        kwargs.setdefault("records_path", "data")
        kwargs.setdefault("timestamp_field", "updated_at")
    return DataFreshnessSensor(**kwargs)


def test_stale_data_defers_then_new_data_succeeds_with_lag(api, capsys):
    sensor = make_sensor(max_age=timedelta(minutes=5), deferrable=True, poke_interval=30)
    context = make_context()
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert isinstance(deferred.value.trigger, DateTimeTrigger)
    assert abs(moment_epoch(deferred.value.trigger) - (before + 30)) <= 1.0
    logged = capsys.readouterr().out  # task logs (structlog) go to stdout here
    assert "lag 1h0m" in logged and "stale" in logged  # the lag is logged on every check

    created = api.collection("events").create({"kind": "signup"})  # new data arrives
    result = sensor.resume_execution("execute_complete", {"event": None}, context)
    assert result["fresh"] is True and result["state"] == "fresh"
    assert result["newest"] == parse_timestamp(created["updated_at"]).isoformat()
    assert 0 <= result["lag_s"] < 5
    assert result["max_age_s"] == 300
    assert len(api.log("GET", "/events")) == 2


def test_deferral_cycle_with_the_trigger_running(api):
    sensor = make_sensor(max_age=timedelta(seconds=60), deferrable=True, poke_interval=1)
    timer = threading.Timer(1.5, lambda: api.collection("events").create({"kind": "late"}))
    timer.start()
    try:
        outcome = run_sensor(sensor, make_context(), max_deferrals=5)
    finally:
        timer.cancel()
    assert outcome.result["fresh"] is True
    assert 1 <= len(outcome.deferrals) <= 3
    assert len(api.log("GET", "/events")) == len(outcome.deferrals) + 1


def test_poke_mode_stale_then_fresh(api):
    sensor = make_sensor(max_age=60, deferrable=False, poke_interval=1, timeout=30)
    timer = threading.Timer(1.5, lambda: api.collection("events").create({"kind": "late"}))
    timer.start()
    try:
        result = sensor.execute(make_context())
    finally:
        timer.cancel()
    assert result["fresh"] is True and result["lag_s"] < 5


def test_newer_than_threshold(api):
    threshold = iso(datetime.now(UTC) - timedelta(minutes=90))  # between the two events
    result = make_sensor(newer_than=threshold, deferrable=True).execute(make_context())
    assert result["fresh"] is True
    assert result["newer_than"] == parse_timestamp(threshold).isoformat()
    assert 3590 < result["lag_s"] < 3610

    later = datetime.now(UTC) - timedelta(minutes=30)
    with pytest.raises(TaskDeferred):
        make_sensor(newer_than=later, deferrable=True).execute(make_context())


def test_newer_than_renders_from_the_data_interval(api):
    sensor = make_sensor(newer_than="{{ data_interval_end }}", deferrable=True)
    interval_end = datetime.now(UTC) - timedelta(minutes=90)
    context = make_context(data_interval_end=interval_end)
    sensor.render_template_fields(context)
    assert parse_timestamp(sensor.newer_than) == interval_end
    assert sensor.execute(context)["fresh"] is True


def test_timestamp_path_on_a_single_record_with_epoch_seconds_and_ms(api):
    now = time.time()
    api.seed(
        "status", [{"id": 1, "synced_s": int(now) - 10, "synced_ms": int(now * 1000) - 10_000}]
    )
    for path in ("synced_s", "synced_ms"):
        result = make_sensor(
            endpoint="/status/1", timestamp_path=path, max_age=60, deferrable=True
        ).execute(make_context())
        assert result["fresh"] is True
        assert 9 <= result["lag_s"] < 15


def test_zoned_timestamps_are_compared_in_utc(api):
    # 30 s ago, written in UTC+05:30: fresh for max_age=60 only if the zone is honoured
    moment = datetime.now(UTC) - timedelta(seconds=30)
    local = moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    api.seed("zoned", [{"id": 1, "ts": local}])
    result = make_sensor(
        endpoint="/zoned", timestamp_field="ts", max_age=60, deferrable=True
    ).execute(make_context())
    assert result["fresh"] is True and 29 <= result["lag_s"] < 35


def test_unparseable_timestamp_names_path_and_value(api):
    api.seed("broken", [{"id": 1, "updated_at": "yesterday-ish"}])
    sensor = make_sensor(endpoint="/broken", max_age=60, deferrable=True)
    with pytest.raises(AirflowFailException) as error:
        sensor.execute(make_context())
    message = str(error.value)
    assert "data[0].updated_at" in message and "'yesterday-ish'" in message


def test_missing_timestamp_path_is_a_clear_error(api):
    sensor = make_sensor(endpoint="/events/1", timestamp_path="meta.updated", max_age=60)
    with pytest.raises(AirflowFailException, match=r"timestamp_path 'meta.updated' not found"):
        sensor.execute(make_context())


def test_wrong_timestamp_field_is_a_clear_error(api):
    sensor = make_sensor(timestamp_field="modified", max_age=60)
    with pytest.raises(AirflowFailException, match=r"timestamp_field 'modified' is missing"):
        sensor.execute(make_context())


def test_empty_collection_is_not_fresh_yet(api):
    api.seed("empty", [])
    sensor = make_sensor(endpoint="/empty", max_age=60, deferrable=True)
    with pytest.raises(TaskDeferred):
        sensor.execute(make_context())


def test_rate_limited_check_waits_for_the_reset(set_conn):
    limit = RateLimit(limit=1, window=20.0)
    with FakeApi(seed={"events": events(1)}, rate_limit=limit) as api:
        set_conn(CONN, api.url, password=BEARER)
        context = make_context()
        assert make_sensor(max_age=60, deferrable=True).execute(context)["fresh"] is True
        sensor = make_sensor(max_age=60, deferrable=True, poke_interval=600)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)  # 429: wait for the reset (< 20 s), not poke_interval
        assert moment_epoch(deferred.value.trigger) - time.time() < 21
        assert [r.status for r in api.log("GET", "/events")] == [200, 429]


def test_auth_error_fails_fast(set_conn):
    with FakeApi(seed={"events": events(1)}) as api:
        set_conn(CONN, api.url, password="wrong")
        with pytest.raises(AirflowFailException, match="ApiAuthError"):
            make_sensor(max_age=60, deferrable=False, poke_interval=1).execute(make_context())
        assert len(api.log("GET", "/events")) == 1


def test_query_is_sent(api):
    make_sensor(
        query={"limit": 1, "offset": 1}, max_age=timedelta(hours=2), deferrable=True
    ).execute(make_context())
    assert api.log("GET", "/events")[-1].query == {"limit": "1", "offset": "1"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_age": 60, "newer_than": "2026-01-01"}, "max_age"),
        ({}, "max_age"),
        ({"max_age": -5}, "max_age"),
        ({"max_age": 60, "timestamp_path": "a", "records_path": "data"}, "timestamp_path"),
        ({"max_age": 60, "records_path": "data", "timestamp_field": None}, "timestamp_path"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ApiConfigError) as error:
        make_sensor(**kwargs)
    assert error.value.field == field


def test_unparseable_newer_than_fails_fast(api):
    sensor = make_sensor(newer_than="{{ not rendered }}", deferrable=True)
    with pytest.raises(AirflowFailException, match="newer_than"):
        sensor.execute(make_context())


# -- timestamps ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T12:00:00Z", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01T12:00:00z", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01T14:00:00+02:00", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01T07:00:00-0500", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01T17:30:00+05:30", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01 12:00:00", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01T12:00:00.123456789Z", "2026-01-01T12:00:00.123456+00:00"),
        ("2026-01-01T12:00:00,5Z", "2026-01-01T12:00:00.500000+00:00"),
        ("20260101T120000Z", "2026-01-01T12:00:00+00:00"),
        ("2026-01-01", "2026-01-01T00:00:00+00:00"),
        ("Thu, 01 Jan 2026 12:00:00 GMT", "2026-01-01T12:00:00+00:00"),
        (1767268800, "2026-01-01T12:00:00+00:00"),
        (1767268800.25, "2026-01-01T12:00:00.250000+00:00"),
        ("1767268800", "2026-01-01T12:00:00+00:00"),
        (1767268800000, "2026-01-01T12:00:00+00:00"),
        ("1767268800123", "2026-01-01T12:00:00.123000+00:00"),
        (datetime(2026, 1, 1, 12), "2026-01-01T12:00:00+00:00"),
    ],
)
def test_parse_timestamp(value, expected):
    parsed = parse_timestamp(value)
    assert parsed.tzinfo is not None
    assert parsed.isoformat() == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "soon",
        "2026-13-01",
        "2026-01-01T25:00:00Z",
        "2026-01-01T12:00+24:00",
        None,
        True,
        1e30,
        float("nan"),
        [1],
        "12:00",
    ],
)
def test_unparseable_timestamps_raise_with_the_value(value):
    with pytest.raises(TimestampError) as error:
        parse_timestamp(value)
    assert repr(value)[:20] in str(error.value)
