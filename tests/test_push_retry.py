"""Task retry after a crash mid-push: the ledger makes the second try send only the rest."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from push_helpers import API_KEY, business_keys, people, sent_keys, task_context

from airflow_provider_apisync.client import ApiServerError
from airflow_provider_apisync.operators import ApiPushOperator
from airflow_provider_apisync.push.ledger import DeadLetters, Ledger
from airflow_provider_apisync.testing import FakeApi

N = 600
K = 250
ONE_RETRY = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def push(tmp_path, **kwargs):
    args = {
        "task_id": "push",
        "apisync_conn_id": "crm",
        "records": people(N),
        "record_key": "ext_id",
        "concurrency": 4,
        "output": str(tmp_path),
        "ledger_flush_every": 50,
    }
    args.update(kwargs)
    return ApiPushOperator(**args)


def crash_then_retry(api, tmp_path, method, collection, **kwargs):
    """Try 1 dies on a permanent 503 after K writes; try 2 runs with the fault gone."""
    api.faults.add("status", status=503, method=method, after=K)
    ctx1 = task_context(try_number=1)
    with pytest.raises(ApiServerError):
        push(tmp_path, **kwargs).execute(ctx1)
    first_try = set(business_keys(api, collection))
    assert K <= len(first_try) < N

    api.faults.clear()
    api.clear_log()
    ctx2 = task_context(try_number=2, run_id=ctx1["run_id"])
    summary = push(tmp_path, **kwargs).execute(ctx2)
    return first_try, summary


def test_second_try_sends_only_the_remaining_records(api, set_conn, tmp_path):
    set_conn("crm", api.url, password=API_KEY, extra=ONE_RETRY)
    first_try, summary = crash_then_retry(api, tmp_path, "POST", "people", endpoint="/people")

    second_try = Counter(sent_keys(api, "POST", "/people"))
    assert set(second_try.values()) == {1}
    assert not first_try & set(second_try)  # nothing acknowledged in try 1 is sent again
    assert first_try | set(second_try) == {p["ext_id"] for p in people(N)}
    assert summary["skipped"] == len(first_try)
    assert summary["pushed"] == N - len(first_try) == sum(second_try.values())
    held = business_keys(api, "people")
    assert len(held) == N == len(set(held))


def test_ledger_alone_prevents_duplicates_on_an_api_without_idempotency(api, set_conn, tmp_path):
    """POST create, no keys honoured: only the ledger stands between a retry and duplicates."""
    set_conn("crm", api.url, password=API_KEY, extra=ONE_RETRY)
    api.idempotency.ignore("legacy")
    kwargs = {"endpoint": "/legacy", "idempotency_header": None}
    first_try, summary = crash_then_retry(api, tmp_path, "POST", "legacy", **kwargs)
    assert not first_try & set(sent_keys(api, "POST", "/legacy"))
    held = business_keys(api, "legacy")
    assert len(held) == N == len(set(held))
    assert summary["skipped"] == len(first_try)

    # Counter-proof: the same push in a *new* run (fresh ledger scope) duplicates everything,
    # because this API has nothing else to recognise a resend by.
    push(tmp_path, **kwargs).execute(task_context())
    assert len(business_keys(api, "legacy")) == 2 * N


def test_rejections_of_an_earlier_try_are_not_resent_and_still_count(api, set_conn, tmp_path):
    set_conn("crm", api.url, password=API_KEY, extra=ONE_RETRY)
    api.validation.add("people", patterns={"email": r"[^@]+@[^@]+"})
    records = people(N)
    for record in records[:10]:
        record["email"] = "broken"
    api.faults.add("status", status=503, method="POST", after=K)
    ctx1 = task_context(try_number=1)
    op_args = {"endpoint": "/people", "records": records, "max_error_ratio": 0.05}
    with pytest.raises(ApiServerError):
        push(tmp_path, **op_args).execute(ctx1)
    api.faults.clear()
    api.clear_log()
    summary = push(tmp_path, **op_args).execute(task_context(try_number=2, run_id=ctx1["run_id"]))

    assert "broken" not in {r.json()["email"] for r in api.log("POST", "/people")}
    assert summary["failed"] == 10 and summary["pushed"] + summary["skipped"] == N - 10
    manifest = json.loads(tmp_path.rglob("dead_letter/_manifest.json").__next__().read_text())
    assert manifest["records"] == 10


def test_ledger_segments_tolerate_a_torn_line_and_flush_dead_letters_first(tmp_path):
    from airflow_provider_apisync.compat import ObjectStoragePath

    folder = ObjectStoragePath(f"file://{tmp_path}/ledger")
    order: list[str] = []
    dead = DeadLetters(ObjectStoragePath(f"file://{tmp_path}/dead"))
    ledger = Ledger(folder, 1, flush_every=2, before_flush=lambda: order.append("dead"))
    ledger.record("k1", "ok")
    assert not list((tmp_path / "ledger").glob("*.jsonl"))  # buffered
    ledger.record("k2", "rejected", rejected=1)
    assert order == ["dead"] and len(list((tmp_path / "ledger").glob("*.jsonl"))) == 1
    (tmp_path / "ledger" / "t001-999999-torn.jsonl").write_text('{"k": "k3", "o": "ok"}\n{"k": "k')
    reloaded = Ledger(folder, 2).load()
    assert set(reloaded.prior) == {"k1", "k2", "k3"}
    assert reloaded.settled("k2") == ("rejected", 1, 1)
    assert reloaded.unreadable_lines == 1
    assert dead.finish() == (None, [])  # nothing rejected: no dead-letter folder
