"""Idempotency keys: deterministic derivation (pure) and FakeApi's IETF-draft behaviour."""

from __future__ import annotations

import threading

import pytest
import requests

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.urls import expand_path
from airflow_provider_apisync.push.batching import item_results
from airflow_provider_apisync.push.idempotency import (
    derive_key,
    key_fields,
    payload_hash,
    record_key_of,
)
from airflow_provider_apisync.testing import FakeApi

URL = "https://api.crm.example/v2/contacts"
AUTH = {"X-API-Key": "test-api-key-0001"}


def key(**changes):
    args = {
        "url": URL,
        "method": "POST",
        "record_key": ["P1"],
        "payload_digest": payload_hash({"a": 1}),
        "scope": None,
    }
    args.update(changes)
    return derive_key(
        args["url"], args["method"], args["record_key"], args["payload_digest"], scope=args["scope"]
    )


def test_key_is_deterministic_and_fits_vendor_limits():
    first = key()
    assert first == key()
    assert first.startswith("as1-")
    assert len(first) == 64  # Adyen allows 64, Stripe 255
    assert first == key(method="post")
    assert first == key(url=URL + "?dry=1")  # the query string is not part of the target


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://api.crm.example:8443/v2/contacts"},  # other origin (port)
        {"url": "http://api.crm.example/v2/contacts"},  # other origin (scheme)
        {"url": "https://api.crm.example/v3/contacts"},  # other path
        {"method": "PUT"},
        {"record_key": ["P2"]},
        {"payload_digest": payload_hash({"a": 2})},
        {"scope": "2026-01-02"},
    ],
)
def test_every_input_changes_the_key(change):
    assert key(**change) != key()


def test_payload_hash_ignores_key_order_but_not_values():
    assert payload_hash({"a": 1, "b": [1, 2]}) == payload_hash({"b": [1, 2], "a": 1})
    assert payload_hash({"a": 1, "b": [1, 2]}) != payload_hash({"a": 1, "b": [2, 1]})
    assert payload_hash({"a": 1}) != payload_hash({"a": "1"})


def test_record_keys_single_composite_and_missing():
    assert key_fields("id") == ("id",)
    assert key_fields(["org", "meta.ref"]) == ("org", "meta.ref")
    assert record_key_of({"org": "x", "meta": {"ref": 7}}, ("org", "meta.ref")) == ["x", 7]
    with pytest.raises(KeyError, match="email"):
        record_key_of({"id": 1, "email": ""}, ("id", "email"))
    with pytest.raises(ApiConfigError, match="record_key"):
        key_fields(["id", ""])


def test_endpoint_placeholders_are_filled_and_quoted():
    assert expand_path("/contacts/{id}", {"id": 7}) == "/contacts/7"
    assert expand_path("/o/{org.id}/c/{email}", {"org": {"id": "a/b"}, "email": "x@y"}) == (
        "/o/a%2Fb/c/x%40y"
    )
    with pytest.raises(ValueError, match="id"):
        expand_path("/contacts/{id}", {"name": "no id"})


def test_batch_item_results_shapes():
    body = {"results": [{"index": 1, "status": 422, "errors": {"email": "bad"}}]}
    results = item_results(body, 3, "results")
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].status == 422 and results[1].error == {"email": "bad"}
    salesforce = [{"success": True}, {"success": False, "errors": ["DUPLICATE"]}]
    assert [r.ok for r in item_results({"r": salesforce}, 2, "r")] == [True, False]
    assert item_results({"ok": True}, 2, "results") is None


# -- FakeApi ----------------------------------------------------------------------------
def post(api: FakeApi, path: str, body: dict, idem: str | None = None) -> requests.Response:
    headers = dict(AUTH)
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return requests.post(api.url + path, json=body, headers=headers, timeout=10)


def test_replay_returns_the_stored_response_without_writing_again(fake_api: FakeApi):
    first = post(fake_api, "/people", {"name": "Ada"}, "k-1")
    again = post(fake_api, "/people", {"name": "Ada"}, '"k-1"')  # sf-string form, same key
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(fake_api.collections["people"]) == 1
    assert fake_api.idempotency.replayed == 1


def test_same_key_other_payload_is_422(fake_api: FakeApi):
    assert post(fake_api, "/people", {"name": "Ada"}, "k-2").status_code == 201
    resp = post(fake_api, "/people", {"name": "Grace"}, "k-2")
    assert resp.status_code == 422
    assert resp.json()["code"] == "key_mismatch"
    assert len(fake_api.collections["people"]) == 1


