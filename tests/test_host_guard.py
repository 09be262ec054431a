"""Credentials reach only the base origin (plus allowed_hosts): redirects, absolute URLs, SDKs.

Two FakeApis on 127.0.0.1 with different ports are two origins; ``other`` must never see
a credential of any kind.
"""

from __future__ import annotations

import pytest
import requests

from airflow_provider_apisync.client import ForeignHostError
from airflow_provider_apisync.client.urls import (
    HostGuard,
    is_absolute,
    join_url,
    parse_allowed_host,
    path_of,
    redact_url,
    register_secret_param,
)
from airflow_provider_apisync.hooks import ApiSyncHook

pytest_plugins = ["_servers"]  # fixtures: api, other (module-scoped FakeApis, reset per test)

KEY = "test-api-key-0001"
BEARER = "test-bearer-token-0001"
PASSWORD = "test-basic-pass-0001"
SECRET = "test-client-secret-0001"

CASES = {
    "api_key_header": {"password": KEY, "extra": {"auth_type": "api_key"}},
    "api_key_query": {
        "password": KEY,
        "extra": {"auth_type": "api_key", "api_key_query_param": "api_key"},
    },
    "bearer": {"password": BEARER, "extra": {"auth_type": "bearer"}},
    "basic": {"login": "alice", "password": PASSWORD, "extra": {"auth_type": "basic"}},
    "oauth2": {
        "login": "client-1",
        "password": SECRET,
        "extra": {"auth_type": "oauth2_client_credentials"},
    },
}


def _hook(set_conn, api, case: str, **extra) -> ApiSyncHook:
    fields = {**CASES[case], "extra": {**CASES[case]["extra"], **extra}}
    if case == "oauth2":
        fields["extra"]["token_url"] = api.token_url
    set_conn("t", api.url, **fields)
    return ApiSyncHook("t")


def _credentials_in(request) -> list[str]:
    found = [h for h in ("authorization", "x-api-key") if h in request.headers]
    found += [k for k in request.query if k == "api_key"]
    text = repr((request.path, request.query, dict(request.headers)))
    found += [s for s in (KEY, BEARER, PASSWORD, SECRET) if s in text]
    return found


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("case", list(CASES))
def test_cross_origin_redirect_is_refused_and_nothing_leaves(api, other, set_conn, case, status):
    hook = _hook(set_conn, api, case)
    with pytest.raises(ForeignHostError) as info:
        hook.request("GET", "/redirect", params={"to": other.url + "/contacts", "status": status})
    assert other.log() == []
    assert [r.status for r in api.log("GET", "/redirect")] == [status]
    message = str(info.value)
    assert f"127.0.0.1:{other.origin.rsplit(':', 1)[1]}" in message
    assert "allowed_hosts" in message
    assert not [s for s in (KEY, BEARER, PASSWORD, SECRET) if s in message]


def test_plain_requests_would_leak_the_api_key_control(api, other):
    """Why the guard exists: requests forwards custom headers across origins."""
    with requests.Session() as session:
        resp = session.get(
            api.url + "/redirect",
            params={"to": other.url + "/contacts", "status": 302},
            headers={"X-API-Key": KEY},
            timeout=5,
        )
    assert resp.status_code == 200
    assert _credentials_in(other.log()[0]) == ["x-api-key", KEY]


@pytest.mark.parametrize("case", list(CASES))
def test_absolute_foreign_url_is_refused_before_sending(api, other, set_conn, case):
    hook = _hook(set_conn, api, case)
    with pytest.raises(ForeignHostError):
        hook.request("GET", other.url + "/contacts")
    with pytest.raises(ForeignHostError):
        hook.session.get(other.url + "/contacts", timeout=5)  # vendor SDK path
    assert other.log() == []


@pytest.mark.parametrize("case", list(CASES))
def test_same_origin_redirect_keeps_working(api, set_conn, case):
    hook = _hook(set_conn, api, case)
    resp = hook.request("GET", "/redirect", params={"to": "/v1/contacts?limit=2", "status": 302})
    assert [r["id"] for r in resp.json()["data"]] == [1, 2]
    final = api.log("GET", "/contacts")[-1]
    assert final.status == 200
    assert _credentials_in(final)


def test_absolute_url_on_the_base_origin_is_allowed(api, set_conn):
    hook = _hook(set_conn, api, "api_key_header")
    resp = hook.request("GET", api.url + "/contacts", params={"limit": 1})
    assert resp.json()["data"][0]["id"] == 1


