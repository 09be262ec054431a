"""Retry policy and error taxonomy against FakeApi: what is retried, when, and how it ends."""

from __future__ import annotations

import socket
import time

import pytest
from resilience_support import client_for, gaps

from airflow_provider_apisync.client import (
    ApiAuthError,
    ApiClient,
    ApiClientError,
    ApiContractError,
    ApiRateLimitError,
    ApiServerError,
    ApiTransportError,
    config_from_connection,
)
from airflow_provider_apisync.client.errors import BODY_LIMIT
from airflow_provider_apisync.client.retry import IN_FLIGHT_WAIT, wait_server_hint
from airflow_provider_apisync.testing import FakeApi, Response


@pytest.fixture(scope="module")
def server():
    with FakeApi(seed={"contacts": 20}) as api:
        yield api


@pytest.fixture
def api(server):
    """The module's FakeApi with no faults and an empty request log."""
    server.faults.clear()
    server.clear_log()
    yield server
    server.faults.clear()


def ids(api: FakeApi, method: str, path: str, header: str = "X-Request-ID") -> list[str]:
    return [r.headers.get(header) for r in api.log(method, path)]


# -- waits ------------------------------------------------------------------------------------
def test_retry_after_seconds_is_honoured(api):
    api.faults.add("status", path="/contacts/1", status=503, retry_after=1, times=1)
    client = client_for(api)
    assert client.request("GET", "/contacts/1").json()["id"] == 1
    attempts = api.log("GET", "/contacts/1")
    assert len(attempts) == 2
    assert 1.0 <= gaps(attempts)[0] < 1.8
    assert client.stats.retries == 1


def test_retry_after_http_date_is_honoured(api):
    # An HTTP-date has whole-second resolution: "2 s from now" is at least 1 s away.
    api.faults.add(
        "status", path="/contacts/2", status=503, retry_after=2, retry_after_date=True, times=1
    )
    client = client_for(api)
    client.request("GET", "/contacts/2")
    assert 1.0 <= gaps(api.log("GET", "/contacts/2"))[0] < 2.8


def test_body_hint_retry_after_ms_is_honoured(api):
    calls = []

    def limited(request):
        calls.append(request)
        if len(calls) == 1:
            return Response.json({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 400}, 429)
        return Response.json({"ok": True})

    api.route("GET", "/matrix", limited, first=True)
    client = client_for(api)
    client.request("GET", "/matrix")
    assert len(calls) == 2
    assert calls[1].at - calls[0].at >= 0.4
    assert client.stats.throttled == 1 and client.stats.rate_limited == 1


def test_hint_longer_than_max_retry_wait_fails_at_once(api):
    api.faults.add("status", path="/contacts/3", status=503, retry_after=30)
    client = client_for(api, max_retry_wait=2)
    started = time.monotonic()
    with pytest.raises(ApiServerError) as info:
        client.request("GET", "/contacts/3")
    assert time.monotonic() - started < 1.0
    assert info.value.attempts == 1 and info.value.retry_after == 30
    assert len(api.log("GET", "/contacts/3")) == 1


def test_409_for_a_keyed_request_in_flight_is_retried_after_a_short_wait(api):
    api.faults.add("status", method="POST", path="/contacts", status=409, times=1)
    client = client_for(api)
    resp = client.request("POST", "/contacts", json={"name": "x"}, idempotency_key="k-409")
    assert resp.status_code == 201
    posts = api.log("POST", "/contacts")
    assert len(posts) == 2
    assert gaps(posts)[0] >= IN_FLIGHT_WAIT


def test_409_without_key_is_a_client_error(api):
    api.faults.add("status", method="POST", path="/contacts", status=409, times=1)
    with pytest.raises(ApiClientError) as info:
        client_for(api).request("POST", "/contacts", json={"name": "x"})
    assert info.value.status == 409
    assert len(api.log("POST", "/contacts")) == 1


