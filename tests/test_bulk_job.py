"""ApiBulkJobOperator against FakeApi's bulk jobs (Salesforce- and HubSpot-shaped).

Units call ``execute()`` directly with a hand-built context; deferrals are resumed the way
the task runner does it (``resume_execution`` with the trigger's event and nothing else,
like ``airflow dags test``). One DAG runs under a real ``airflow dags test`` at the end.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import conn_json

from airflow_provider_apisync.bulk import formats as fmt
from airflow_provider_apisync.bulk.state import STATE_FILE, STATE_KEY
from airflow_provider_apisync.client import ApiConfigError, ApiContractError, ApiServerError
from airflow_provider_apisync.compat import (
    AIRFLOW_V_3_3_PLUS,
    AirflowFailException,
    Asset,
    DateTimeTrigger,
    ObjectStoragePath,
    OutletEventAccessors,
    TaskDeferred,
)
from airflow_provider_apisync.operators import (
    ApiBulkJobOperator,
    BulkPolling,
    BulkResults,
    BulkStates,
    BulkUpload,
)
from airflow_provider_apisync.operators.bulk import BulkJobTimeout
from airflow_provider_apisync.recordio.jsonl import iter_jsonl
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.dagrun import AirflowEnv
from airflow_provider_apisync.testing.fakeapi.bulk import install_bulk_routes

API_KEY = "test-api-key-0001"
CONTACTS = 30
LEADS = 23
EXAMPLE = Path(__file__).resolve().parents[1] / "example_dags" / "bulk_export_example.py"


# -- helpers ----------------------------------------------------------------------------
class MemoryStore:
    """Stands in for ``context["task_state_store"]``; values round-trip through JSON."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key, default=None):
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key, value, **_):
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = json.dumps(value)

    def delete(self, key):
        self.data.pop(key, None)


def make_context(store: MemoryStore | None, *, try_number: int = 1, run_id: str = "manual__1"):
    now = datetime.now(timezone.utc)
    ti = SimpleNamespace(
        dag_id="bulk_dag",
        task_id="bulk",
        run_id=run_id,
        map_index=-1,
        try_number=try_number,
        start_date=now,
    )
    context = {
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_id=run_id, dag_id=ti.dag_id),
        "logical_date": now,
        "data_interval_start": now - timedelta(days=1),
        "data_interval_end": now,
        "outlet_events": OutletEventAccessors(),
    }
    if store is not None:
        context["task_state_store"] = store
    return context


def read_output(manifest):
    records = []
    for uri in manifest["files"]:
        with ObjectStoragePath(uri).open("rb") as fileobj:
            records.extend(iter_jsonl(fileobj))
    return records


def leads(count: int = LEADS):
    return [
        {
            "LastName": f"Lead {i}",
            "Email": f"lead{i}@example.test",
            "Company": "Acme, Inc." if i % 2 else 'The "Best" Co',
            "Notes": f"first line\nsecond line {i}",
        }
        for i in range(1, count + 1)
    ]


def write_jsonl(path: Path, records) -> str:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return f"file://{path}"


def ingest_op(tmp_path, upload_uri, *, columns=None, poll=None, **kwargs):
    kwargs.setdefault("apisync_conn_id", "bulk")
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("output", f"file://{tmp_path}/out")
    obj = kwargs.pop("object_name", "Lead")
    return ApiBulkJobOperator(
        task_id="bulk",
        create_endpoint="/jobs/ingest",
        create_body={"object": obj, "operation": "insert", "contentType": "CSV"},
        upload=BulkUpload(
            records=upload_uri,
            endpoint="/jobs/ingest/{job_id}/batches",
            columns=columns,
            chunk_records=10,
            complete_endpoint="/jobs/ingest/{job_id}",
        ),
        status_endpoint="/jobs/ingest/{job_id}",
        results=BulkResults(
            endpoint="/jobs/ingest/{job_id}/successfulResults", query={"maxRecords": 5}
        ),
        polling=BulkPolling(**{"interval": 0.01, **(poll or {})}),
        **kwargs,
    )


def export_op(tmp_path, *, running=("PENDING", "PROCESSING"), poll=None, **kwargs):
    kwargs.setdefault("apisync_conn_id", "bulk_files")
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("output", f"file://{tmp_path}/out")
    kwargs.setdefault("status_path", "status")
    body = {
        "exportType": "VIEW",
        "format": kwargs.pop("export_format", "CSV"),
        "objectType": "CONTACT",
        "objectProperties": ["email", "name"],
    }
    return ApiBulkJobOperator(
        task_id="bulk",
        create_endpoint="/exports",
        create_body=body,
        status_endpoint="/exports/{job_id}/status",
        states=BulkStates(running=list(running)),
        results=BulkResults(urls_path="result"),
        polling=BulkPolling(**{"interval": 0.01, **(poll or {})}),
        **kwargs,
    )


