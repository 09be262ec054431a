"""ApiSyncHook: requests, session, 401 reload-and-retry, test_connection, against FakeApi.

Connections are AIRFLOW_CONN_* env vars read through ``BaseHook.get_connection``; changing
the env var between calls is how a secrets backend rotation looks to the hook.
"""

from __future__ import annotations

import logging
import socket

import pytest
from conftest import conn_json

from airflow_provider_apisync.client import ApiAuthError
from airflow_provider_apisync.client.session import GuardedSession
from airflow_provider_apisync.compat import AirflowNotFoundException
from airflow_provider_apisync.hooks import ApiSyncHook
from airflow_provider_apisync.testing import FakeAuth

pytest_plugins = ["_servers"]  # fixtures: api, other (module-scoped FakeApis, reset per test)

KEY, NEW_KEY = "test-api-key-0001", "test-api-key-0002"
CLIENT, SECRET, NEW_SECRET = "client-1", "test-client-secret-0001", "test-client-secret-0002"
REFRESH = "test-refresh-token-0001"


def _statuses(api, path="/contacts"):
    return [r.status for r in api.log("GET", path)]


def _key_conn(set_conn, api, key=KEY, **extra):
    set_conn("crm", api.url, password=key, extra={"auth_type": "api_key", **extra})


def _rt_conn(set_conn, api, secret=SECRET, refresh=REFRESH):
    set_conn(
        "crm",
        api.url,
        login=CLIENT,
        password=secret,
        extra={
            "auth_type": "oauth2_refresh_token",
            "token_url": api.token_url,
            "refresh_token": refresh,
        },
    )


# -- requests and session ---------------------------------------------------------------


def test_request_appends_endpoint_to_the_base_path(api, set_conn):
    _key_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    created = hook.request("POST", "contacts", json={"name": "Ada"}).json()
    assert hook.request("GET", f"/contacts/{created['id']}").json()["name"] == "Ada"
    assert [r.path for r in api.log()] == ["/v1/contacts", f"/v1/contacts/{created['id']}"]
    summary = hook.summary()
    assert summary["requests"] == 2 and summary["attempts"] == 2 and summary["errors"] == {}


def test_session_is_authenticated_and_guarded_for_vendor_sdks(api, set_conn):
    _key_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    assert isinstance(hook.session, GuardedSession)
    assert hook.get_conn() is hook.session
    resp = hook.session.get(api.url + "/contacts", params={"limit": 1}, timeout=5)
    assert resp.status_code == 200
    assert api.log("GET", "/contacts")[-1].headers.get("X-API-Key") == KEY


def test_close_releases_the_client_and_the_hook_stays_usable(api, set_conn):
    _key_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    first = hook.client
    hook.close()
    assert hook.summary()["requests"] == 0
    assert hook.request("GET", "/contacts").status_code == 200
    assert hook.client is not first


def test_missing_connection_names_the_conn_id():
    with pytest.raises(AirflowNotFoundException, match="apisync_nowhere"):
        ApiSyncHook("apisync_nowhere").request("GET", "/")


def test_other_connection_type_is_read_with_a_warning(api, monkeypatch, caplog):
    bearer = "test-bearer-token-0001"
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_HTTP", conn_json(api.url, password=bearer, conn_type="http")
    )
    with caplog.at_level(logging.WARNING):
        assert ApiSyncHook("crm_http").request("GET", "/contacts").status_code == 200
    assert "has type 'http', not 'apisync'" in caplog.text


def test_connection_secrets_are_masked(api, set_conn):
    from airflow_provider_apisync.compat import redact

    extra = {"extra__apisync__refresh_token": "rt-xyz-98765"}
    set_conn("crm", api.url, password="masked-password-1234", extra=extra)
    ApiSyncHook("crm").load_config()
    assert redact("a masked-password-1234 b rt-xyz-98765") == "a *** b ***"


# -- 401: reload the connection once and retry -----------------------------------------