@pytest.mark.parametrize("form", ["host_port", "origin"])
@pytest.mark.parametrize("case", ["api_key_header", "api_key_query", "bearer"])
def test_allowed_hosts_lets_a_second_origin_through(api, other, set_conn, form, case):
    port = other.origin.rsplit(":", 1)[1]
    allowed = f"127.0.0.1:{port}" if form == "host_port" else other.origin
    hook = _hook(set_conn, api, case, allowed_hosts=allowed)
    resp = hook.request("GET", "/redirect", params={"to": other.url + "/contacts", "status": 302})
    assert resp.status_code == 200
    assert _credentials_in(other.log("GET", "/contacts")[-1])
    assert hook.request("GET", other.url + "/contacts").status_code == 200


def test_bare_allowed_host_means_the_default_port_only(api, other, set_conn):
    hook = _hook(set_conn, api, "api_key_header", allowed_hosts=["127.0.0.1", "files.example"])
    with pytest.raises(ForeignHostError):
        hook.request("GET", other.url + "/contacts")
    assert other.log() == []


def test_audit_lines_and_errors_redact_custom_key_parameters(api, set_conn, caplog):
    api.auth.api_key_query_param = "appid"
    set_conn(
        "t", api.url, password=KEY, extra={"auth_type": "api_key", "api_key_query_param": "appid"}
    )
    hook = ApiSyncHook("t")
    with caplog.at_level("DEBUG", logger="airflow_provider_apisync"):
        hook.request("GET", "/contacts", params={"limit": 1})
        with pytest.raises(Exception) as info:
            hook.request("GET", "/missing-collection")
    assert api.log("GET", "/contacts")[-1].query["appid"] == KEY
    audit = [r.getMessage() for r in caplog.records if r.name.endswith("audit")]
    assert any("appid=***" in line for line in audit)
    assert not [line for line in caplog.text.splitlines() if KEY in line]
    assert KEY not in str(info.value)


# -- pure helpers -----------------------------------------------------------------------


def test_host_guard_origins_and_schemes():
    guard = HostGuard(
        "https://api.example/v2",
        ["files.example", "cdn.example:8443", "http://legacy.example", "[::1]:9000"],
    )
    allowed = [
        "https://api.example/v2/x",
        "https://API.EXAMPLE:443/other",
        "https://files.example/a",
        "https://cdn.example:8443/a",
        "http://legacy.example/a",
        "https://[::1]:9000/a",
    ]
    refused = [
        "http://api.example/v2/x",  # downgrade
        "https://api.example:8443/",
        "http://files.example/a",  # a bare host never allows plain http under an https base
        "https://cdn.example/a",
        "https://evil.example/",
        "https://api.example.evil.example/",
        "https://api.example@evil.example/",
        "https://evil.example/?u=https://api.example/",
        "ftp://api.example/",
        "https://api.example:99999/",
        "not a url",
    ]
    assert [u for u in allowed if not guard.allows(u)] == []
    assert [u for u in refused if guard.allows(u)] == []


@pytest.mark.parametrize(
    "entry", ["*.example.com", "https://x.example/path", "x.example/path", "x:99999", "u@x", ""]
)
def test_bad_allowed_host_entries(entry):
    with pytest.raises(ValueError):
        parse_allowed_host(entry)


def test_join_url_keeps_the_prefix_and_the_origin():
    assert join_url("https://h/v1", "/items") == "https://h/v1/items"
    assert join_url("https://h/v1/", "items?a=1") == "https://h/v1/items?a=1"
    assert join_url("https://h/v1", "") == "https://h/v1"
    assert join_url("https://h/v1", "//evil.example/x") == "https://h/v1/evil.example/x"
    assert join_url("https://h/v1", "/search?q=http://x") == "https://h/v1/search?q=http://x"
    assert join_url("https://h/v1", "https://h/v2/x") == "https://h/v2/x"
    assert is_absolute("HTTPS://h/") and not is_absolute("/a?next=https://x")


def test_redact_url():
    register_secret_param("appid")
    assert redact_url("https://u:p@h/x?api_key=1&q=2") == "https://***@h/x?api_key=***&q=2"
    assert redact_url("https://h/x?appid=s3cret&access_token=t&sig=z") == (
        "https://h/x?appid=***&access_token=***&sig=***"
    )
    assert redact_url("http://[::1") == "<unparseable URL>"
    assert path_of("https://h/v1/x?token=abc&page=2") == "/v1/x?token=***&page=2"
