"""Untrusted records and templated values (issue 13): dot segments in ``{field}``
placeholders never reach the server; dot-only run ids and ``..`` in outputs are refused."""

from __future__ import annotations

import pytest
from push_helpers import API_KEY, FAST, read_jsonl_folder, task_context

from airflow_provider_apisync.client import ApiConfigError
from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPullOperator, ApiPushOperator
from airflow_provider_apisync.runtime.folders import run_folder
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.fakeapi.http import Response

ENDPOINT = "/accounts/{account_id}/contacts/{id}"


@pytest.fixture
def api(set_conn):
    with FakeApi() as server:
        server.route(
            "DELETE", "/accounts/{account}/contacts/{id}", lambda r: Response(204), first=True
        )
        set_conn("crm", server.url, password=API_KEY, extra=FAST)
        yield server


def test_dot_segment_values_are_dead_lettered_and_never_sent(api, tmp_path):
    records = [
        {"account_id": "A1", "id": ".."},
        {"account_id": "..", "id": ".."},
        {"account_id": "A1", "id": "."},
        {"account_id": ".", "id": "7"},
        {"account_id": "A1", "id": " .. "},
        {"account_id": "A1", "id": {"nested": 1}},
        {"account_id": "A1", "id": "a/../b"},  # one segment: the slash is encoded
        {"account_id": "A1", "id": "C2"},
    ]
    summary = ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint=ENDPOINT,
        method="DELETE",
        records=records,
        record_key=["account_id", "id"],
        max_error_ratio=1.0,
        output=str(tmp_path),
    ).execute(task_context())
    sent = sorted(r.path for r in api.log())
    assert sent == ["/v1/accounts/A1/contacts/C2", "/v1/accounts/A1/contacts/a%2F..%2Fb"]
    assert (summary["pushed"], summary["invalid"]) == (2, 6)
    letters = [d for sub in sorted(tmp_path.rglob("dead_letter")) for d in read_jsonl_folder(sub)]
    assert len(letters) == 6
    assert {d["category"] for d in letters} == {"invalid_record"}
    problems = sorted(d["error"] for d in letters)
    assert sum("{id}" in p and "dot segment" in p for p in problems) == 3
    assert sum("{account_id}" in p and "dot segment" in p for p in problems) == 2
    assert any("{id}" in p and "not a single value" in p for p in problems)


def test_expand_path_keeps_every_value_inside_its_segment():
    from airflow_provider_apisync.client.urls import PathValueError, expand_path

    assert expand_path("/a/{x}/b/{y}", {"x": "A 1", "y": 7}) == "/a/A%201/b/7"
    assert expand_path("/a/{x}", {"x": "../.."}) == "/a/..%2F.."
    assert expand_path("/a/{x}?q={y}", {"x": "%2e%2e", "y": "?&#"}) == "/a/%252e%252e?q=%3F%26%23"
    for bad in (".", "..", "", None, " . ", [1], {"k": "v"}):
        with pytest.raises(PathValueError) as caught:
            expand_path("/accounts/{account_id}/contacts", {"account_id": bad})
        assert caught.value.field == "account_id" and "account_id" in str(caught.value)
    with pytest.raises(PathValueError, match="account_id"):
        expand_path("/accounts/{account_id}", {})
    assert isinstance(PathValueError("f", "x"), ApiConfigError)


@pytest.mark.parametrize("run_id", [".", "..", "..."])
def test_dot_only_run_ids_are_refused(run_id):
    context = task_context(run_id=run_id)
    context["run_id"] = run_id
    with pytest.raises(ApiConfigError, match="run_id"):
        run_folder(context)


def test_templated_output_climbing_out_of_its_base_is_refused(api, tmp_path):
    op = ApiPullOperator(
        task_id="pull",
        apisync_conn_id="crm",
        endpoint="/contacts",
        output=f"file://{tmp_path}/exports/../../elsewhere",
    )
    with pytest.raises((ApiConfigError, AirflowFailException), match=r"output.*'\.\.'"):
        op.execute(task_context())
    assert api.log() == []
    assert not (tmp_path.parent / "elsewhere").exists()