def test_rotated_api_key_is_picked_up_from_the_changed_env_var(api, set_conn):
    _key_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    assert hook.request("GET", "/contacts").status_code == 200
    api.auth.rotate_api_key(NEW_KEY)  # the vendor console rotates the key ...
    _key_conn(set_conn, api, key=NEW_KEY)  # ... and the secrets backend gets the new one
    assert hook.request("GET", "/contacts").status_code == 200
    assert _statuses(api) == [200, 401, 200]
    keys = [r.headers.get("X-API-Key") for r in api.log("GET", "/contacts")]
    assert keys == [KEY, KEY, NEW_KEY]
    assert hook.request("GET", "/contacts").status_code == 200  # no 401 from now on
    assert _statuses(api)[-1] == 200 and len(_statuses(api)) == 4


def test_rotated_basic_password_is_picked_up(api, set_conn):
    set_conn("crm", api.url, login="alice", password="test-basic-pass-0001")
    hook = ApiSyncHook("crm")
    hook.request("GET", "/contacts")
    api.auth.basic_users["alice"] = "test-basic-pass-0002"
    set_conn("crm", api.url, login="alice", password="test-basic-pass-0002")
    assert hook.request("GET", "/contacts").status_code == 200
    assert _statuses(api) == [200, 401, 200]


def test_unchanged_credentials_fail_after_one_reload(api, set_conn, caplog):
    _key_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    hook.request("GET", "/contacts")
    api.auth.rotate_api_key(NEW_KEY)  # rotated at the vendor, not in the secrets backend
    with pytest.raises(ApiAuthError) as info:
        hook.request("GET", "/contacts")
    assert info.value.status == 401
    assert _statuses(api) == [200, 401]  # nothing changed on reload: no pointless retry
    assert hook.summary()["errors"] == {"auth": 1}


def test_403_is_not_retried(api, set_conn):
    _key_conn(set_conn, api)
    api.faults.add("status", path="/contacts", status=403)
    with pytest.raises(ApiAuthError) as info:
        ApiSyncHook("crm").request("GET", "/contacts")
    assert info.value.status == 403
    assert _statuses(api) == [403]


def test_rotated_client_secret_is_picked_up(api, set_conn):
    def cc(secret):
        set_conn(
            "crm",
            api.url,
            login=CLIENT,
            password=secret,
            extra={"auth_type": "oauth2_client_credentials", "token_url": api.token_url},
        )

    cc(SECRET)
    hook = ApiSyncHook("crm")
    hook.request("GET", "/contacts")
    api.auth.rotate_client_secret(CLIENT, NEW_SECRET)
    api.auth.expire_all_tokens()
    cc(NEW_SECRET)
    assert hook.request("GET", "/contacts").status_code == 200
    assert _statuses(api) == [200, 401, 200]
    assert len(api.auth.grants("client_credentials")) == 2


def test_refused_grant_reloads_the_connection(api, set_conn):
    """A refresh token replaced in the secrets backend is used after invalid_grant."""
    _rt_conn(set_conn, api, refresh="rt-revoked-000000")
    hook = ApiSyncHook("crm")
    assert hook.client.auth.initial_refresh_token == "rt-revoked-000000"
    _rt_conn(set_conn, api)  # an operator pastes a fresh refresh token
    assert hook.request("GET", "/contacts").status_code == 200
    assert [r.status for r in api.log("POST", "/oauth/token")] == [400, 200]


def test_refresh_token_kept_when_the_connection_still_has_the_old_one(api, set_conn):
    _rt_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    hook.request("GET", "/contacts")  # spends REFRESH, receives rotated #1
    # 401 with an unchanged connection: refresh with rotated #1, not the spent original.
    api.auth.expire_all_tokens()
    hook.request("GET", "/contacts")
    # The client secret is rotated (connection changes, its refresh token does not): the
    # rebuilt auth must continue from rotated #2, the only valid refresh token left.
    api.auth.rotate_client_secret(CLIENT, NEW_SECRET)
    api.auth.expire_all_tokens()
    _rt_conn(set_conn, api, secret=NEW_SECRET)
    assert hook.request("GET", "/contacts").status_code == 200
    assert _statuses(api) == [200, 401, 200, 401, 200]
    assert [r.status for r in api.log("POST", "/oauth/token")] == [200, 200, 200]
    issued = api.auth.refresh_tokens_issued
    assert hook.client.auth.current_refresh_token == issued[-1]
    assert hook.client.auth.initial_refresh_token == REFRESH
    assert list(api.auth.refresh_tokens) == [issued[-1]]  # every older one was spent


