"""Every example DAG runs green under ``airflow dags test`` against the demo world.

One world (CRM, ERP, helpdesk, analytics; chaos on: 503s, dropped connections, lost
acknowledgements, rate limits) runs in this process for the whole module; one migrated
AIRFLOW_HOME serves every DAG, run in the same two lanes as ``make demo``. The tests then
check what each integration did to the systems, not only that Airflow said "success".
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_apisync.compat import ObjectStoragePath
from airflow_provider_apisync.recordio.jsonl import iter_jsonl
from airflow_provider_apisync.testing.dagrun import AirflowEnv, DagTestResult
from demo.world import World, WorldConfig, running_world
from demo.world import seed as world_seed
from demo.world.examples import (
    SKIP,
    before_dag,
    dag_args,
    dag_files,
    plan_lanes,
    task_summaries,
)
from demo.world.lanes import run_lanes

pytestmark = pytest.mark.timeout(900)

DAGS = Path(__file__).resolve().parents[1] / "example_dags"
CRM_STAGE = {
    "new": "new",
    "open": "waiting_on_us",
    "pending": "waiting_on_customer",
    "solved": "closed",
    "closed": "closed",
}


@pytest.fixture(scope="module")
def world():
    with running_world(WorldConfig()) as started:
        yield started


@pytest.fixture(scope="module")
def runs(world: World, tmp_path_factory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("example-dags") / "home"
    env = AirflowEnv(home, DAGS, env=world.env()).setup()
    files, errors = dag_files(env)
    results = run_lanes(
        env,
        plan_lanes(files),
        before=lambda dag_id: before_dag(world, dag_id),
        args=lambda dag_id: dag_args(world, dag_id, files),
    )
    return {"files": files, "errors": errors, "results": results}


def result(runs: dict[str, Any], dag_id: str) -> DagTestResult:
    outcome = runs["results"][dag_id]
    assert outcome.ok, outcome.output[-8000:]
    return outcome


def read_jsonl(uris: list[str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for uri in uris:
        with ObjectStoragePath(uri).open("rb") as fh:
            records += list(iter_jsonl(fh, source=uri))
    return records


def test_every_example_dag_imports_and_runs_green(runs):
    assert runs["errors"] == {}
    expected = {
        "crm_contacts_to_erp",
        "invoices_to_erp",
        "ticket_sync",
        "ticket_comments",
        "analytics_daily",
        "analytics_report",
        "hello_apisync",
        "apisync_rate_limit_window",
    }
    assert expected <= set(runs["files"])
    assert set(runs["results"]) == set(runs["files"]) - set(SKIP)
    failed = {d: r.output[-3000:] for d, r in runs["results"].items() if not r.ok}
    assert not failed, failed


def test_crm_contacts_to_erp_makes_erp_customers_match_crm_customers(runs, world):
    out = result(runs, "crm_contacts_to_erp")
    contacts = world["crm"].api.collection("contacts").all()
    customers = {c["id"]: c for c in contacts if c["lifecycle_stage"] == "customer"}
    erp = {r["customer_number"]: r for r in world["erp"].api.collection("customers").all()}
    assert set(erp) == {world_seed.customer_number(i) for i in customers}
    for number, record in erp.items():
        contact = customers[record["crm_id"]]
        assert number == world_seed.customer_number(contact["id"])
        assert record["name"] == f"{contact['firstname']} {contact['lastname']}"
        assert record["email"] == contact["email"]  # the 5 stale addresses were overwritten
        assert record["country"] == contact["country"]
    summaries = task_summaries(out.output)
    assert summaries["pull_contacts"]["records"] == len(contacts)
    assert summaries["upsert_customers"]["pushed"] == len(customers)
    assert summaries["upsert_customers"]["failed"] == 0
    assert summaries["reconcile"]["drift"] == 0
    assert summaries["reconcile"]["matched"] == len(customers)


def test_crm_quota_deferred_until_the_window_the_crm_announced(runs, world):
    out = result(runs, "crm_contacts_to_erp")
    gate = world.gates["crm"]
    assert gate.refused_at is not None and gate.retry_after is not None
    assert "running trigger in line" in out.output  # the sensor deferred
    probes = [r for r in world["crm"].api.log("GET", "/contacts") if not r.query]
    refused = [r for r in probes if r.status == 429]
    assert refused and refused[0].at == gate.refused_at
    reopened = [r for r in probes if r.at > gate.refused_at and r.status == 200]
    assert reopened, "the sensor never checked again"
    assert reopened[0].at >= gate.refused_at + gate.retry_after  # not before the reset
    pages = [r for r in world["crm"].api.log("GET", "/contacts") if "limit" in r.query]
    assert min(p.at for p in pages) > reopened[0].at  # the pull waited for the sensor


def test_invoices_to_erp_books_valid_invoices_once_and_dead_letters_the_invalid(runs, world):
    out = result(runs, "invoices_to_erp")
    crm_invoices = world["crm"].api.collection("invoices").all()
    invalid = {f"INV-2026-{i:05d}" for i in world_seed.INVALID_INVOICES}
    drafts = {i["number"] for i in crm_invoices if i["status"] == "draft"}
    booked = {r["invoice_number"]: r for r in world["erp"].api.collection("invoices").all()}
    assert set(booked) == {i["number"] for i in crm_invoices} - invalid - drafts
    erp = world["erp"].api
    batches = math.ceil((len(crm_invoices) - len(drafts)) / 10)
    assert erp.batches.requests == batches  # every batch ran exactly once on the ERP ...
    assert erp.idempotency.replayed >= 1  # ... the one whose answer was lost was replayed
    push = task_summaries(out.output)["push_invoices"]
    assert (push["pushed"], push["failed"], push["filtered"]) == (36, 2, len(drafts))
    letters = read_jsonl([f"{push['dead_letter']}/{name}" for name in push["dead_letter_files"]])
    assert {letter["record_key"][0] for letter in letters} == invalid
    assert {letter["status"] for letter in letters} == {422}
    assert "invoice refused by the ERP" in out.output


def test_ticket_sync_patches_only_the_changed_tickets(runs, world):
    out = result(runs, "ticket_sync")
    helpdesk = {t["id"]: t for t in world["helpdesk"].api.collection("tickets").all()}
    crm = {t["id"]: t for t in world["crm"].api.collection("tickets").all()}
    config = WorldConfig()
    changed = set(range(config.tickets - config.recent_tickets + 1, config.tickets + 1))
    for ticket_id, ticket in crm.items():
        if ticket_id in changed:
            assert ticket["status"] == CRM_STAGE[helpdesk[ticket_id]["status"]]
            assert ticket["helpdesk_updated_at"] == helpdesk[ticket_id]["updated_at"]
        else:
            assert ticket["status"] == "unknown", ticket_id
    patches = {r.path.rsplit("/", 1)[-1] for r in world["crm"].api.log("PATCH") if r.status}
    assert patches == {str(i) for i in changed}
    summaries = task_summaries(out.output)
    assert summaries["pull_changed_tickets"]["records"] == len(changed)
    assert summaries["patch_crm_tickets"]["pushed"] == len(changed)


def test_ticket_comments_pulls_comments_of_changed_tickets_and_skips_the_merged(runs, world):
    out = result(runs, "ticket_comments")
    summaries = task_summaries(out.output)
    tickets = summaries["pull_changed_tickets"]
    comments = summaries["pull_ticket_comments"]
    changed = {t["id"]: t for t in read_jsonl(tickets["files"])}
    config = WorldConfig()
    recent = set(range(config.tickets - config.recent_tickets + 1, config.tickets + 1))
    assert changed and set(changed) <= recent  # all 12 unless the run started very late
    merged = world_seed.merged_ticket(config.tickets)
    api = world["helpdesk"].api
    expected = [
        c for c in api.collection("comments").all() if c["ticket_id"] in changed.keys() - {merged}
    ]
    got = read_jsonl(comments["files"])
    assert [c["id"] for c in got] == [c["id"] for c in expected]  # ticket order, no gaps
    assert all(c["ticket_subject"] == changed[c["ticket_id"]]["subject"] for c in got)
    skipped = 1 if merged in changed else 0
    assert comments["parents"] == len(changed) and comments["parents_skipped"] == skipped
    assert comments["response_actions"] == ({"skip": 1} if skipped else {})
    asked = {r.path.split("/")[-2] for r in api.log("GET") if r.path.endswith("/comments")}
    assert asked == {str(i) for i in changed}  # only the changed tickets' comments


def test_analytics_daily_pulls_exactly_one_utc_day_in_order(runs, world):
    out = result(runs, "analytics_daily")
    requests = [r for r in world["analytics"].api.log("GET", "/events") if r.status == 200]
    since = datetime.fromisoformat(requests[0].query["updated_since"])
    before = datetime.fromisoformat(requests[0].query["updated_before"])
    assert before - since == timedelta(days=1)
    assert (since.hour, since.minute, since.utcoffset()) == (0, 0, timedelta(0))
    events = world["analytics"].api.collection("events").all()
    expected = [e["id"] for e in events if since <= _ts(e["updated_at"]) < before]
    assert 0 < len(expected) < len(events)
    manifest = task_summaries(out.output)["pull_events"]
    assert [r["id"] for r in read_jsonl(manifest["files"])] == expected  # in order
    assert manifest["pages"] == math.ceil(len(expected) / 250)


def test_analytics_report_reads_the_day_through_the_asset_event(runs):
    daily = task_summaries(result(runs, "analytics_daily").output)["pull_events"]
    report = task_summaries(result(runs, "analytics_report").output)["daily_metrics"]
    metrics = json.loads(ObjectStoragePath(report["uri"]).read_text())
    assert metrics["source"] == daily["uri"]
    assert metrics["events"] == daily["records"]
    assert sum(v["events"] for v in metrics["by_type"].values()) == daily["records"]


def test_small_examples_run(runs):
    hello = task_summaries(result(runs, "hello_apisync").output)["pull_contacts"]
    assert hello["records"] == 25
    window = result(runs, "apisync_rate_limit_window")
    assert task_summaries(window.output)["wait_for_quota"]["open"] is True


def test_no_credential_reaches_any_output(runs, world):
    secrets = world.secrets()
    assert len(secrets) >= 5  # connection secrets plus minted OAuth2 tokens
    for dag_id, outcome in runs["results"].items():
        leaked = [s for s in secrets if s in outcome.output]
        assert not leaked, f"{dag_id} printed a credential"


def test_reconcile_query_survives_dag_serialization():
    """Regression: ``params`` as a template field made such DAGs fail to serialize."""
    from airflow.serialization import serialized_objects

    # The serializer is DagSerialization from Airflow 3.2 (SerializedDAG is then the
    # deserialized DAG class, without from_dict); SerializedDAG before.
    DagSerialization = getattr(serialized_objects, "DagSerialization", None)
    if DagSerialization is None:
        DagSerialization = serialized_objects.SerializedDAG

    from airflow_provider_apisync.compat import DAG, Param
    from airflow_provider_apisync.operators import ApiReconcileOperator

    with DAG("r", schedule=None, params={"region": Param("eu", type="string")}) as dag:
        ApiReconcileOperator(
            task_id="check",
            records=[{"id": 1}],
            endpoint="/customers",
            record_key="id",
            query={"region": "{{ params.region }}", "limit": 100},
        )
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("check")
    assert task.query == {"region": "{{ params.region }}", "limit": 100}
    assert "query" in task.template_fields


def _ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