def logged(caplog, capfd) -> str:
    return caplog.text + capfd.readouterr().out  # the task logger writes via structlog


# -- servers ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files_host():
    with FakeApi() as host:
        yield host


@pytest.fixture(scope="module")
def api(files_host):
    with FakeApi(seed={"contacts": CONTACTS}) as server:
        server.bulk = install_bulk_routes(server, file_host=files_host)
        yield server


@pytest.fixture(autouse=True)
def fresh(api, files_host, monkeypatch):
    bulk = api.bulk
    bulk.polls_per_state, bulk.seconds_per_state, bulk.files_per_export = 1, None, 1
    bulk.reset()
    for server in (api, files_host):
        server.faults.clear()
        server.clear_log()
    api.seed("leads", [])
    extra = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}
    monkeypatch.setenv("AIRFLOW_CONN_BULK", conn_json(api.url, password=API_KEY, extra=extra))
    files = {**extra, "allowed_hosts": [files_host.origin]}
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FILES", conn_json(api.url, password=API_KEY, extra=files))


def ok(api, method, path_part):
    return [r for r in api.log(method) if path_part in r.path and r.status and r.status < 400]


# -- success ----------------------------------------------------------------------------
def test_ingest_job_polled_several_times_yields_the_exact_records(api, tmp_path, caplog, capfd):
    caplog.set_level(logging.INFO)
    api.bulk.polls_per_state = 2  # UploadComplete x2, InProgress x2, then JobComplete
    source = leads()
    store = MemoryStore()
    op = ingest_op(tmp_path, write_jsonl(tmp_path / "leads.jsonl", source))
    manifest = op.execute(make_context(store))

    (job,) = api.bulk.created("ingest")
    assert manifest["job_id"] == job.id and manifest["job_state"] == "JobComplete"
    assert manifest["polls"] == 5 == job.polls
    assert len(ok(api, "PUT", "/batches")) == 3 and job.uploads == 3  # 10 + 10 + 3 records
    assert [json.loads(r.body) for r in api.log("PATCH")] == [{"state": "UploadComplete"}]
    assert manifest["uploaded_records"] == LEADS and manifest["upload_chunks"] == 3

    records = read_output(manifest)
    created = {str(r["id"]): r for r in api.collections["leads"].all()}
    assert len(records) == LEADS == manifest["records"]
    assert sorted(r["sf__Id"] for r in records) == sorted(created)  # exactly the new ids
    assert [{k: r[k] for k in source[0]} for r in records] == source  # quotes, commas, newlines
    assert all(created[r["sf__Id"]]["Email"] == r["Email"] for r in records)
    results = ok(api, "GET", "/successfulResults")
    assert manifest["pages"] == 5 == len(results)
    assert [r.query.get("locator") for r in results][0] is None
    assert manifest["requests"] == 1 + 3 + 1 + 5 + 5  # create, chunks, close, polls, pages

    for key in ("uri", "files", "records", "pages", "retries", "throttled", "duration_s"):
        assert key in manifest
    on_disk = json.loads(ObjectStoragePath(manifest["uri"] + "/_manifest.json").read_bytes())
    assert on_disk["files"] == manifest["files"] and on_disk["job_id"] == job.id
    assert manifest["job_info"]["numberRecordsProcessed"] == LEADS
    assert STATE_KEY not in store.data  # cleared once the output is complete
    logs = logged(caplog, capfd)
    # one summary (Airflow 3.0 also echoes task log lines to stderr: count distinct ones)
    summary = {
        line[line.index("apisync-summary") :]
        for line in logs.splitlines()
        if "apisync-summary" in line
    }
    assert len(summary) == 1 and f'"job_id": "{job.id}"' in summary.pop()
    assert API_KEY not in logs and API_KEY not in json.dumps(manifest)


