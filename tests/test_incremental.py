"""Incremental pulls: high-water marks across runs, lookback, and data-interval windows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest import conn_json
from pull_support import API_KEY, MemoryStore, make_context, read_output

from airflow_provider_apisync.client import ApiConfigError, ApiServerError
from airflow_provider_apisync.compat import DAG
from airflow_provider_apisync.operators import ApiPullOperator, Incremental
from airflow_provider_apisync.pull.incremental import HighWaterTracker
from airflow_provider_apisync.testing import FakeApi

N = 95
MARK_KEY = "apisync.hwm.pull_dag.pull"


@pytest.fixture
def api(monkeypatch):
    with FakeApi(seed={"contacts": N}) as server:
        extra = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}
        monkeypatch.setenv(
            "AIRFLOW_CONN_FAKE", conn_json(server.url, password=API_KEY, extra=extra)
        )
        yield server


def make_op(tmp_path, run, **kwargs):
    return ApiPullOperator(
        task_id="pull",
        apisync_conn_id="fake",
        endpoint="/contacts",
        query={"limit": 20},
        output=f"file://{tmp_path}/run{run}",
        **kwargs,
    )


def ids(manifest):
    return sorted(r["id"] for r in read_output(manifest))


def change_source(api):
    """New and changed records between two runs; returns their ids."""
    coll = api.collections["contacts"]
    new = [coll.create({"name": f"new {i}"})["id"] for i in range(3)]
    changed = [10, 42]
    for key in changed:
        coll.patch(key, {"status": "changed"})
    return set(new) | set(changed)


def test_second_run_pulls_only_new_and_changed_records(api, tmp_path):
    marks = MemoryStore()
    inc = Incremental("updated_at", "updated_since")
    first = make_op(tmp_path, 1, incremental=inc).execute(make_context(asset_state_store=marks))
    assert ids(first) == list(range(1, N + 1))
    assert first["high_water_mark"] == api.collections["contacts"].get(N)["updated_at"]
    assert marks.get(MARK_KEY) == {"value": first["high_water_mark"]}

    touched = change_source(api)
    api.clear_log()
    second = make_op(tmp_path, 2, incremental=inc).execute(make_context(asset_state_store=marks))
    # updated_since is inclusive (>=): the record at the mark comes again, nothing else old
    assert set(ids(second)) == touched | {N}
    assert api.log("GET")[0].query["updated_since"] == first["high_water_mark"]
    newest = max(api.collections["contacts"].get(k)["updated_at"] for k in touched)
    assert second["high_water_mark"] == newest == marks.get(MARK_KEY)["value"]


def test_lookback_repulls_a_window_before_the_mark(api, tmp_path):
    marks = MemoryStore()
    inc = Incremental("updated_at", "updated_since", lookback=timedelta(minutes=5))
    make_op(tmp_path, 1, incremental=inc).execute(make_context(asset_state_store=marks))
    touched = change_source(api)
    second = make_op(tmp_path, 2, incremental=inc).execute(make_context(asset_state_store=marks))
    assert set(ids(second)) == touched | set(range(N - 5, N + 1))  # 90..95 by lookback
    sent = api.log("GET")[-1].query["updated_since"]
    assert sent == "2026-01-01T01:30:00Z"  # mark 01:35 minus 5 minutes, same format


def test_mark_advances_only_after_a_complete_output(api, tmp_path):
    marks = MemoryStore()
    marks.set(MARK_KEY, {"value": "2026-01-01T01:00:00.000000Z"})
    inc = Incremental("updated_at", "updated_since")
    api.faults.add("status", path="/contacts", after=1, status=503)
    with pytest.raises(ApiServerError):
        make_op(tmp_path, 1, incremental=inc).execute(make_context(asset_state_store=marks))
    assert marks.get(MARK_KEY)["value"] == "2026-01-01T01:00:00.000000Z"  # untouched
    api.faults.clear()
    done = make_op(tmp_path, 1, incremental=inc).execute(make_context(asset_state_store=marks))
    assert ids(done) == list(range(60, N + 1))
    assert marks.get(MARK_KEY)["value"] == "2026-01-01T01:35:00.000000Z"


def test_templated_initial_value_is_used_on_the_first_run(api, tmp_path):
    with DAG("inc", schedule=None):
        op = make_op(
            tmp_path,
            1,
            incremental=Incremental(
                "updated_at", "updated_since", initial_value="{{ data_interval_start | ts }}"
            ),
        )
    start = datetime(2026, 1, 1, 1, 30, tzinfo=timezone.utc)
    context = make_context(asset_state_store=MemoryStore(), interval_start=start)
    op.render_template_fields(context)
    assert op.incremental.initial_value == "2026-01-01T01:30:00+00:00"
    assert ids(op.execute(context)) == list(range(90, N + 1))


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_data_interval_windows_are_stateless_and_backfill_safe(api, tmp_path, order):
    """Each run pulls exactly its window, in any order, and keeps no state."""
    windows = [datetime(2026, 1, 1, h, tzinfo=timezone.utc) for h in (0, 1)]
    pulled = {}
    for i in order:
        with DAG(f"win{i}", schedule=None):
            op = ApiPullOperator(
                task_id="pull",
                apisync_conn_id="fake",
                endpoint="/contacts",
                query={
                    "updated_since": "{{ data_interval_start | ts }}",
                    "updated_before": "{{ data_interval_end | ts }}",
                },
                output=f"file://{tmp_path}/{{{{ ts_nodash }}}}",
            )
        start = windows[i]
        context = make_context(interval_start=start, interval_end=start + timedelta(hours=1))
        context["ts_nodash"] = start.strftime("%Y%m%dT%H%M%S")
        op.render_template_fields(context)
        pulled[i] = ids(op.execute(context))
    assert pulled[0] == list(range(1, 60))  # [00:00, 01:00)
    assert pulled[1] == list(range(60, N + 1))  # [01:00, 02:00)


def test_request_value_and_tracker_rules():
    inc = Incremental("seq", "since_seq", lookback=10)
    assert inc.request_value(None) is None
    assert inc.request_value(500) == 490
    ts = Incremental("t", "since", initial_value="2026-01-01", lookback=timedelta(hours=1))
    assert ts.request_value(None) == "2026-01-01"  # lookback applies to stored marks only
    assert ts.request_value("2026-01-02T00:00:00+00:00") == "2026-01-01T23:00:00+00:00"
    with pytest.raises(ApiConfigError, match="incremental.lookback"):
        Incremental("seq", "since", lookback=timedelta(1)).request_value(7)
    with pytest.raises(ApiConfigError, match="incremental.param"):
        Incremental("updated_at", "")
    tracker = HighWaterTracker("meta.updated", "2026-01-01T00:00:00Z")
    tracker.observe(
        [
            {"meta": {"updated": "2026-01-01T02:00:00+02:00"}},  # = 00:00Z: not newer
            {"meta": {"updated": "2026-01-01T00:30:00.5Z"}},
            {"meta": {}},
        ]
    )
    assert tracker.value == "2026-01-01T00:30:00.5Z" and tracker.missing == 1