def test_same_key_while_first_in_flight_is_409(fake_api: FakeApi):
    results: dict[str, int] = {}
    gate = threading.Event()
    release = threading.Event()

    def held(request):
        if request.headers.get("X-Hold"):
            gate.set()
            release.wait(5)
        return None

    fake_api.middlewares.append(held)  # runs after the idempotency middleware registered the key
    holder = threading.Thread(
        target=lambda: results.update(
            held=requests.post(
                fake_api.url + "/people",
                json={"n": 2},
                headers={**AUTH, "Idempotency-Key": "k-4", "X-Hold": "1"},
                timeout=10,
            ).status_code
        )
    )
    holder.start()
    assert gate.wait(5)
    assert post(fake_api, "/people", {"n": 2}, "k-4").status_code == 409
    release.set()
    holder.join()
    assert results["held"] == 201
    assert post(fake_api, "/people", {"n": 2}, "k-4").status_code == 201  # now a replay
    assert fake_api.idempotency.in_flight_conflicts == 1


def test_ack_lost_commits_then_the_retry_is_replayed(fake_api: FakeApi):
    fake_api.faults.add("ack_lost", method="POST", times=1)
    with pytest.raises(requests.ConnectionError):
        post(fake_api, "/people", {"name": "Ada"}, "k-5")
    assert len(fake_api.collections["people"]) == 1  # the write committed
    resp = post(fake_api, "/people", {"name": "Ada"}, "k-5")
    assert resp.status_code == 201 and resp.headers["Idempotent-Replayed"] == "true"
    assert len(fake_api.collections["people"]) == 1


def test_injected_503_and_401_do_not_burn_the_key(fake_api: FakeApi):
    fake_api.faults.add("status", status=503, method="POST", times=1)
    assert post(fake_api, "/people", {"n": 1}, "k-6").status_code == 503
    bad = requests.post(
        fake_api.url + "/people",
        json={"n": 1},
        headers={"X-API-Key": "wrong", "Idempotency-Key": "k-6"},
        timeout=10,
    )
    assert bad.status_code == 401
    assert post(fake_api, "/people", {"n": 1}, "k-6").status_code == 201
    assert "Idempotent-Replayed" not in post(fake_api, "/people", {"n": 3}, "k-7").headers


def test_ignored_collection_and_required_mode(fake_api: FakeApi):
    fake_api.idempotency.ignore("legacy")
    post(fake_api, "/legacy", {"name": "Ada"}, "k-8")
    post(fake_api, "/legacy", {"name": "Ada"}, "k-8")
    assert len(fake_api.collections["legacy"]) == 2  # keys ignored: a duplicate
    fake_api.idempotency.required = True
    assert post(fake_api, "/people", {"name": "Ada"}).status_code == 400
    assert post(fake_api, "/legacy", {"name": "Ada"}).status_code == 201


def test_validation_and_batch_partial_failure(fake_api: FakeApi):
    fake_api.validation.add("people", required=["email"], patterns={"email": r"[^@]+@[^@]+"})
    bad = post(fake_api, "/people", {"email": "nope"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"email": "does not match [^@]+@[^@]+"}
    resp = requests.post(
        fake_api.url + "/people/batch",
        json={"records": [{"email": "a@x"}, {"name": "no email"}, {"id": 9, "email": "c@x"}]},
        headers=AUTH,
        timeout=10,
    )
    assert resp.status_code == 207
    results = resp.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[1]["errors"] == {"email": "is required"}
    assert sorted(r["email"] for r in fake_api.collections["people"].all()) == ["a@x", "c@x"]


def test_write_builder_batches_are_deterministic_and_hold_valid_records_only():
    from airflow_provider_apisync.push.writes import Invalid, PushSpec, Write, WriteBuilder

    spec = PushSpec("/people/batch", "POST", ("ext_id",), batch_size=3, batch_body_key="records")
    records = [{"ext_id": f"P{i}"} for i in range(5)]
    records.insert(2, {"name": "no key"})

    def build():
        return list(WriteBuilder(spec, lambda e: "https://api.example" + e).writes(records))

    first = build()
    assert [type(w).__name__ for w in first] == ["Invalid", "Write", "Write"]
    assert isinstance(first[0], Invalid) and "ext_id" in first[0].problem
    batches = [w for w in first if isinstance(w, Write)]
    assert [w.keys for w in batches] == [[["P0"], ["P1"], ["P2"]], [["P3"], ["P4"]]]
    assert batches[0].body.startswith(b'{"records":[')
    assert [w.key for w in build() if isinstance(w, Write)] == [w.key for w in batches]
