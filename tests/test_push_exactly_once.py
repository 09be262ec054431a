"""Exactly-once at the target under lost acknowledgements and 503s — and which mechanism
gives the guarantee in each case.

- With idempotency keys (POST create): a lost ack is retried with the same key and the
  server replays its stored answer; nothing is written twice.
- Against an endpoint that IGNORES keys: the guarantee comes from PUT-by-business-key
  (an idempotent method the client may resend; the second write overwrites the first).
- Counter-case: POST without keys to that endpoint. The client must not resend a POST
  whose ack was lost, so those records end as ``unknown`` in the dead letter — no
  duplicates, and the ambiguity is reported instead of being guessed away.
"""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from push_helpers import API_KEY, FAST, business_keys, people, sent_keys, task_context

from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPushOperator
from airflow_provider_apisync.testing import FakeApi

N = 2000


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def chaos(api: FakeApi, method: str) -> None:
    api.faults.add("ack_lost", method=method, rate=0.10)
    api.faults.add("status", status=503, method=method, rate=0.05)


def test_exactly_once_with_idempotency_keys(api, set_conn, caplog):
    set_conn("crm", api.url, password=API_KEY, extra=FAST)
    chaos(api, "POST")
    op = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people",
        method="POST",
        records=people(N),
        record_key="ext_id",
        concurrency=8,
    )
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_apisync.audit"):
        summary = op.execute(task_context())

    held = business_keys(api, "people")
    assert len(held) == N and len(set(held)) == N  # exactly 2,000, no duplicates
    injected = api.faults.injected
    assert injected["ack_lost"] > 100 and injected["status"] > 40  # the chaos was real
    # every lost ack was resent with its key and answered by replay, not by a new write
    assert api.idempotency.replayed == injected["ack_lost"]
    assert summary["pushed"] == N and summary["failed"] == 0 and summary["skipped"] == 0
    assert summary["retries"] == injected["ack_lost"] + injected["status"]
    audit = [r.getMessage() for r in caplog.records if r.name.endswith("audit")]
    assert all("idempotency_key=as1-" in line and "correlation_id=" in line for line in audit)
    assert len(audit) == summary["attempts"]


def test_exactly_once_against_endpoint_that_ignores_keys_comes_from_put_upserts(api, set_conn):
    set_conn("crm", api.url, password=API_KEY, extra=FAST)
    api.idempotency.ignore("legacy")
    chaos(api, "PUT")
    summary = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/legacy/{ext_id}",
        method="PUT",
        records=people(N),
        record_key="ext_id",
        idempotency_header=None,  # the API has no idempotency support
        concurrency=8,
    ).execute(task_context())

    held = business_keys(api, "legacy", "id")
    assert len(held) == N and len(set(held)) == N
    sent = Counter(sent_keys(api, "PUT", "/legacy"))
    resent = {k for k, n in sent.items() if n > 1}
    # lost acks were resent (PUT is idempotent, so the client may) and overwrote in place
    assert len(resent) >= api.faults.injected["ack_lost"] * 0.9
    assert api.idempotency.replayed == 0  # no key handling involved at all
    assert all("Idempotency-Key" not in r.headers for r in api.log("PUT"))
    assert summary["pushed"] == N and summary["failed"] == 0


def test_post_without_keys_is_never_resent_after_a_lost_ack(api, set_conn, tmp_path):
    set_conn("crm", api.url, password=API_KEY, extra=FAST)
    api.idempotency.ignore("legacy")
    api.faults.add("ack_lost", method="POST", rate=0.10)
    records = people(500)
    op = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/legacy",
        method="POST",
        records=records,
        record_key="ext_id",
        idempotency_header=None,
        concurrency=8,
        output=str(tmp_path),
    )
    with pytest.raises(AirflowFailException, match="max_error_ratio"):
        op.execute(task_context())

    lost = api.faults.injected["ack_lost"]
    sent = Counter(sent_keys(api, "POST", "/legacy"))
    assert len(sent) == 500 and set(sent.values()) == {1}  # each record sent exactly once
    held = business_keys(api, "legacy")
    assert len(held) == 500 and len(set(held)) == 500  # lost-ack writes did commit, once
    letters = [
        line
        for path in sorted(tmp_path.rglob("dead_letter/t*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(letters) == lost > 20
    assert all('"outcome":"unknown"' in line and '"ack_unknown"' in line for line in letters)
