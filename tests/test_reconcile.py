"""ApiReconcileOperator: seeded drift found exactly (counts and keys), and repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from push_helpers import API_KEY, people, task_context

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.pagination import OffsetPaginator
from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPushOperator, ApiReconcileOperator
from airflow_provider_apisync.testing import FakeApi

N = 200
MISSING = {"P00010", "P00020", "P00055", "P00101", "P00150", "P00199", "P00200"}
DIFFERENT = {"P00003": {"score": -1}, "P00042": {"email": "changed@example.test"}}
DIFFERENT |= {"P00077": {"name": "Renamed"}, "P00120": {"score": 0.5}, "P00180": {"name": None}}
EXTRA = {"P90001", "P90002", "P90003"}


def seeded_target() -> list[dict]:
    rows = []
    for record in people(N):
        if record["ext_id"] in MISSING:
            continue
        rows.append({**record, **DIFFERENT.get(record["ext_id"], {})})
    rows += [{"ext_id": k, "name": "stray", "email": "s@x", "score": 0} for k in sorted(EXTRA)]
    return rows


@pytest.fixture
def api(set_conn):
    with FakeApi() as server:
        server.seed("people", seeded_target(), key="ext_id")
        set_conn("crm", server.url, password=API_KEY, extra={"auth_type": "api_key"})
        yield server


def reconcile(tmp_path, **kwargs) -> ApiReconcileOperator:
    args = {
        "task_id": "reconcile",
        "apisync_conn_id": "crm",
        "records": people(N),
        "endpoint": "/people",
        "record_key": "ext_id",
        "output": str(tmp_path),
    }
    args.update(kwargs)
    return ApiReconcileOperator(**args)


def report_lines(summary) -> list[dict]:
    path = summary["report"].removeprefix("file://")
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def by_kind(lines, kind) -> set[str]:
    return {line["key"][0] for line in lines if line["kind"] == kind}


def test_finds_seeded_drift_exactly(api, tmp_path):
    summary = reconcile(tmp_path).execute(task_context())
    assert (summary["source"], summary["target"]) == (N, N - len(MISSING) + len(EXTRA))
    assert summary["missing"] == len(MISSING)
    assert summary["different"] == len(DIFFERENT)
    assert summary["extra"] == len(EXTRA)
    assert summary["matched"] == N - len(MISSING) - len(DIFFERENT)
    assert summary["duplicate"] == 0 and summary["drift"] == 15
    assert summary["compare_fields"] == ["email", "name", "score"]  # key and server fields out

    lines = report_lines(summary)
    assert len(lines) == 15
    assert by_kind(lines, "missing") == MISSING
    assert by_kind(lines, "different") == set(DIFFERENT)
    assert by_kind(lines, "extra") == EXTRA
    diffs = {line["key"][0]: line for line in lines if line["kind"] == "different"}
    assert {k: d["fields"] for k, d in diffs.items()} == {k: list(v) for k, v in DIFFERENT.items()}
    assert diffs["P00042"]["target"]["email"] == "changed@example.test"
    assert diffs["P00042"]["record"]["email"] == "p42@example.test"  # what a repush sends
    counts = json.loads(Path(summary["counts"].removeprefix("file://")).read_text())
    assert counts["missing"] == len(MISSING) and counts["report"] == summary["report"]


def test_on_drift_fail_fails_after_writing_the_report(api, tmp_path):
    with pytest.raises(AirflowFailException, match="7 missing, 5 different, 3 extra"):
        reconcile(tmp_path, on_drift="fail").execute(task_context())
    [report] = tmp_path.rglob("report.jsonl")
    assert len(report.read_text().splitlines()) == 15


def test_repush_repairs_missing_and_different_only(api, tmp_path):
    op = reconcile(
        tmp_path,
        on_drift="repush",
        repush={"endpoint": "/people/{ext_id}", "method": "PUT", "concurrency": 4},
    )
    summary = op.execute(task_context())
    assert summary["repush"]["pushed"] == len(MISSING) + len(DIFFERENT)
    puts = api.log("PUT")
    assert sorted(r.path.rsplit("/", 1)[1] for r in puts) == sorted(MISSING | set(DIFFERENT))
    assert all(r.headers.get("Idempotency-Key", "").startswith("as1-") for r in puts)

    again = reconcile(tmp_path / "after").execute(task_context())
    assert (again["missing"], again["different"], again["matched"]) == (0, 0, N)
    assert again["extra"] == len(EXTRA)  # extras are reported, never deleted


def test_repair_is_a_new_write_even_when_the_original_keys_are_still_stored(api, tmp_path):
    """The repush keys are scoped to the reconcile run: a server that still remembers the
    original push's keys must not answer the repair with a replay of the old write."""
    api.seed("people", [], key="ext_id")
    push = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people/{ext_id}",
        method="PUT",
        records=people(N),
        record_key="ext_id",
    )
    push.execute(task_context())
    for key in MISSING:
        api.collections["people"].delete(key)  # someone deleted them at the target
    replayed_before = api.idempotency.replayed

    summary = reconcile(
        tmp_path, on_drift="repush", repush={"endpoint": "/people/{ext_id}", "method": "PUT"}
    ).execute(task_context())
    assert summary["missing"] == len(MISSING) and summary["repush"]["pushed"] == len(MISSING)
    assert api.idempotency.replayed == replayed_before
    assert len(api.collections["people"]) == N


