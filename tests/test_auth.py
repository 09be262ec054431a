"""Every auth type through ApiSyncHook (AIRFLOW_CONN_* connections) against FakeApi over HTTP.

Also: OAuth2 token caching (sequential and concurrent), refresh ahead of expiry, refresh
token rotation, token endpoint failures, and masking of minted tokens.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from airflow_provider_apisync.client import ApiAuthError, ApiTransportError
from airflow_provider_apisync.client.auth import TokenGrantError
from airflow_provider_apisync.hooks import ApiSyncHook
from airflow_provider_apisync.testing import FakeApi, FakeAuth, Response

pytest_plugins = ["_servers"]  # fixtures: api, other (module-scoped FakeApis, reset per test)

KEY = "test-api-key-0001"
BEARER = "test-bearer-token-0001"
USER, PASSWORD = "alice", "test-basic-pass-0001"
CLIENT, SECRET = "client-1", "test-client-secret-0001"
REFRESH = "test-refresh-token-0001"


def _get(hook: ApiSyncHook) -> list[dict]:
    resp = hook.request("GET", "/contacts", params={"limit": 5})
    assert resp.status_code == 200
    return resp.json()["data"]


def _last(api: FakeApi):
    return api.log("GET", "/contacts")[-1]


# -- static credentials ---------------------------------------------------------------


def test_api_key_header(api, set_conn):
    set_conn("t", api.url, password=KEY, extra={"auth_type": "api_key"})
    assert [r["id"] for r in _get(ApiSyncHook("t"))] == [1, 2, 3, 4, 5]
    seen = _last(api)
    assert seen.headers.get("X-API-Key") == KEY
    assert "Authorization" not in seen.headers
    assert "api_key" not in seen.query


def test_api_key_custom_header(api, set_conn):
    api.auth = FakeAuth(api_key_header="X-Shop-Token")
    set_conn(
        "t", api.url, password=KEY, extra={"auth_type": "api_key", "api_key_header": "X-Shop-Token"}
    )
    _get(ApiSyncHook("t"))
    assert _last(api).headers.get("X-Shop-Token") == KEY
    assert "X-API-Key" not in _last(api).headers


def test_api_key_query_param(api, set_conn):
    set_conn(
        "t",
        api.url,
        password=KEY,
        extra={"auth_type": "api_key", "api_key_query_param": "api_key"},
    )
    _get(ApiSyncHook("t"))
    seen = _last(api)
    assert seen.query == {"limit": "5", "api_key": KEY}
    assert "X-API-Key" not in seen.headers


def test_bearer(api, set_conn):
    set_conn("t", api.url, password=BEARER, extra={"auth_type": "bearer"})
    _get(ApiSyncHook("t"))
    assert _last(api).headers.get("Authorization") == f"Bearer {BEARER}"


def test_password_only_defaults_to_bearer(api, set_conn):
    set_conn("t", api.url, password=BEARER)
    _get(ApiSyncHook("t"))
    assert _last(api).headers.get("Authorization") == f"Bearer {BEARER}"


@pytest.mark.parametrize("extra", [{"auth_type": "basic"}, {}], ids=["explicit", "inferred"])
def test_basic(api, set_conn, extra):
    set_conn("t", api.url, login=USER, password=PASSWORD, extra=extra)
    _get(ApiSyncHook("t"))
    assert _last(api).headers.get("Authorization", "").startswith("Basic ")


def test_none_sends_no_credentials(api, set_conn):
    api.auth = FakeAuth(required=False)
    set_conn("t", api.url, extra={"auth_type": "none"})
    _get(ApiSyncHook("t"))
    headers = _last(api).headers
    assert not {"authorization", "x-api-key"} & set(headers)


def test_wrong_static_secret_is_an_auth_error_without_the_secret(api, set_conn):
    set_conn("t", api.url, password="wrong-key-1234567", extra={"auth_type": "api_key"})
    with pytest.raises(ApiAuthError) as info:
        ApiSyncHook("t").request("GET", "/contacts")
    assert info.value.status == 401
    assert "wrong-key-1234567" not in str(info.value)
    assert "invalid API key" in str(info.value)  # the server's reason is kept


# -- headers, user agent, timeouts ----------------------------------------------------


def test_static_headers_user_agent_and_correlation_id(api, set_conn):
    set_conn(
        "t",
        api.url,
        password=BEARER,
        extra={"headers": {"Stripe-Version": "2024-06-20"}, "user_agent": "acme-sync/2"},
    )
    _get(ApiSyncHook("t"))
    headers = _last(api).headers
    assert headers.get("Stripe-Version") == "2024-06-20"
    assert headers.get("User-Agent") == "acme-sync/2"
    assert len(headers.get("X-Request-ID", "")) == 32


def test_default_user_agent_names_apisync(api, set_conn):
    set_conn("t", api.url, password=BEARER)
    _get(ApiSyncHook("t"))
    assert _last(api).headers.get("User-Agent", "").startswith("apisync/")


def test_read_timeout_from_the_connection_is_enforced(api, set_conn):
    api.faults.add("slow", path="/contacts", delay=2.0, times=1)
    set_conn("t", api.url, password=BEARER, extra={"timeout": [1, 0.3], "max_retries": 0})
    started = time.monotonic()
    with pytest.raises(ApiTransportError, match="ReadTimeout"):
        ApiSyncHook("t").request("GET", "/contacts")
    assert time.monotonic() - started < 1.5


# -- OAuth2 ---------------------------------------------------------------------------


def _cc(set_conn, api, **extra):
    set_conn(
        "t",
        api.url,
        login=CLIENT,
        password=SECRET,
        extra={"auth_type": "oauth2_client_credentials", "token_url": api.token_url, **extra},
    )
    return ApiSyncHook("t")


def _rt(set_conn, api, refresh=REFRESH, secret=SECRET, **extra):
    set_conn(
        "t",
        api.url,
        login=CLIENT,
        password=secret,
        extra={
            "auth_type": "oauth2_refresh_token",
            "token_url": api.token_url,
            "refresh_token": refresh,
            **extra,
        },
    )
    return ApiSyncHook("t")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_auth_methods_scope_and_audience(api, set_conn, method):
    hook = _cc(
        set_conn, api, token_auth_method=method, scope=["crm.read", "crm.write"], audience="crm"
    )
    _get(hook)
    (grant,) = api.auth.grants()
    assert grant == {
        "grant_type": "client_credentials",
        "client_id": CLIENT,
        "auth_method": method,
        "scope": "crm.read crm.write",
        "audience": "crm",
    }
    token = _last(api).headers.get("Authorization").removeprefix("Bearer ")
    assert token in api.auth.issued


def test_client_secret_basic_is_form_encoded_per_rfc6749(api, set_conn):
    odd = "s3cr:et/with+odd chars%"
    api.auth = FakeAuth(oauth_clients={"id:1": odd})
    set_conn(
        "t",
        api.url,
        login="id:1",
        password=odd,
        extra={"auth_type": "oauth2_client_credentials", "token_url": api.token_url},
    )
    _get(ApiSyncHook("t"))
    assert api.auth.grants()[0]["client_id"] == "id:1"


def test_token_cached_for_many_calls(api, set_conn):
    hook = _cc(set_conn, api)
    for _ in range(25):
        _get(hook)
    assert len(api.auth.grants()) == 1
    assert len(api.log("GET", "/contacts")) == 25


def test_concurrent_threads_fetch_one_token(api, set_conn):
    # A slow token endpoint keeps every thread waiting on the first fetch.
    api.faults.add("slow", path="/oauth/token", delay=0.4, times=1)
    hook = _cc(set_conn, api)
    threads, barrier, results, errors = 12, threading.Barrier(12), [], []

    def worker():
        barrier.wait()
        try:
            results.append(len(_get(hook)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(10)
    assert not errors
    assert results == [5] * threads
    assert len(api.auth.grants()) == 1


@pytest.mark.parametrize("grant", ["client_credentials", "refresh_token"])
def test_token_refreshed_before_expiry_without_a_401(api, set_conn, grant):
    api.auth = FakeAuth(token_ttl=1.0)
    hook = _cc(set_conn, api) if grant == "client_credentials" else _rt(set_conn, api)
    _get(hook)
    _get(hook)
    assert len(api.auth.grants()) == 1
    time.sleep(0.95)  # past expires_in minus the margin (a tenth of 1 s), before expiry
    _get(hook)
    assert len(api.auth.grants(grant)) == 2
    assert [r.status for r in api.log("GET", "/contacts")] == [200, 200, 200]


def test_expired_token_gets_401_then_one_new_token(api, set_conn):
    hook = _cc(set_conn, api)
    _get(hook)
    api.auth.expire_all_tokens()
    _get(hook)
    assert [r.status for r in api.log("GET", "/contacts")] == [200, 401, 200]
    assert len(api.auth.grants()) == 2


def test_concurrent_401s_mint_one_new_token(api, set_conn):
    hook = _cc(set_conn, api)
    _get(hook)
    api.auth.expire_all_tokens()
    barrier, errors = threading.Barrier(8), []

    def worker():
        barrier.wait()
        try:
            _get(hook)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(10)
    assert not errors
    assert len(api.auth.grants()) == 2  # the first token, and exactly one replacement


def test_refresh_token_rotation_uses_newest_and_old_is_rejected(api, set_conn):
    hook = _rt(set_conn, api)
    _get(hook)
    first_rotated = hook.client.auth.current_refresh_token
    assert first_rotated == api.auth.refresh_tokens_issued[0] != REFRESH
    api.auth.expire_all_tokens()
    _get(hook)  # 401 -> refresh with the rotated token (the original one is spent)
    second_rotated = hook.client.auth.current_refresh_token
    assert second_rotated == api.auth.refresh_tokens_issued[1]
    assert [g["grant_type"] for g in api.auth.grants()] == ["refresh_token"] * 2
    for spent in (REFRESH, first_rotated):
        resp = requests.post(
            api.token_url,
            data={"grant_type": "refresh_token", "refresh_token": spent},
            auth=(CLIENT, SECRET),
            timeout=5,
        )
        assert resp.status_code == 400
        assert resp.json()["error"] == "invalid_grant"


def test_refused_grant_is_clear_and_keeps_secrets_out(api, set_conn):
    set_conn(
        "t",
        api.url,
        login=CLIENT,
        password="not-the-secret-98765",
        extra={"auth_type": "oauth2_client_credentials", "token_url": api.token_url},
    )
    with pytest.raises(TokenGrantError) as info:
        ApiSyncHook("t").request("GET", "/contacts")
    text = str(info.value)
    assert info.value.status == 401
    assert "invalid_client" in text
    assert "not-the-secret-98765" not in text
    assert not api.log("GET", "/contacts")  # nothing reached the API


def test_token_endpoint_echoing_secrets_is_not_repeated(api, set_conn):
    def echo(request):
        if request.path.endswith("/echo-token"):
            return Response.json(
                {"error": "invalid_client", "debug": request.form(), "secret": SECRET}, 401
            )
        return None

    api.middlewares.append(echo)
    set_conn(
        "t",
        api.url,
        login=CLIENT,
        password=SECRET,
        extra={
            "auth_type": "oauth2_client_credentials",
            "token_url": api.url + "/echo-token",
            "token_auth_method": "client_secret_post",
        },
    )
    with pytest.raises(ApiAuthError) as info:
        ApiSyncHook("t").request("GET", "/contacts")
    assert SECRET not in str(info.value)
    assert "invalid_client" in str(info.value)


def test_token_endpoint_redirect_is_not_followed(api, other, set_conn):
    api.middlewares.append(
        lambda r: (
            Response(307, b"", {"Location": other.token_url})
            if r.path.endswith("/token-moved")
            else None
        )
    )
    set_conn(
        "t",
        api.url,
        login=CLIENT,
        password=SECRET,
        extra={
            "auth_type": "oauth2_client_credentials",
            "token_url": api.url + "/token-moved",
            "token_auth_method": "client_secret_post",
        },
    )
    with pytest.raises(ApiAuthError, match="redirect"):
        ApiSyncHook("t").request("GET", "/contacts")
    assert len(api.log("POST", "/token-moved")) == 1
    assert other.log() == []  # the client secret never travelled on


def test_minted_tokens_are_masked_in_airflow(api, set_conn):
    from airflow_provider_apisync.compat import redact

    hook = _rt(set_conn, api)
    _get(hook)
    access = _last(api).headers.get("Authorization").removeprefix("Bearer ")
    rotated = hook.client.auth.current_refresh_token
    for secret in (access, rotated, SECRET, REFRESH):
        assert redact(f"value={secret}") == "value=***"