def test_export_downloads_every_result_url_on_an_allowed_file_host(api, files_host, tmp_path):
    api.bulk.files_per_export = 3
    op = export_op(tmp_path, outlets=[Asset("apisync://crm/contacts_export")])
    context = make_context(MemoryStore())
    manifest = op.execute(context)

    assert manifest["job_state"] == "COMPLETE" and manifest["polls"] == 3
    assert manifest["pages"] == 3 == len(files_host.log("GET"))
    records = read_output(manifest)
    assert sorted(int(r["Record ID"]) for r in records) == list(range(1, CONTACTS + 1))
    assert records[0] == {
        "Record ID": "1",
        "email": "contacts1@example.test",
        "name": "contact 1",
    }
    event = context["outlet_events"][Asset("apisync://crm/contacts_export")]
    assert event.extra["records"] == CONTACTS and event.extra["job_id"] == manifest["job_id"]


def test_export_to_a_host_outside_allowed_hosts_is_refused(api, files_host, tmp_path):
    op = export_op(tmp_path, apisync_conn_id="bulk")  # no allowed_hosts
    with pytest.raises(AirflowFailException, match="allowed_hosts"):
        op.execute(make_context(MemoryStore()))
    assert files_host.log() == []  # no credential ever left for the file host


def test_jsonl_results_keep_their_types(api, tmp_path):
    manifest = export_op(tmp_path, export_format="JSONL").execute(make_context(MemoryStore()))
    records = read_output(manifest)
    assert [r["Record ID"] for r in records] == list(range(1, CONTACTS + 1))


def test_upload_streams_a_pull_output_folder_with_selected_columns(api, tmp_path):
    from airflow_provider_apisync.operators import ApiPullOperator

    pull = ApiPullOperator(
        task_id="pull",
        apisync_conn_id="bulk",
        endpoint="/contacts",
        query={"limit": 10},
        output=f"file://{tmp_path}/pulled",
        part_size=1000,
    )
    pulled = pull.execute(make_context(MemoryStore()))
    assert len(pulled["files"]) > 1
    op = ingest_op(tmp_path, pulled["uri"], columns=["name", "email"])
    manifest = op.execute(make_context(MemoryStore()))
    records = read_output(manifest)
    assert [(r["name"], r["email"]) for r in records] == [
        (c["name"], c["email"]) for c in api.collections["contacts"].all()
    ]
    assert set(records[0]) == {"sf__Id", "sf__Created", "name", "email"}  # amount etc. left out


# -- failure ----------------------------------------------------------------------------
def test_failed_ingest_job_fails_the_task_with_the_job_error_message(api, tmp_path):
    source = [{"name": f"n{i}", "email": f"n{i}@example.test", "Foo__c": "x"} for i in range(3)]
    op = ingest_op(tmp_path, write_jsonl(tmp_path / "in.jsonl", source), object_name="Contact")
    store = MemoryStore()
    with pytest.raises(AirflowFailException) as failed:
        op.execute(make_context(store))
    (job,) = api.bulk.created()
    assert str(failed.value) == (
        f"bulk job {job.id} ended in state Failed: InvalidBatch : Field name not found : Foo__c"
    )
    assert job.state == "Failed" and job.polls == 3
    assert ok(api, "GET", "/successfulResults") == []
    assert store.get(STATE_KEY)["phase"] == "failed"


def test_canceled_export_fails_and_a_rerun_starts_a_new_job(api, tmp_path):
    api.bulk.fail_next("Export failed: property 'email' is archived", kind="export")
    store = MemoryStore()
    with pytest.raises(AirflowFailException, match="ended in state CANCELED: Export failed"):
        export_op(tmp_path).execute(make_context(store))
    manifest = export_op(tmp_path).execute(make_context(store, try_number=2))
    first, second = api.bulk.created("export")
    assert first.state == "CANCELED" and manifest["job_id"] == second.id
    assert manifest["job_reused"] is False and manifest["records"] == CONTACTS


def test_status_without_the_state_path_fails_with_a_fix(api, tmp_path):
    op = export_op(tmp_path, status_path="job.state")
    with pytest.raises(AirflowFailException, match="status_path 'job.state'.*Fix: set status_path"):
        op.execute(make_context(MemoryStore()))


def test_unlisted_state_fails_fast_when_running_states_are_given(api, tmp_path):
    op = export_op(tmp_path, running=["PENDING"])
    with pytest.raises(AirflowFailException, match="'PROCESSING', which is in none"):
        op.execute(make_context(MemoryStore()))