def test_backoff_without_hint_is_full_jitter_capped():
    class State:
        outcome = None

        def __init__(self, n):
            self.attempt_number = n

    top = wait_server_hint(max_wait=3.0, base=0.5, rng=lambda: 1.0)
    bottom = wait_server_hint(max_wait=3.0, base=0.5, rng=lambda: 0.0)
    assert [top(State(n)) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert {bottom(State(n)) for n in range(1, 6)} == {0.0}


# -- which methods --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["drop", "ack_lost", "slow"])
def test_post_without_key_is_not_retried_once_the_server_got_it(api, kind):
    api.faults.add(kind, method="POST", path="/contacts", times=1, delay=1.0)
    client = client_for(api, timeout=[2, 0.3])
    with pytest.raises(ApiTransportError) as info:
        client.request("POST", "/contacts", json={"name": "once"})
    assert not info.value.never_sent
    assert len(api.log("POST", "/contacts")) == 1
    assert client.stats.retries == 0


def test_post_without_key_is_not_retried_after_a_5xx(api):
    api.faults.add("status", method="POST", path="/contacts", status=503, times=1)
    with pytest.raises(ApiServerError):
        client_for(api).request("POST", "/contacts", json={"name": "once"})
    assert len(api.log("POST", "/contacts")) == 1


@pytest.mark.parametrize("kind", ["drop", "ack_lost", "status"])
def test_post_with_key_is_retried(api, kind):
    api.faults.add(kind, method="POST", path="/contacts", times=1, status=502)
    client = client_for(api, max_retry_wait=0.05)
    resp = client.request("POST", "/contacts", json={"name": "k"}, idempotency_key="key-1")
    assert resp.status_code == 201
    posts = api.log("POST", "/contacts")
    assert len(posts) == 2
    assert {p.headers.get("Idempotency-Key") for p in posts} == {"key-1"}
    assert len(set(ids(api, "POST", "/contacts"))) == 1  # one correlation id across attempts


def test_post_without_key_is_retried_after_429(api):
    """A 429 is refused before it is processed: safe to send again, whatever the method."""
    api.faults.add("status", method="POST", path="/contacts", status=429, retry_after=0.1, times=1)
    resp = client_for(api).request("POST", "/contacts", json={"name": "r"})
    assert resp.status_code == 201
    assert len(api.log("POST", "/contacts")) == 2


def test_post_without_key_is_retried_when_the_connection_was_refused():
    with socket.socket() as sock:  # a port that nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    extra = {"max_retries": 2, "max_retry_wait": 0.01}
    client = ApiClient(config_from_connection(host=f"http://127.0.0.1:{port}/v1", extra=extra))
    with pytest.raises(ApiTransportError) as info:
        client.request("POST", "/contacts", json={"name": "never-sent"})
    assert info.value.never_sent
    assert info.value.attempts == 3
    assert client.stats.retries == 2


def test_get_is_retried_after_a_read_timeout(api):
    api.faults.add("slow", path="/contacts/4", delay=1.0, times=1)
    client = client_for(api, timeout=[2, 0.3], max_retry_wait=0.05)
    assert client.request("GET", "/contacts/4").json()["id"] == 4
    assert client.stats.summary()["statuses"] == {"ReadTimeout": 1, "200": 1}


def test_retries_are_bounded_by_max_retries(api):
    api.faults.add("status", path="/contacts/5", status=503)
    client = client_for(api, max_retries=3, max_retry_wait=0.02)
    with pytest.raises(ApiServerError) as info:
        client.request("GET", "/contacts/5")
    assert info.value.attempts == 4
    assert len(api.log("GET", "/contacts/5")) == 4
    assert len(set(ids(api, "GET", "/contacts/5"))) == 1
    assert info.value.correlation_id == ids(api, "GET", "/contacts/5")[0]
    assert client.stats.errors == {"server": 1}


@pytest.mark.parametrize("status", [400, 404, 422, 501])
def test_other_statuses_are_not_retried(api, status):
    api.faults.add("status", path="/contacts/6", status=status)
    with pytest.raises((ApiClientError, ApiServerError)):
        client_for(api).request("GET", "/contacts/6")
    assert len(api.log("GET", "/contacts/6")) == 1


# -- taxonomy -------------------------------------------------------------------------------
def test_each_failure_ends_as_one_taxonomy_class(api):
    client = client_for(api, max_retries=1, max_retry_wait=0.01)
    cases = [
        (
            "auth",
            ApiAuthError,
            401,
            lambda: ApiClient(
                config_from_connection(host=api.url, password="wrong", extra={"max_retries": 0})
            ).request("GET", "/contacts"),
        ),
        ("client", ApiClientError, 404, lambda: client.request("GET", "/nothing/here/at/all")),
    ]
    api.faults.add("status", path="/contacts/7", status=500)
    api.faults.add("drop", path="/contacts/8")
    cases += [
        ("server", ApiServerError, 500, lambda: client.request("GET", "/contacts/7")),
        ("transport", ApiTransportError, None, lambda: client.request("GET", "/contacts/8")),
    ]
    for category, cls, status, call in cases:
        with pytest.raises(cls) as info:
            call()
        error = info.value
        assert error.category == category
        assert error.status == status
        assert error.method == "GET"
        assert error.url.startswith(api.url)
        assert error.correlation_id and len(error.correlation_id) == 32
        assert error.to_dict()["category"] == category


def test_quota_403_is_a_rate_limit_error(api):
    def github_403(request):
        return Response.json(
            {"message": "API rate limit exceeded"},
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)},
        )

    api.route("GET", "/gh", github_403, first=True)
    with pytest.raises(ApiRateLimitError) as info:
        client_for(api, max_retry_wait=5).request("GET", "/gh")
    assert info.value.status == 403
    assert info.value.retry_after > 3000  # longer than max_retry_wait: not retried
    assert len(api.log("GET", "/gh")) == 1