def test_new_refresh_token_in_the_connection_wins_over_the_rotated_one(api, set_conn):
    _rt_conn(set_conn, api)
    hook = ApiSyncHook("crm")
    hook.request("GET", "/contacts")
    rotated = hook.client.auth.current_refresh_token
    api.auth.refresh_tokens["rt-pasted-000001"] = CLIENT
    api.auth.expire_all_tokens()
    _rt_conn(set_conn, api, refresh="rt-pasted-000001")
    assert hook.request("GET", "/contacts").status_code == 200
    assert "rt-pasted-000001" not in api.auth.refresh_tokens  # spent: it was the one used
    assert rotated in api.auth.refresh_tokens  # untouched


# -- test_connection --------------------------------------------------------------------


def test_test_connection_success(api, set_conn):
    _key_conn(set_conn, api)
    ok, message = ApiSyncHook("crm").test_connection()
    assert ok, message
    assert message == f"Connection successfully tested: GET {api.url} -> 200"


def test_test_connection_wrong_key(api, set_conn):
    _key_conn(set_conn, api, key="wrong-key-000000")
    ok, message = ApiSyncHook("crm").test_connection()
    assert not ok
    assert message.startswith("Credentials rejected (401)")
    assert "wrong-key-000000" not in message
    assert _statuses(api, "/") == [401] and len(api.log()) == 1  # one GET, no retries


def _ui_test(monkeypatch: pytest.MonkeyPatch, **fields: str) -> tuple[bool, str]:
    """What the UI's Test button does on every line (2.11's connexion and 3.x's FastAPI
    route alike): core's ``Connection`` under a transient id exported as an env var, then its
    ``test_connection()``, which resolves the hook by conn_type and calls ours."""
    from airflow.models.connection import Connection as CoreConnection

    conn = CoreConnection(conn_id="transient_ui_test", conn_type="apisync", **fields)
    monkeypatch.setenv("AIRFLOW_CONN_TRANSIENT_UI_TEST", conn.get_uri())
    return conn.test_connection()


def test_test_connection_unreachable(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    ok, message = _ui_test(monkeypatch, host=f"http://127.0.0.1:{port}")
    assert not ok
    assert message.startswith("ApiTransportError: network error")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("api_key", False), ("none", True), ("oauth2_client_credentials", True)],
)
def test_test_connection_on_a_404(api, set_conn, kind, expected):
    """A 404 proves reachability only; it passes only if nothing else was left to check."""
    api.auth = FakeAuth(required=kind != "none")
    extra = {"auth_type": kind, "test_endpoint": "/no-such-thing/here"}
    fields = {"password": KEY}
    if kind.startswith("oauth2"):
        extra["token_url"] = api.token_url
        fields = {"login": CLIENT, "password": SECRET}
    elif kind == "none":
        fields = {}
    set_conn("crm", api.url, extra=extra, **fields)
    ok, message = ApiSyncHook("crm").test_connection()
    assert ok is expected, message
    assert "-> 404" in message
    if not expected:
        assert "test_endpoint" in message


def test_test_endpoint_that_needs_auth(api, set_conn):
    _key_conn(set_conn, api, test_endpoint="/contacts?limit=1")
    ok, message = ApiSyncHook("crm").test_connection()
    assert ok and message.endswith("/contacts?limit=1 -> 200")


def test_ui_test_button_path_with_an_unsaved_connection(api, monkeypatch):
    """Airflow's Connection.test_connection resolves the hook by conn_type, then calls ours."""
    ok, message = _ui_test(
        monkeypatch, host=api.url, password=KEY, extra='{"auth_type": "api_key"}'
    )
    assert ok, message
