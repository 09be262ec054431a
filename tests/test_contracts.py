"""Record contracts: JSON Schema per record, fail or quarantine, errors that name the rule."""

from __future__ import annotations

import json

import pytest
from conftest import conn_json
from pull_support import API_KEY, make_context, read_output

from airflow_provider_apisync.client import ApiConfigError
from airflow_provider_apisync.compat import AirflowFailException, ObjectStoragePath
from airflow_provider_apisync.operators import ApiPullOperator
from airflow_provider_apisync.pull.contracts import RecordContract
from airflow_provider_apisync.recordio.jsonl import iter_jsonl
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.fakeapi.collections import make_records

SCHEMA = {
    "type": "object",
    "required": ["id", "email", "amount"],
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string", "format": "email"},
        "amount": {"type": "number", "minimum": 0},
        "address": {
            "type": "object",
            "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
        },
    },
}
BAD = {
    7: {"email": 7},
    23: {"amount": -1},
    24: {"email": "not-an-email"},
    41: {"address": {"zip": "x"}},
}


@pytest.fixture(scope="module")
def api():
    rows = make_records("contacts", 50)
    for row in rows:
        row.update(BAD.get(row["id"], {}))
    del rows[44]["email"]  # id 45: required field missing
    with FakeApi(seed={"contacts": rows}) as server:
        yield server


@pytest.fixture(autouse=True)
def conn(api, monkeypatch):
    api.clear_log()
    extra = {"auth_type": "api_key", "max_retries": 0}
    monkeypatch.setenv("AIRFLOW_CONN_FAKE", conn_json(api.url, password=API_KEY, extra=extra))


def make_op(tmp_path, **kwargs):
    return ApiPullOperator(
        task_id="pull",
        apisync_conn_id="fake",
        endpoint="/contacts",
        query={"limit": 10},
        output=f"file://{tmp_path}/out",
        schema=SCHEMA,
        **kwargs,
    )


def test_fail_mode_names_record_field_and_rule(api, tmp_path):
    with pytest.raises(AirflowFailException) as info:
        make_op(tmp_path, record_key="id").execute(make_context())
    message = str(info.value)
    assert "record id=7 (page 1): field 'email' violates 'type'" in message
    assert "7 is not of type 'string'" in message
    assert "on_contract_violation='quarantine'" in message
    assert len(api.log("GET")) == 1  # stopped at the first bad page


def test_quarantine_mode_sets_bad_records_aside(api, tmp_path):
    manifest = make_op(tmp_path, on_contract_violation="quarantine").execute(make_context())
    good = [r["id"] for r in read_output(manifest)]
    bad_ids = {7, 23, 24, 41, 45}
    assert good == [i for i in range(1, 51) if i not in bad_ids]
    assert manifest["quarantined"] == 5 and manifest["records"] == 45
    rows = []
    for uri in manifest["quarantine_files"]:
        with ObjectStoragePath(uri).open("rb") as fileobj:
            rows.extend(iter_jsonl(fileobj))
    found = {row["record"]["id"]: row["violations"][0] for row in rows}
    assert set(found) == bad_ids
    assert (found[7]["field"], found[7]["rule"]) == ("email", "type")
    assert (found[23]["field"], found[23]["rule"]) == ("amount", "minimum")
    assert (found[24]["field"], found[24]["rule"]) == ("email", "format")
    assert (found[41]["field"], found[41]["rule"]) == ("address.zip", "pattern")
    assert (found[45]["field"], found[45]["rule"]) == ("email", "required")
    assert rows[0]["page"] == 1
    on_disk = json.loads(ObjectStoragePath(manifest["uri"] + "/_manifest.json").read_bytes())
    assert on_disk["quarantine_files"] == manifest["quarantine_files"]


def test_missing_primary_key_is_a_violation():
    contract = RecordContract(None, primary_key=("account.id",), on_violation="quarantine")
    good, bad = contract.split([{"account": {"id": 1}}, {"account": {}}])
    assert good == [{"account": {"id": 1}}]
    assert [(v.field, v.rule) for v in bad[0][1]] == [("account.id", "primary_key")]
    assert "a record (page 3): field 'account.id' violates 'primary_key'" in contract.describe(
        *bad[0], where="page 3"
    )


def test_invalid_schema_is_reported_at_parse_time(tmp_path):
    with pytest.raises(
        ApiConfigError, match=r"schema: is not a valid JSON Schema at properties/id"
    ):
        RecordContract({"properties": {"id": {"type": 5}}})
    with pytest.raises(ApiConfigError, match="schema"):
        ApiPullOperator(task_id="t", endpoint="/x", schema={"type": "objekt"})
