"""Partial failure: valid records are written, invalid ones land in the dead letter with
their errors, and the task outcome follows ``max_error_ratio``; dead letters replay."""

from __future__ import annotations

import pytest
from push_helpers import API_KEY, FAST, business_keys, people, read_jsonl_folder, task_context

from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPushOperator
from airflow_provider_apisync.testing import FakeApi

EMAIL = r"[^@\s]+@[^@\s]+"


@pytest.fixture
def api(set_conn):
    with FakeApi() as server:
        server.validation.add("people", required=["email"], patterns={"email": EMAIL})
        set_conn("crm", server.url, password=API_KEY, extra=FAST)
        yield server


def with_bad_emails(count: int, bad: set[int]) -> list[dict]:
    records = people(count)
    for i in bad:
        records[i]["email"] = f"not-an-email-{i}"
    return records


def dead_letters(folder) -> list[dict]:
    return [line for sub in sorted(folder.rglob("dead_letter")) for line in read_jsonl_folder(sub)]


BAD = {3, 17, 18, 41, 49}


@pytest.mark.parametrize(("ratio", "fails"), [(0.2, False), (0.05, True)])
def test_batch_with_invalid_records(api, tmp_path, ratio, fails):
    op = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people/batch",
        records=with_bad_emails(50, BAD),
        record_key="ext_id",
        batch_size=10,
        batch_body_key="records",
        concurrency=2,
        max_error_ratio=ratio,
        output=str(tmp_path),
    )
    if fails:
        with pytest.raises(AirflowFailException, match=r"5 of 50 records failed \(10.0%\)"):
            op.execute(task_context())
    else:
        summary = op.execute(task_context())
        assert (summary["pushed"], summary["failed"], summary["rejected"]) == (45, 5, 5)
        assert summary["requests"] == 5  # five batches of ten

    # either way: valid records written, invalid ones dead-lettered with their errors
    held = business_keys(api, "people")
    assert sorted(held) == sorted(p["ext_id"] for i, p in enumerate(people(50)) if i not in BAD)
    letters = dead_letters(tmp_path)
    assert sorted(letter["record_key"][0] for letter in letters) == [
        f"P{i + 1:05d}" for i in sorted(BAD)
    ]
    for letter in letters:
        assert letter["status"] == 422 and letter["outcome"] == "rejected"
        assert letter["error"] == {"email": f"does not match {EMAIL}"}
        assert letter["record"]["email"].startswith("not-an-email")
        assert letter["idempotency_key"].startswith("as1-")


def test_single_record_rejections_carry_status_error_body_and_key(api, tmp_path):
    summary = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people/{ext_id}",
        method="PUT",
        records=with_bad_emails(30, {5}),
        record_key="ext_id",
        max_error_ratio=0.1,
        output=str(tmp_path),
    ).execute(task_context())
    assert (summary["pushed"], summary["failed"]) == (29, 1)
    [letter] = dead_letters(tmp_path)
    assert letter["record_key"] == ["P00006"] and letter["status"] == 422
    assert letter["category"] == "client"
    assert "does not match" in letter["error"]  # the (truncated) error body
    assert letter["correlation_id"] and letter["endpoint"] == "/people/P00006"
    assert summary["dead_letter"].endswith("/dead_letter")


def test_on_error_fail_stops_at_the_first_rejection(api, tmp_path):
    op = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people",
        records=with_bad_emails(40, {9, 30}),
        record_key="ext_id",
        concurrency=1,
        on_error="fail",
        output=str(tmp_path),
    )
    with pytest.raises(AirflowFailException, match="on_error='fail'"):
        op.execute(task_context())
    assert len(api.log("POST", "/people")) == 10  # nothing after the first rejection
    assert [d["record_key"] for d in dead_letters(tmp_path)] == [["P00010"]]


def test_invalid_records_are_dead_lettered_without_a_request(api, tmp_path):
    records = [*people(5), {"name": "no key"}, "not an object", *people(2, start=6)]
    summary = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people",
        records=records,
        record_key="ext_id",
        max_error_ratio=0.5,
        output=str(tmp_path),
    ).execute(task_context())
    assert (summary["pushed"], summary["invalid"], summary["requests"]) == (7, 2, 7)
    problems = sorted(d["error"] for d in dead_letters(tmp_path))
    assert problems == [
        "a record must be a JSON object, got str",
        "record has no value for key field 'ext_id'",
    ]


def fix_email(record: dict) -> dict:
    return {**record, "email": record["email"].replace("not-an-email-", "fixed") + "@example.test"}


def test_dead_letters_replay_through_a_fixing_transform(api, tmp_path):
    first = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people/batch",
        records=with_bad_emails(50, BAD),
        record_key="ext_id",
        batch_size=25,
        batch_body_key="records",
        max_error_ratio=0.2,
        output=str(tmp_path / "dl"),
    ).execute(task_context())
    replay = ApiPushOperator(
        task_id="replay",
        apisync_conn_id="crm",
        endpoint="/people",
        records=first["dead_letter"],  # the folder: manifest + segments
        records_field="record",
        transform=fix_email,
        record_key="ext_id",
    ).execute(task_context())
    assert replay["pushed"] == 5 and replay["failed"] == 0
    held = business_keys(api, "people")
    assert len(held) == 50 == len(set(held))