def test_timeout_is_retryable_and_keeps_the_job(api, tmp_path):
    api.bulk.polls_per_state = 1000
    store = MemoryStore()
    op = export_op(tmp_path, poll={"interval": 0.05, "timeout": 0.3})
    with pytest.raises(BulkJobTimeout, match="still PENDING") as timed_out:
        op.execute(make_context(store))
    assert not isinstance(timed_out.value, AirflowFailException)
    assert store.get(STATE_KEY)["job_id"] == api.bulk.created()[0].id


def test_bad_configuration_is_refused_at_parse_time():
    base = {"task_id": "t", "create_endpoint": "/jobs"}
    with pytest.raises(ApiConfigError, match="status_endpoint.*{job_id}"):
        ApiBulkJobOperator(status_endpoint="/jobs/status", **base)
    with pytest.raises(ApiConfigError, match="upload.endpoint.*{job_id}"):
        BulkUpload("file:///x.jsonl", "/jobs/batches")
    with pytest.raises(ApiConfigError, match="results.urls_path: is required"):
        BulkResults(mode="urls")
    with pytest.raises(ApiConfigError, match="states.failure: shares"):
        BulkStates(success=["Done"], failure=["done"])
    with pytest.raises(ApiConfigError, match="polling.backoff"):
        BulkPolling(backoff=0.5)
    with pytest.raises(ApiConfigError, match="upload: must be a BulkUpload"):
        ApiBulkJobOperator(status_endpoint="/jobs/{job_id}", upload="file:///x.jsonl", **base)


def test_spec_objects_fields_are_templated():
    op = ApiBulkJobOperator(
        task_id="t",
        create_endpoint="/jobs",
        status_endpoint="/jobs/{job_id}",
        upload=BulkUpload(records="{{ src }}", endpoint="/jobs/{job_id}/batches"),
        results=BulkResults(endpoint="/jobs/{job_id}/results", query={"since": "{{ ds }}"}),
    )
    op.render_template_fields({"src": "file:///in.jsonl", "ds": "2026-01-01"})
    assert op.upload.records == "file:///in.jsonl"
    assert op._spec().results_params == {"since": "2026-01-01"}


def test_flat_arguments_of_before_the_spec_objects_name_their_new_place():
    base = {"task_id": "t", "create_endpoint": "/jobs", "status_endpoint": "/jobs/{job_id}"}
    with pytest.raises(ApiConfigError, match=r"upload_endpoint: .*BulkUpload\(endpoint=") as e:
        ApiBulkJobOperator(upload_endpoint="/jobs/{job_id}/batches", **base)
    assert "has no argument 'upload_endpoint'" in str(e.value)
    with pytest.raises(ApiConfigError, match=r"timeout: .*BulkPolling\(timeout="):
        ApiBulkJobOperator(timeout=60, **base)
    with pytest.raises(ApiConfigError, match=r"results_params: .*BulkResults\(query="):
        ApiBulkJobOperator(results_params={"a": 1}, **base)


# -- deferral ---------------------------------------------------------------------------
def resume(op, context):
    """Resume like the task runner after the trigger fired: only the event, no kwargs."""
    return op.resume_execution("execute_complete", {"event": None}, context)


@pytest.mark.parametrize("store", [MemoryStore, None], ids=["task_state_store", "file"])
def test_deferrable_job_defers_between_polls_and_resumes_from_stored_state(api, tmp_path, store):
    api.bulk.polls_per_state = 2
    op = export_op(tmp_path, deferrable=True, poll={"interval": 2, "backoff": 1.5})
    context = make_context(store() if store else None)
    moments, waits = [], []
    call = lambda: op.execute(context)  # noqa: E731
    for _ in range(10):
        started = time.time()
        try:
            manifest = call()
            break
        except TaskDeferred as deferred:
            trigger = deferred.trigger
            assert isinstance(trigger, DateTimeTrigger)
            assert deferred.method_name == "execute_complete" and not deferred.kwargs
            assert timedelta(hours=24) < deferred.timeout < timedelta(hours=24, minutes=2)
            assert set(trigger.serialize()[1]) == {"moment", "end_from_trigger"}
            moments.append(trigger.moment.timestamp())
            waits.append(trigger.moment.timestamp() - started)
            call = lambda: resume(op, context)  # noqa: E731
    else:
        pytest.fail("still deferring")
    # PENDING x2, PROCESSING x2, COMPLETE: four deferrals, waits growing by 1.5x
    assert len(moments) == 4 and manifest["polls"] == 5
    for got, want in zip(waits, [2.0, 3.0, 4.5, 6.75], strict=True):
        assert want <= got <= want + 0.5
    assert len(api.log("POST", "/exports")) == 1  # resumes never create a job
    assert len(read_output(manifest)) == CONTACTS
    if store is None:  # before Airflow 3.3: the record lived next to the output, now gone
        assert manifest["checkpoint"] == "file"
        assert not ObjectStoragePath(f"file://{tmp_path}/out/{STATE_FILE}").exists()