def test_error_body_is_truncated_and_url_redacted(api):
    api.route("GET", "/big", lambda r: Response(500, b"x" * 5000), first=True)
    with pytest.raises(ApiServerError) as info:
        client_for(api, max_retries=0).request("GET", "/big", params={"token": "s3cret", "q": "ok"})
    error = info.value
    assert len(error.body) < BODY_LIMIT + 40 and error.body.endswith("more chars]")
    assert "s3cret" not in str(error) and "token=***" in error.url and "q=ok" in error.url


def test_bad_json_is_a_contract_error(api):
    api.faults.add("bad_json", path="/contacts/9", times=1)
    client = client_for(api)
    with pytest.raises(ApiContractError):
        client.get_json("/contacts/9")


def test_truncated_body_is_a_retried_transport_error(api):
    api.faults.add("truncate", path="/contacts/10", times=1)
    client = client_for(api, max_retry_wait=0.01)
    assert client.get_json("/contacts/10")["id"] == 10
    assert client.stats.retries == 1


def test_request_that_cannot_be_built_is_a_client_error_and_not_sent(api):
    client = client_for(api)
    with pytest.raises(ApiClientError) as info:
        client.request("POST", "/contacts", json={"amount": float("nan")})
    assert "InvalidJSONError" in info.value.message
    assert api.log("POST") == []


# -- correlation ids ------------------------------------------------------------------------
def test_correlation_header_is_configurable_and_a_callers_id_is_kept(api):
    client = client_for(api, correlation_header="X-Correlation-ID")
    client.request("GET", "/contacts/1")
    client.request("GET", "/contacts/1", headers={"x-correlation-id": "mine-123"})
    sent = ids(api, "GET", "/contacts/1", "X-Correlation-ID")
    assert len(sent[0]) == 32 and sent[1] == "mine-123"
    assert all(r.headers.get("X-Request-ID") is None for r in api.log("GET"))