def test_duplicates_composite_keys_and_number_normalisation(tmp_path, set_conn):
    target = [
        {"id": 1, "org": "a", "ref": 1, "amount": 10.0},
        {"id": 2, "org": "a", "ref": 2, "amount": 20},
        {"id": 3, "org": "a", "ref": 2, "amount": 20},  # the same business key twice
        {"id": 4, "org": "b", "ref": 1, "amount": 5},
    ]
    source = [
        {"org": "a", "ref": "1", "amount": 10},  # "1" == 1 as a key, 10 == 10.0 as a value
        {"org": "a", "ref": 2, "amount": 20},
        {"org": "b", "ref": 1, "amount": 6},
    ]
    with FakeApi() as api:
        api.seed("ledger", target)
        set_conn("crm", api.url, password=API_KEY, extra={"auth_type": "api_key"})
        summary = reconcile(
            tmp_path,
            records=source,
            endpoint="/ledger",
            record_key=["org", "ref"],
            paginator=OffsetPaginator(limit=2),
            records_path="data",
        ).execute(task_context())
        assert summary["requests"] >= 2  # paged through, two records per page
    assert (summary["matched"], summary["different"], summary["duplicate"]) == (2, 1, 1)
    lines = report_lines(summary)
    assert [(line["kind"], line["key"]) for line in lines] == [
        ("duplicate", ["a", "2"]),
        ("different", ["b", "1"]),
    ]
    assert lines[1]["fields"] == ["amount"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"on_drift": "repush"}, "repush"),
        ({"repush": {"endpoint": "/x", "retries": 3}}, "repush"),
        ({"on_drift": "fix"}, "on_drift"),
        ({"target_key": ["a", "b"]}, "target_key"),
        ({"on_drift": "repush", "repush": {"endpoint": "/x/{id}", "batch_size": 5}}, "repush"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(ApiConfigError, match=f"^{field}"):
        ApiReconcileOperator(
            task_id="r", records=[], endpoint="/people", record_key="ext_id", **kwargs
        )


def test_pull_then_push_then_reconcile_with_the_real_pull_output(tmp_path, set_conn):
    """The pull's XCom manifest and output folder are push and reconcile inputs as they are."""
    from pull_support import MemoryStore, make_context

    from airflow_provider_apisync.operators import ApiPullOperator

    with FakeApi(seed={"contacts": 250}) as api:
        set_conn("crm", api.url, password=API_KEY, extra={"auth_type": "api_key"})
        manifest = ApiPullOperator(
            task_id="pull",
            apisync_conn_id="crm",
            endpoint="/contacts",
            output=f"file://{tmp_path}/pull",
            part_size=4096,  # several part files
        ).execute(make_context(task_state_store=MemoryStore()))
        assert len(manifest["files"]) > 1
        pushed = ApiPushOperator(
            task_id="push",
            apisync_conn_id="crm",
            records=manifest,  # the XCom dict itself
            endpoint="/mirror/{id}",
            method="PUT",
            record_key="id",
        ).execute(task_context())
        assert pushed["pushed"] == 250
        api.collections["mirror"].delete(17)
        summary = reconcile(
            tmp_path,
            records=manifest["uri"],  # the folder
            endpoint="/mirror",
            record_key="id",
        ).execute(task_context())
    assert (summary["matched"], summary["missing"], summary["samples"]) == (
        249,
        1,
        {"missing": [["17"]]},
    )