def test_resume_without_stored_state_fails_clearly(api, tmp_path):
    op = export_op(tmp_path, deferrable=True)
    with pytest.raises(AirflowFailException, match="state is missing"):
        resume(op, make_context(MemoryStore()))


# -- retries ----------------------------------------------------------------------------
def test_retried_task_reuses_the_job_instead_of_creating_another(api, tmp_path):
    api.bulk.polls_per_state = 2
    api.faults.add("status", path="/status", after=2, status=503)  # outage after 2 polls
    store = MemoryStore()
    with pytest.raises(ApiServerError):  # retryable: Airflow would retry the task
        export_op(tmp_path).execute(make_context(store))
    job_id = store.get(STATE_KEY)["job_id"]
    api.faults.clear()
    manifest = export_op(tmp_path).execute(make_context(store, try_number=2))
    assert len(api.log("POST", "/exports")) == 1
    assert manifest["job_id"] == job_id and manifest["job_reused"] is True
    assert manifest["polls"] == 5  # counted across both tries
    assert manifest["retries"] == 1  # the failed poll of try 1 was retried once


def test_upload_interrupted_mid_way_resumes_without_duplicates(api, tmp_path):
    upload = write_jsonl(tmp_path / "leads.jsonl", leads())
    api.faults.add("status", method="PUT", path="/batches", after=1, status=503)
    store = MemoryStore()
    with pytest.raises(ApiServerError):
        ingest_op(tmp_path, upload).execute(make_context(store))
    assert store.get(STATE_KEY)["uploaded_chunks"] == 1
    api.faults.clear()
    manifest = ingest_op(tmp_path, upload).execute(make_context(store, try_number=2))
    assert len(ok(api, "PUT", "/batches")) == 3  # chunk 1 was not sent again
    assert len(api.log("POST", "/jobs/ingest")) == 1
    assert len(api.log("PATCH")) == 1
    assert manifest["records"] == LEADS == len(api.collections["leads"])
    assert sorted(r["Email"] for r in read_output(manifest)) == sorted(r["Email"] for r in leads())


def test_download_interrupted_resumes_at_the_next_page(api, tmp_path):
    upload = write_jsonl(tmp_path / "leads.jsonl", leads())
    api.faults.add("status", path="/successfulResults", after=2, status=503)
    store = MemoryStore()
    with pytest.raises(ApiServerError):
        ingest_op(tmp_path, upload).execute(make_context(store))
    api.faults.clear()
    manifest = ingest_op(tmp_path, upload).execute(make_context(store, try_number=2))
    pages = ok(api, "GET", "/successfulResults")
    assert len(pages) == 5 and manifest["pages"] == 5  # pages 1-2 were not fetched again
    assert manifest["resumed_download"] is True
    records = read_output(manifest)
    assert sorted(r["sf__Id"] for r in records) == sorted(
        str(r["id"]) for r in api.collections["leads"].all()
    )


def test_retry_after_the_upload_does_not_close_the_job_twice(api, tmp_path):
    api.bulk.polls_per_state = 3
    upload = write_jsonl(tmp_path / "leads.jsonl", leads(4))
    api.faults.add("status", method="GET", path="/jobs/ingest/", status=503)  # first poll fails
    store = MemoryStore()
    with pytest.raises(ApiServerError):
        ingest_op(tmp_path, upload).execute(make_context(store))
    record = store.get(STATE_KEY)
    record["phase"] = "uploaded"  # as if the worker died right after the PATCH was sent
    store.set(STATE_KEY, record)
    api.faults.clear()
    manifest = ingest_op(tmp_path, upload).execute(make_context(store, try_number=2))
    assert len(api.log("PATCH")) == 1 and manifest["records"] == 4


def test_create_is_retried_only_with_an_idempotency_key(api, tmp_path):
    api.faults.add("status", method="POST", path="/exports", times=1, status=503)
    with pytest.raises(ApiServerError):  # a POST without a key is never re-sent
        export_op(tmp_path).execute(make_context(MemoryStore()))
    assert len(api.log("POST", "/exports")) == 1 and api.bulk.created() == []

    api.faults.add("status", method="POST", path="/exports", times=1, status=503)
    op = export_op(tmp_path, idempotency_header="Idempotency-Key")
    manifest = op.execute(make_context(MemoryStore()))
    first, second = api.log("POST", "/exports")[1:]
    key = first.headers.get("Idempotency-Key")
    assert key and key == second.headers.get("Idempotency-Key")  # the same key on the retry
    assert [r.status for r in (first, second)] == [503, 202]
    assert len(api.bulk.created()) == 1 and manifest["retries"] == 1


