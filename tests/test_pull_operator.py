"""ApiPullOperator by direct execute(): output files, manifest, events, lineage, errors."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import conn_json
from pull_support import API_KEY, MemoryStore, make_context, read_output

from airflow_provider_apisync.client import ApiConfigError, ApiServerError
from airflow_provider_apisync.client.pagination import CursorPaginator, OffsetPaginator
from airflow_provider_apisync.compat import DAG, AirflowFailException, Asset, ObjectStoragePath
from airflow_provider_apisync.operators import ApiPullOperator, Incremental
from airflow_provider_apisync.operators.lineage import api_dataset, output_datasets
from airflow_provider_apisync.testing import FakeApi, Response

N = 95


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
    kwargs.setdefault("endpoint", "/contacts")
    kwargs.setdefault("query", {"limit": 10})
    kwargs.setdefault("output", f"file://{tmp_path}/out")
    return ApiPullOperator(task_id="pull", apisync_conn_id="fake", **kwargs)


def test_pull_writes_jsonl_parts_and_returns_small_manifest(api, tmp_path, caplog, capfd):
    caplog.set_level(logging.INFO)
    op = make_op(tmp_path, part_size=4000)
    manifest = op.execute(make_context(task_state_store=MemoryStore()))
    records = read_output(manifest)
    assert [r["id"] for r in records] == list(range(1, N + 1))
    assert records[0] == api.collections["contacts"].get(1)
    assert manifest["records"] == N and manifest["pages"] == 10 and manifest["requests"] == 10
    assert len(manifest["files"]) > 1  # rotated by size
    assert sum(p["records"] for p in manifest["parts"]) == N
    for key in ("uri", "files", "retries", "throttled", "high_water_mark", "duration_s"):
        assert key in manifest
    on_disk = json.loads(ObjectStoragePath(manifest["uri"] + "/_manifest.json").read_bytes())
    assert on_disk["records"] == N and on_disk["files"] == manifest["files"]
    assert len(json.dumps(manifest)) < 4000  # XCom stays small: never the records
    logs = caplog.text + capfd.readouterr().out  # the task logger writes via structlog
    # one summary (Airflow 3.0 echoes task log lines to both: count distinct ones)
    lines = [line for line in logs.splitlines() if "apisync-summary" in line]
    summary = sorted({line[line.index("apisync-summary") :] for line in lines})
    assert len(summary) == 1 and '"records": 95' in summary[0]
    assert API_KEY not in logs and API_KEY not in json.dumps(manifest)


def test_default_output_is_the_run_folder_under_airflow_home(api, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    op = ApiPullOperator(task_id="pull", apisync_conn_id="fake", endpoint="/contacts")
    manifest = op.execute(make_context(dag_id="d1", run_id="scheduled__x"))
    assert manifest["uri"] == f"file://{tmp_path}/apisync/d1/pull/scheduled__x"
    assert len(read_output(manifest)) == N
    assert not ObjectStoragePath(manifest["uri"] + "/_checkpoint.json").exists()


def test_templated_endpoint_params_output(api, tmp_path):
    with DAG("tmpl", schedule=None):
        op = ApiPullOperator(
            task_id="pull",
            apisync_conn_id="fake",
            endpoint="/{{ params_collection }}",
            query={"limit": "{{ 5 * 2 }}", "updated_before": "{{ data_interval_end | ts }}"},
            output=f"file://{tmp_path}/{{{{ ds }}}}",
        )
    context = make_context()
    context["params_collection"] = "contacts"
    op.render_template_fields(context)
    assert op.endpoint == "/contacts"
    assert op.query == {"limit": "10", "updated_before": "2026-01-02T00:00:00+00:00"}
    manifest = op.execute(context)
    assert manifest["uri"] == f"file://{tmp_path}/2026-01-01"
    assert manifest["records"] == N
    assert api.log("GET")[0].query["updated_before"] == "2026-01-02T00:00:00+00:00"


def test_concurrency_writes_pages_in_order(api, tmp_path):
    op = make_op(tmp_path, paginator=OffsetPaginator(limit=7, total_path="total"), concurrency=4)
    manifest = op.execute(make_context())
    assert [r["id"] for r in read_output(manifest)] == list(range(1, N + 1))
    assert manifest["pages"] == 14


def test_record_key_drops_duplicates_within_run(api, tmp_path):
    rows = [{"id": i, "v": i} for i in range(1, 31)]

    def overlapping(request):  # each page repeats the previous page's last 2 rows
        page = int(request.query.get("page", 1))
        start = max((page - 1) * 10 - 2, 0)
        return Response.json({"data": rows[start : (page - 1) * 10 + 10]})

    api.route("GET", "/shifting", overlapping, first=True)
    op = make_op(tmp_path, endpoint="/shifting", paginator="page", record_key="id")
    manifest = op.execute(make_context())
    assert [r["id"] for r in read_output(manifest)] == list(range(1, 31))
    assert manifest["duplicates"] == 6 and manifest["records"] == 30


def test_outlet_asset_events_carry_the_summary(api, tmp_path):
    asset = Asset("contacts_raw")
    op = make_op(tmp_path, outlets=[asset])
    context = make_context()
    manifest = op.execute(context)
    extra = context["outlet_events"][asset].extra
    assert extra["records"] == N and extra["uri"] == manifest["uri"]
    assert extra["files"] == manifest["files"]


def test_lineage_names_endpoint_and_files_without_openlineage_installed(api, tmp_path):
    op = make_op(tmp_path)
    manifest = op.execute(make_context())
    inputs, outputs = op._lineage
    assert inputs == [(api.origin, "/v1/contacts")]
    assert outputs == [("file", f"{tmp_path}/out/part-00000.jsonl")]
    assert op.get_openlineage_facets_on_complete(None) is None  # provider absent: no error
    assert api_dataset("https://api.crm.example/v2", "/contacts?x=1") == (
        "https://api.crm.example:443",
        "/v2/contacts",
    )
    assert output_datasets("s3://bucket/raw/run1", ["part-00000.jsonl"]) == [
        ("s3://bucket", "raw/run1/part-00000.jsonl")
    ]
    assert manifest["records"] == N


def test_non_retryable_errors_fail_fast_retryable_ones_do_not(api, tmp_path):
    with pytest.raises(AirflowFailException, match="404"):
        make_op(tmp_path, endpoint="/nothing-here").execute(make_context())
    api.faults.add("status", path="/contacts", status=503)
    with pytest.raises(ApiServerError):
        make_op(tmp_path).execute(make_context())


def test_bad_arguments_fail_at_parse_time_with_the_field_named(tmp_path):
    with pytest.raises(ApiConfigError, match="concurrency"):
        make_op(tmp_path, concurrency=0)
    with pytest.raises(ApiConfigError, match="on_contract_violation"):
        make_op(tmp_path, on_contract_violation="ignore")
    with pytest.raises(ApiConfigError, match="paginator"):
        make_op(tmp_path, paginator="cursorish")
    with pytest.raises(ApiConfigError, match="schema"):
        make_op(tmp_path, schema={"type": "objekt"})


def test_incremental_param_conflict_is_a_clear_failure(api, tmp_path):
    op = make_op(
        tmp_path,
        query={"updated_since": "x"},
        incremental=Incremental("updated_at", "updated_since"),
    )
    with pytest.raises(AirflowFailException, match="query: sets 'updated_since'"):
        op.execute(make_context(asset_state_store=MemoryStore()))
    assert api.log("GET") == []


def test_dag_params_do_not_leak_into_query(api, tmp_path):
    with DAG("with_params", schedule=None, params={"env": "prod"}):
        op = make_op(
            tmp_path,
            paginator=CursorPaginator("response_metadata.next_cursor"),
            endpoint="/paged/cursor/contacts",
        )
    assert op.query == {"limit": 10}
    assert op.params["env"] == "prod"  # Airflow params still reach templates
    op.execute(make_context())
    assert all("env" not in r.query for r in api.log("GET"))


@pytest.mark.parametrize(
    ("style", "match"),
    [("loop", "PaginationLoopError"), ("foreign", "ForeignHostError")],
)
def test_loop_and_foreign_host_fail_without_wasting_retries(api, tmp_path, style, match):
    op = make_op(tmp_path, endpoint=f"/paged/{style}/contacts")
    with pytest.raises(AirflowFailException, match=match):
        op.execute(make_context())
    assert len(api.log("GET")) == (2 if style == "loop" else 1)
