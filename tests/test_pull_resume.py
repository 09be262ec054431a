"""Kill tests: a pull that fails after page k resumes on retry with exactly the full set.

The first try hits a lasting 503 after page k (retries exhausted: a retryable failure,
so Airflow would retry the task). The second execute() shares the task state store,
like an Airflow retry does, and must fetch pages k.. only.
"""

from __future__ import annotations

import json

import pytest
from conftest import conn_json
from pull_support import API_KEY, MemoryStore, make_context, offsets_fetched, read_output

from airflow_provider_apisync.client import ApiServerError
from airflow_provider_apisync.client.pagination import OffsetPaginator
from airflow_provider_apisync.compat import ObjectStoragePath
from airflow_provider_apisync.operators import ApiPullOperator, Incremental
from airflow_provider_apisync.runtime.state import CHECKPOINT_KEY
from airflow_provider_apisync.testing import FakeApi

N = 95
K = 4  # pages that succeed before the outage


@pytest.fixture(scope="module")
def api():
    with FakeApi(seed={"contacts": N}) as server:
        yield server


@pytest.fixture(autouse=True)
def conn(api, monkeypatch):
    api.faults.clear()
    api.clear_log()
    extra = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}
    monkeypatch.setenv("AIRFLOW_CONN_FAKE", conn_json(api.url, password=API_KEY, extra=extra))


def make_op(tmp_path, **kwargs):
    kwargs.setdefault("paginator", OffsetPaginator(limit=10, total_path="total"))
    return ApiPullOperator(
        task_id="pull",
        apisync_conn_id="fake",
        endpoint="/contacts",
        output=f"file://{tmp_path}/out",
        **kwargs,
    )


def fail_then_retry(api, op, context_for, *, after=K):
    """Try 1 dies after ``after`` pages; try 2 runs clean. Returns (manifest, offsets)."""
    api.faults.add("status", path="/contacts", after=after, status=503)  # lasting outage
    with pytest.raises(ApiServerError):
        op.execute(context_for(1))
    first = offsets_fetched(api)
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(context_for(2))
    return manifest, first, offsets_fetched(api)


def test_retry_resumes_from_task_state_store_without_duplicates_or_gaps(api, tmp_path):
    store = MemoryStore()
    op = make_op(tmp_path)
    manifest, first, second = fail_then_retry(
        api, op, lambda n: make_context(task_state_store=store, try_number=n)
    )
    assert first == [0, 10, 20, 30]
    assert second == [40, 50, 60, 70, 80, 90]  # pages k.. only
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))
    assert manifest["records"] == N and manifest["pages"] == 10
    assert manifest["resumed_from_page"] == K
    assert manifest["requests"] == 10  # 4 of try 1 (up to its checkpoint) + 6 of try 2
    assert manifest["checkpoint"] == "task_state_store"
    assert CHECKPOINT_KEY not in store.data  # cleared on success: a cleared rerun starts fresh


def test_retry_resumes_with_file_checkpoint_when_no_task_state_store(api, tmp_path):
    op = make_op(tmp_path)
    manifest, first, second = fail_then_retry(api, op, lambda n: make_context(try_number=n))
    assert first == [0, 10, 20, 30] and second == [40, 50, 60, 70, 80, 90]
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))
    assert manifest["checkpoint"] == "file"
    assert not ObjectStoragePath(manifest["uri"] + "/_checkpoint.json").exists()


def test_resume_across_part_rotation_and_concurrency(api, tmp_path):
    store = MemoryStore()
    op = make_op(tmp_path, part_size=2500, concurrency=3)
    api.faults.add("status", path="/contacts", after=K, status=503)
    with pytest.raises(ApiServerError):
        op.execute(make_context(task_state_store=store))
    resume_at = json.loads(store.data[CHECKPOINT_KEY])["progress"]["state"]["offset"]
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(make_context(task_state_store=store, try_number=2))
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))
    assert len(manifest["files"]) > 2
    # pages written before the outage are never fetched again; the rest exactly once
    assert sorted(offsets_fetched(api)) == list(range(resume_at, N, 10))
    assert resume_at >= 10


def test_open_part_lost_by_storage_rolls_back_to_where_it_began(api, tmp_path):
    """S3/GCS write an object only on close: the open part of a dead try never appears."""
    store = MemoryStore()
    op = make_op(tmp_path, part_size=3000)  # ~21 records: a new part every third page
    api.faults.add("status", path="/contacts", after=K + 1, status=503)
    with pytest.raises(ApiServerError):
        op.execute(make_context(task_state_store=store))
    saved = json.loads(store.data[CHECKPOINT_KEY])
    open_part = saved["output"]["parts"][-1]
    ObjectStoragePath(f"file://{tmp_path}/out/{open_part['name']}").unlink()
    restart_offset = saved["part_start"]["progress"]["state"]["offset"]
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(make_context(task_state_store=store, try_number=2))
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))
    assert offsets_fetched(api)[0] == restart_offset < 50
    assert manifest["resumed_from_page"] == restart_offset // 10


def test_missing_complete_part_means_starting_over(api, tmp_path):
    store = MemoryStore()
    op = make_op(tmp_path, part_size=3000)
    api.faults.add("status", path="/contacts", after=7, status=503)
    with pytest.raises(ApiServerError):
        op.execute(make_context(task_state_store=store))
    ObjectStoragePath(f"file://{tmp_path}/out/part-00000.jsonl").unlink()  # another worker's disk
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(make_context(task_state_store=store, try_number=2))
    assert offsets_fetched(api)[0] == 0
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))
    assert manifest["resumed_from_page"] is None


def test_checkpoint_of_another_configuration_is_not_resumed(api, tmp_path):
    store = MemoryStore()
    api.faults.add("status", path="/contacts", after=K, status=503)
    with pytest.raises(ApiServerError):
        make_op(tmp_path).execute(make_context(task_state_store=store))
    api.faults.clear()
    api.clear_log()
    changed = make_op(tmp_path, paginator=OffsetPaginator(limit=25, total_path="total"))
    manifest = changed.execute(make_context(task_state_store=store, try_number=2))
    assert offsets_fetched(api) == [0, 25, 50, 75]
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))


class FlakyMarkStore(MemoryStore):
    """An asset state store whose first write fails (after the manifest was written)."""

    def set(self, key, value, **kwargs):
        if not getattr(self, "failed", False):
            self.failed = True
            raise ConnectionError("API server unavailable")
        super().set(key, value, **kwargs)


def test_retry_after_manifest_written_fetches_nothing_and_advances_mark(api, tmp_path):
    store, marks = MemoryStore(), FlakyMarkStore()
    op = make_op(tmp_path, incremental=Incremental("updated_at", "updated_since"))
    with pytest.raises(ConnectionError):
        op.execute(make_context(task_state_store=store, asset_state_store=marks))
    api.clear_log()
    manifest = op.execute(make_context(task_state_store=store, asset_state_store=marks))
    assert api.log("GET") == []
    assert manifest["records"] == N
    assert marks.get("apisync.hwm.pull_dag.pull")["value"] == manifest["high_water_mark"]