# -- formats ----------------------------------------------------------------------------
def test_upload_chunks_bound_records_and_bytes_and_repeat_the_header():
    records = [{"id": i, "name": f"n{i}", "tags": ["a"], "ok": True, "no": None} for i in range(7)]
    chunks = list(fmt.upload_chunks(records, fmt="csv", chunk_records=3, chunk_bytes=None))
    assert [c.records for c in chunks] == [3, 3, 1]
    assert all(c.body.startswith(b"id,name,tags,ok,no\n") for c in chunks)
    assert chunks[0].body.splitlines()[1] == b'0,n0,"[""a""]",true,'
    by_bytes = list(fmt.upload_chunks(records, fmt="jsonl", chunk_records=None, chunk_bytes=120))
    assert sum(c.records for c in by_bytes) == 7 and len(by_bytes) > 1
    assert all(len(c.body) <= 120 for c in by_bytes)
    with pytest.raises(ApiContractError, match=r"record 2 has field\(s\) \['extra'\]"):
        list(fmt.upload_chunks([{"a": 1}, {"a": 2, "extra": 3}], fmt="csv", chunk_records=5,
                               chunk_bytes=None))  # fmt: skip


def test_csv_results_parse_across_chunk_boundaries():
    body = '\ufeff"Id","Name"\n"1","Zoë ""Z"" Smith"\n"2","multi\nline"\n'.encode()
    chunks = [body[i : i + 3] for i in range(0, len(body), 3)]  # splits inside "ë" too
    rows = list(fmt.csv_records(fmt.text_lines(chunks), source="t"))
    assert rows == [{"Id": "1", "Name": 'Zoë "Z" Smith'}, {"Id": "2", "Name": "multi\nline"}]
    packed = gzip.compress(b'{"a": 1}\n{"a": 2}\n')
    lines = fmt.byte_lines(fmt.gunzip_chunks([packed[:5], packed[5:]]))
    assert list(fmt.jsonl_records(lines, source="t")) == [{"a": 1}, {"a": 2}]
    octets = "application/octet-stream"
    assert fmt.result_format("auto", octets, "https://s3.example/x/part.csv.gz") == "csv"
    with pytest.raises(ApiContractError, match=r"set BulkResults\(format=\)"):
        fmt.result_format("auto", "application/octet-stream", "https://s3/x/blob")


# -- a real Airflow ---------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_example_dag_defers_under_airflow_dags_test(api, tmp_path_factory):
    root = tmp_path_factory.mktemp("bulk-dags")
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    conn = conn_json(api.url, password="test-bearer-token-0001", extra={"auth_type": "bearer"})
    env = AirflowEnv(root / "home", dags, env={"AIRFLOW_CONN_APISYNC_SALESFORCE": conn}).setup()
    api.bulk.seconds_per_state = 2.0  # UploadComplete, InProgress, then done after 4 s
    result = env.dags_test("apisync_bulk_export")
    assert result.ok, result.output[-6000:]
    (job,) = api.bulk.created("query")
    assert job.state == "JobComplete" and job.polls == 2
    # the wait (poll_interval 5 s) ran as a trigger; the task resumed from the task state store
    assert result.output.count("running trigger in line") == 1
    assert "deferring 5.0s" in result.output
    summary = next(line for line in result.output.splitlines() if "apisync-summary" in line)
    manifest, _ = json.JSONDecoder().raw_decode(summary.split("apisync-summary ", 1)[1])
    # Airflow < 3.3 has no task state store: the job state lives in a file (degraded, logged)
    store = "task_state_store" if AIRFLOW_V_3_3_PLUS else "file"
    assert manifest["job_id"] == job.id and manifest["checkpoint"] == store
    assert manifest["polls"] == 2 and manifest["records"] == CONTACTS
    assert manifest["duration_s"] >= 5.0  # measured across the deferral
    records = read_output(manifest)
    assert sorted(int(r["Id"]) for r in records) == list(range(1, CONTACTS + 1))
    assert "'records': 30" in result.output  # the manifest reached the downstream task
