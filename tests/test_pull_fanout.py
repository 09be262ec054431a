"""Dependent pulls (parents -> child endpoint) and response actions, against FakeApi.

Tickets are the parents, ``/tickets/{id}/comments`` the child endpoint (10 per page):
ticket 1 has no comments, ticket 2 one, ticket 3 twenty-five (3 pages), the others 4.
Each test reads what the server saw from FakeApi's request log.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from airflow.exceptions import AirflowFailException
from airflow.sdk import ObjectStoragePath
from conftest import conn_json
from pull_support import API_KEY, MemoryStore, make_context, read_output

from airflow_provider_apisync.client import ApiServerError
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.pagination import OffsetPaginator
from airflow_provider_apisync.operators import ApiPullOperator, Incremental
from airflow_provider_apisync.recordio.jsonl import iter_jsonl
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.fakeapi.collections import make_records

TICKETS = 8
PER_TICKET = {1: 0, 2: 1, 3: 25}


def comments() -> list[dict]:
    rows, next_id = [], 1
    for ticket in range(1, TICKETS + 1):
        for record in make_records("comments", PER_TICKET.get(ticket, 4), next_id):
            rows.append({**record, "ticket_id": ticket})
            next_id += 1
    return rows


@pytest.fixture
def api():
    with FakeApi(seed={"tickets": TICKETS, "comments": comments()}) as server:
        server.children.relate("tickets", "comments", foreign_key="ticket_id")
        yield server


@pytest.fixture(autouse=True)
def conn(api, monkeypatch):
    extra = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}
    monkeypatch.setenv("AIRFLOW_CONN_FAKE", conn_json(api.url, password=API_KEY, extra=extra))


def fanout(tmp_path, parents, *, name="comments", **kwargs):
    kwargs.setdefault("paginator", OffsetPaginator(limit=10, total_path="total"))
    kwargs.setdefault("concurrency", 4)
    return ApiPullOperator(
        task_id=name,
        apisync_conn_id="fake",
        endpoint="/tickets/{id}/comments",
        parents=parents,
        output=f"file://{tmp_path}/{name}",
        **kwargs,
    )


def child_requests(api) -> list[tuple[str, int]]:
    """(ticket id, offset) of every child GET that got an answer, in order."""
    out = []
    for r in api.log("GET"):
        parts = r.path.split("/")
        if len(parts) == 5 and parts[4] == "comments":
            out.append((parts[3], int(r.query.get("offset", 0))))
    return out


def pull_tickets(tmp_path):
    op = ApiPullOperator(
        task_id="tickets",
        apisync_conn_id="fake",
        endpoint="/tickets",
        paginator=OffsetPaginator(limit=5, total_path="total"),
        output=f"file://{tmp_path}/tickets",
    )
    return op.execute(make_context(task_id="tickets"))


def test_children_of_every_parent_from_a_pull_manifest(api, tmp_path):
    parents = pull_tickets(tmp_path)  # the upstream pull's XCom, as a DAG passes it
    api.clear_log()
    op = fanout(tmp_path, parents, include_from_parent={"ticket_id_copy": "id"})
    manifest = op.execute(make_context(task_id="comments"))

    records = read_output(manifest)
    expected = comments()
    assert [r["id"] for r in records] == [c["id"] for c in expected]  # parent order kept
    assert all(r["ticket_id_copy"] == r["ticket_id"] for r in records)
    assert manifest["records"] == len(expected)
    assert manifest["parents"] == TICKETS and manifest["parents_empty"] == 1
    pages = Counter(ticket for ticket, _ in child_requests(api))
    assert pages == {"1": 1, "2": 1, "3": 3, **{str(t): 1 for t in range(4, TICKETS + 1)}}
    assert manifest["pages"] == sum(pages.values())  # the empty page of ticket 1 counts
    assert manifest["dead_letter"] is None and manifest["parents_skipped"] == 0


def test_list_parents_and_default_parent_field_names(api, tmp_path):
    op = fanout(tmp_path, [{"id": 2, "org": {"id": 7}}], include_from_parent=["id", "org.id"])
    manifest = op.execute(make_context(task_id="comments"))
    (record,) = read_output(manifest)
    assert record["_parent_id"] == 2 and record["_parent_org_id"] == 7


def test_deleted_parent_404_is_skipped_by_rule_and_fails_without(api, tmp_path):
    api.collection("tickets").delete(3)
    parents = [{"id": t} for t in range(1, TICKETS + 1)]
    op = fanout(tmp_path, parents, response_actions={404: "skip"})
    manifest = op.execute(make_context(task_id="comments"))
    assert manifest["parents_skipped"] == 1
    assert manifest["response_actions"] == {"skip": 1}
    assert {r["ticket_id"] for r in read_output(manifest)} == {2, 4, 5, 6, 7, 8}

    plain = fanout(tmp_path, parents, name="strict")
    with pytest.raises(AirflowFailException, match="404"):
        plain.execute(make_context(task_id="strict"))


def test_forbidden_parent_is_dead_lettered_and_the_rest_pulled(api, tmp_path):
    api.faults.add("status", path="/tickets/4/comments", status=403)
    parents = [{"id": t} for t in range(1, TICKETS + 1)]
    op = fanout(tmp_path, parents, response_actions=[{"status": 403, "action": "dead_letter"}])
    manifest = op.execute(make_context(task_id="comments"))
    assert manifest["parents_dead_lettered"] == 1 and manifest["parents"] == TICKETS
    (path,) = manifest["dead_letter_files"]
    with ObjectStoragePath(path).open("rb") as fh:
        (row,) = list(iter_jsonl(fh))
    assert row["parent"] == {"id": 4} and row["error"]["status"] == 403
    assert row["error"]["action"] == "dead_letter"
    assert 4 not in {r["ticket_id"] for r in read_output(manifest)}


def test_error_inside_a_200_body_is_retried_by_rule(api, tmp_path):
    api.faults.add("status", path="/tickets/2/comments", status=200, times=1)
    rule = {"status": 200, "body_contains": "injected fault", "action": "retry"}
    op = fanout(tmp_path, [{"id": 2}], response_actions=[rule])
    manifest = op.execute(make_context(task_id="comments"))
    assert manifest["records"] == 1 and manifest["response_actions"] == {"retry": 1}
    assert child_requests(api) == [("2", 0), ("2", 0)]


def test_dot_segment_and_missing_placeholder_values_are_dead_lettered_unsent(api, tmp_path):
    parents = [{"id": ".."}, {"name": "no id"}, {"id": "a/b"}, {"id": 2}]
    op = fanout(tmp_path, parents, response_actions={404: "skip"})
    manifest = op.execute(make_context(task_id="comments"))
    assert manifest["parents_dead_lettered"] == 2 and manifest["parents_skipped"] == 1
    paths = [r.path for r in api.log("GET")]
    assert paths == ["/v1/tickets/a%2Fb/comments", "/v1/tickets/2/comments"]  # quoted
    rows = []
    for path in manifest["dead_letter_files"]:
        with ObjectStoragePath(path).open("rb") as fh:
            rows.extend(iter_jsonl(fh))
    assert [r["parent"] for r in rows] == [{"id": ".."}, {"name": "no id"}]
    assert "dot segment" in rows[0]["error"]["message"]
    assert rows[1]["error"]["message"].startswith("id: has no value")  # names the field


@pytest.mark.parametrize("concurrency", [1, 4])
def test_crash_after_parent_k_then_retry_fetches_only_the_rest(api, tmp_path, concurrency):
    k = 4  # parents 1..4 complete; parent 5's child endpoint is down
    parents = [{"id": t} for t in range(1, TICKETS + 1)]
    store = MemoryStore()
    op = fanout(tmp_path, parents, concurrency=concurrency)
    api.faults.add("status", path=f"/tickets/{k + 1}/comments", status=503)
    with pytest.raises(ApiServerError):
        op.execute(make_context(task_id="comments", task_state_store=store))
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(make_context(task_id="comments", task_state_store=store, try_number=2))
    fetched = sorted({int(ticket) for ticket, _ in child_requests(api)})
    assert fetched == list(range(k + 1, TICKETS + 1))  # parents 1..k never asked again
    assert [r["id"] for r in read_output(manifest)] == [c["id"] for c in comments()]
    assert manifest["parents"] == TICKETS


def test_crash_inside_a_parent_resumes_at_its_next_page(api, tmp_path):
    store = MemoryStore()
    op = fanout(tmp_path, [{"id": 2}, {"id": 3}, {"id": 4}], concurrency=1)
    api.faults.add("status", path="/tickets/3/comments", after=1, status=503)
    with pytest.raises(ApiServerError):
        op.execute(make_context(task_id="comments", task_state_store=store))
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(make_context(task_id="comments", task_state_store=store, try_number=2))
    assert child_requests(api) == [("3", 10), ("3", 20), ("4", 0)]
    ids = [r["id"] for r in read_output(manifest)]
    assert ids == [c["id"] for c in comments() if c["ticket_id"] in (2, 3, 4)]


def test_high_water_mark_spans_all_children(api, tmp_path):
    store = MemoryStore()
    inc = Incremental("updated_at", "updated_since", initial_value="2026-01-01T00:00:00Z")
    op = fanout(tmp_path, [{"id": 2}, {"id": 3}], incremental=inc)
    manifest = op.execute(make_context(task_id="comments", asset_state_store=store))
    newest = max(c["updated_at"] for c in comments() if c["ticket_id"] in (2, 3))
    assert manifest["high_water_mark"] == newest
    assert all(r.query.get("updated_since") for r in api.log("GET"))


def test_bad_arguments_name_the_field(tmp_path):
    with pytest.raises(ApiConfigError, match="response_actions"):
        fanout(tmp_path, [], response_actions={404: "ignore"})
    with pytest.raises(ApiConfigError, match="response_actions"):
        ApiPullOperator(task_id="p", endpoint="/x", response_actions={404: "skip"})
    with pytest.raises(ApiConfigError, match="endpoint"):
        ApiPullOperator(task_id="p", endpoint="/tickets/comments", parents=[{"id": 1}])
    with pytest.raises(ApiConfigError, match="include_from_parent"):
        ApiPullOperator(task_id="p", endpoint="/x", include_from_parent=["id"])
    with pytest.raises(ApiConfigError, match="body_contains"):
        fanout(tmp_path, [], response_actions=[{"status": 200, "action": "retry"}])


def test_plain_pull_retries_a_200_error_body_by_rule(api, tmp_path):
    api.faults.add("status", path="/tickets", status=200, times=1)
    op = ApiPullOperator(
        task_id="tickets",
        apisync_conn_id="fake",
        endpoint="/tickets",
        output=f"file://{tmp_path}/t",
        response_actions=[{"status": 200, "body_contains": "injected", "action": "retry"}],
    )
    manifest = op.execute(make_context(task_id="tickets"))
    assert manifest["records"] == TICKETS and manifest["response_actions"] == {"retry": 1}
    assert json.loads(json.dumps(manifest))  # XCom-safe
