"""Bad connection input: one clear ApiConfigError line naming the field, through the hook.

Connections come from AIRFLOW_CONN_* env vars (JSON form, extra as a JSON string, exactly
what a secrets backend hands Airflow). Nothing here needs a server: validation happens
before any request.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_apisync.client import ApiConfigError
from airflow_provider_apisync.client.config import config_from_connection
from airflow_provider_apisync.compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AirflowFailException,
)
from airflow_provider_apisync.hooks import ApiSyncHook
from airflow_provider_apisync.runtime.errors import fail_fast

HOST = "https://api.crm.example/v2"
SECRET = "sup3r-secret-value-42"
TOKEN_URL = "https://auth.crm.example/oauth/token"

# id: (connection fields, extra (dict or raw JSON text), field named, words the message has)
BAD = {
    "extra_not_json": ({"password": SECRET}, '{"auth_type": "bearer",}', "extra", "valid JSON"),
    "extra_not_object": ({"password": SECRET}, '["bearer"]', "extra", "JSON object"),
    "unknown_auth_type": ({"password": SECRET}, {"auth_type": "oauth"}, "auth_type", "'oauth'"),
    "auth_type_not_string": ({"password": SECRET}, {"auth_type": 3}, "auth_type", "one of"),
    "missing_token_url": (
        {"login": "id", "password": SECRET},
        {"auth_type": "oauth2_client_credentials"},
        "oauth2_url",
        "token endpoint",
    ),
    "relative_token_url": (
        {"login": "id", "password": SECRET},
        {"auth_type": "oauth2_client_credentials", "token_url": "/oauth/token"},
        "oauth2_url",
        "absolute",
    ),
    "bad_token_auth_method": (
        {"login": "id", "password": SECRET},
        {
            "auth_type": "oauth2_client_credentials",
            "token_url": TOKEN_URL,
            "token_auth_method": "private_key_jwt",
        },
        "oauth2_client_auth",
        "client_secret_basic",
    ),
    "client_credentials_without_id": (
        {"password": SECRET},
        {"auth_type": "oauth2_client_credentials", "token_url": TOKEN_URL},
        "login",
        "client id",
    ),
    "client_credentials_without_secret": (
        {"login": "id"},
        {"auth_type": "oauth2_client_credentials", "token_url": TOKEN_URL},
        "password",
        "client secret",
    ),
    "missing_refresh_token": (
        {"login": "id", "password": SECRET},
        {"auth_type": "oauth2_refresh_token", "token_url": TOKEN_URL},
        "refresh_token",
        "refresh token",
    ),
    "bearer_without_password": ({}, {"auth_type": "bearer"}, "password", "token"),
    "api_key_without_password": ({}, {"auth_type": "api_key"}, "password", "API key"),
    "basic_without_login": ({"password": SECRET}, {"auth_type": "basic"}, "login", "login"),
    "basic_without_password": ({"login": "bob"}, {"auth_type": "basic"}, "password", "password"),
    "query_param_for_bearer": (
        {"password": SECRET},
        {"auth_type": "bearer", "api_key_query_param": "key"},
        "key_query_param",
        "api_key",
    ),
    "bad_api_key_header": (
        {"password": SECRET},
        {"auth_type": "api_key", "api_key_header": "X API Key"},
        "key_header",
        "header name",
    ),
    "non_http_scheme": ({"host": "ftp://files.example/in", "password": SECRET}, {}, "host", "ftp"),
    "schema_not_a_scheme": (
        {"host": "api.crm.example", "schema": "v2", "password": SECRET},
        {},
        "schema",
        "'v2'",
    ),
    "missing_host": ({"host": "", "password": SECRET}, {}, "host", "empty"),
    "credentials_in_host": (
        {"host": "https://bob:pw@api.example/v1", "password": SECRET},
        {},
        "host",
        "credentials",
    ),
    "query_in_host": (
        {"host": "https://api.example/v1?key=1", "password": SECRET},
        {},
        "host",
        "query",
    ),
    "bad_port_in_host": ({"host": "https://h.example:9x/", "password": SECRET}, {}, "host", "port"),
    "bad_timeout": ({"password": SECRET}, {"timeout": "soon"}, "timeout", "[connect, read]"),
    "zero_timeout": ({"password": SECRET}, {"timeout": 0}, "timeout", "positive"),
    "three_timeouts": ({"password": SECRET}, {"timeout": [1, 2, 3]}, "timeout", "pair"),
    "nan_timeout": ({"password": SECRET}, {"timeout": "NaN"}, "timeout", "positive"),
    "rate_limit_not_object": ({"password": SECRET}, {"rate_limit": 100}, "rate_limit", "object"),
    "rate_limit_negative": (
        {"password": SECRET},
        {"rate_limit": {"requests": -1, "per_seconds": 60}},
        "rate_limit",
        "positive",
    ),
    "rate_limit_bad_json": (
        {"password": SECRET},
        {"rate_limit": '{"requests": 100,'},
        "rate_limit",
        "JSON",
    ),
    "rate_limit_typo": (
        {"password": SECRET},
        {"rate_limit": {"requests": 10, "per_second": 1}},
        "rate_limit",
        "per_second",
    ),
    "headers_not_object": ({"password": SECRET}, {"headers": "X-Version"}, "headers", "object"),
    "headers_bad_json": ({"password": SECRET}, {"headers": '{"A": '}, "headers", "JSON"),
    "headers_with_newline": (
        {"password": SECRET},
        {"headers": {"X-A": "1\r\nX-Injected: 2"}},
        "headers",
        "X-A",
    ),
    "headers_authorization": (
        {"password": SECRET},
        {"headers": {"Authorization": "Bearer abc"}},
        "headers",
        "auth_type",
    ),
    "max_retries_negative": ({"password": SECRET}, {"max_retries": -1}, "max_retries", ">= 0"),
    "max_retries_fraction": ({"password": SECRET}, {"max_retries": 2.5}, "max_retries", "whole"),
    "max_retry_wait_text": (
        {"password": SECRET},
        {"max_retry_wait": "long"},
        "max_retry_wait",
        "seconds",
    ),
    "verify_missing_bundle": (
        {"password": SECRET},
        {"verify": "/nonexistent/ca.pem"},
        "verify",
        "does not exist",
    ),
    "allowed_hosts_wildcard": (
        {"password": SECRET},
        {"allowed_hosts": "*.crm.example"},
        "allowed_hosts",
        "wildcards",
    ),
    "allowed_hosts_path": (
        {"password": SECRET},
        {"allowed_hosts": ["https://cdn.example/files"]},
        "allowed_hosts",
        "path",
    ),
    "user_agent_newline": ({"password": SECRET}, {"user_agent": "a\nb"}, "user_agent", "line"),
    "scope_number": (
        {"login": "id", "password": SECRET},
        {"auth_type": "oauth2_client_credentials", "token_url": TOKEN_URL, "scope": 5},
        "scope",
        "string",
    ),
}


def _set_raw(monkeypatch, conn_id: str, fields: dict, extra) -> None:
    """AIRFLOW_CONN_<ID> in Airflow's JSON form; extra kept as the exact text given."""
    conn = {"conn_type": "apisync", "host": HOST, **fields}
    conn["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.mark.parametrize(("fields", "extra", "field", "words"), BAD.values(), ids=list(BAD))
def test_bad_connection_gives_one_clear_line(monkeypatch, fields, extra, field, words):
    if isinstance(extra, str) and AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        pytest.skip("Airflow 3.0 drops an env-var connection whose extra is not a JSON object")
    _set_raw(monkeypatch, "crm_bad", fields, extra)
    with pytest.raises(ApiConfigError) as info:
        ApiSyncHook("crm_bad").request("GET", "/contacts")
    err = info.value
    message = str(err)
    assert err.field == field
    assert message.startswith(f"{field}: ")
    assert "(connection 'crm_bad')." in message
    assert " Fix: " in message
    assert words in message
    assert "\n" not in message
    assert SECRET not in message
    # raised "from None": Airflow prints one exception, not a chain of them
    assert err.__cause__ is None and err.__suppress_context__


def test_operator_facing_message_has_no_traceback_noise(monkeypatch):
    _set_raw(monkeypatch, "crm_bad", {"password": SECRET}, {"auth_type": "oauth"})
    with pytest.raises(ApiConfigError) as info:
        ApiSyncHook("crm_bad").request("GET", "/contacts")
    failure = fail_fast(info.value)
    assert isinstance(failure, AirflowFailException)  # no task retries for a config error
    text = str(failure)
    assert text == (
        "auth_type: 'oauth' is not one of none, api_key, bearer, basic, "
        "oauth2_client_credentials, oauth2_refresh_token (connection 'crm_bad'). "
        "Fix: set auth_type to one of them."
    )
    assert "Traceback" not in text and "File " not in text


def test_test_connection_reports_config_errors_without_raising(monkeypatch):
    _set_raw(monkeypatch, "crm_bad", {"password": SECRET}, {"timeout": "soon"})
    ok, message = ApiSyncHook("crm_bad").test_connection()
    assert not ok
    assert message.startswith("ApiConfigError: timeout: 'soon' is not a positive number")
    assert "(connection 'crm_bad')" in message


def test_unknown_extra_keys_are_warned_not_fatal(monkeypatch, caplog):
    _set_raw(monkeypatch, "crm_typo", {"password": SECRET}, {"auth_typ": "bearer"})
    with caplog.at_level("WARNING"):
        config = ApiSyncHook("crm_typo").load_config()
    assert config.auth.auth_type == "bearer"
    assert "ignoring unknown extra keys ['auth_typ']" in caplog.text


# -- good input: defaults, inference and the accepted spellings --------------------------


def test_defaults():
    config = config_from_connection(host="api.example/v1/", password=SECRET)
    assert config.base_url == "https://api.example/v1"
    assert config.auth.auth_type == "bearer"
    assert config.timeout == (10.0, 60.0)
    assert config.max_retries == 5 and config.max_retry_wait == 60.0
    assert config.user_agent.startswith("apisync/")
    assert config.verify is True and config.allowed_hosts == ()
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    ("login", "password", "expected"),
    [(None, None, "none"), (None, SECRET, "bearer"), ("bob", SECRET, "basic")],
)
def test_auth_type_inferred_when_unset(login, password, expected):
    config = config_from_connection(host=HOST, login=login, password=password)
    assert config.auth.auth_type == expected


def test_ui_form_values_and_prefixed_keys():
    """The UI stores untouched fields as "" and numbers/JSON as text; old forms prefix keys."""
    extra = {
        "extra__apisync__auth_type": "API_KEY",
        "extra__apisync__api_key_header": "X-Shop-Token",
        "extra__apisync__token_url": "",
        "timeout": "[5, 30]",
        "headers": '{"Stripe-Version": "2024-06-20"}',
        "rate_limit": '{"requests": 10, "per_seconds": 1}',
        "allowed_hosts": "files.example, https://cdn.example:8443",
        "max_retries": "2",
        "verify": "false",
        "scope": "",
    }
    config = config_from_connection(host=HOST, password=SECRET, extra=extra)
    assert config.auth.auth_type == "api_key"
    assert config.auth.api_key_header == "X-Shop-Token"
    assert config.timeout == (5.0, 30.0)
    assert config.headers == {"Stripe-Version": "2024-06-20"}
    assert (config.rate_limit.requests, config.rate_limit.per_seconds) == (10, 1.0)
    assert config.allowed_hosts == ("files.example", "https://cdn.example:8443")
    assert config.max_retries == 2 and config.verify is False


def test_plain_key_wins_over_prefixed_key():
    extra = {"extra__apisync__auth_type": "api_key", "auth_type": "bearer"}
    assert config_from_connection(host=HOST, password=SECRET, extra=extra).auth.auth_type == (
        "bearer"
    )


def test_schema_and_port_fields():
    config = config_from_connection(host="api.example", schema="http", port=8080, password=SECRET)
    assert config.base_url == "http://api.example:8080"
    with pytest.raises(ApiConfigError) as info:
        config_from_connection(host="api.example", port=70000, password=SECRET)
    assert info.value.field == "port"


def test_scope_list_joined():
    config = config_from_connection(
        host=HOST,
        login="id",
        password=SECRET,
        extra={
            "auth_type": "oauth2_client_credentials",
            "token_url": TOKEN_URL,
            "scope": ["a", "b"],
        },
    )
    assert config.auth.scope == "a b"


def test_form_saves_unset_fields_as_null_and_they_are_ignored():
    """Airflow's form writes every untouched extra field as null: read as unset, not an error."""
    from airflow_provider_apisync.client.fields import FIELDS

    extra = {f.key: None for f in FIELDS} | {"auth_type": "bearer"}
    config = config_from_connection(host=HOST, password=SECRET, extra=json.dumps(extra))
    assert config.auth.auth_type == "bearer"
    assert config.verify is True and config.timeout == (10.0, 60.0) and config.max_retries == 5


def test_new_key_names_and_old_names_as_aliases():
    """oauth2_url / oauth2_client_auth / key_header / key_query_param; the old names still read."""
    new = {
        "auth_type": "oauth2_client_credentials",
        "oauth2_url": TOKEN_URL,
        "oauth2_client_auth": "client_secret_post",
    }
    old = {
        "auth_type": "oauth2_client_credentials",
        "token_url": TOKEN_URL,
        "token_auth_method": "client_secret_post",
    }
    for extra in (new, old):
        auth = config_from_connection(host=HOST, login="id", password=SECRET, extra=extra).auth
        assert (auth.token_url, auth.token_auth_method) == (TOKEN_URL, "client_secret_post")
    both = {**old, "oauth2_url": "https://new.example/token"}
    auth = config_from_connection(host=HOST, login="id", password=SECRET, extra=both).auth
    assert auth.token_url == "https://new.example/token"
    key = {"auth_type": "api_key", "key_header": "X-Shop-Key", "api_key_header": "X-Old"}
    assert config_from_connection(host=HOST, password=SECRET, extra=key).auth.api_key_header == (
        "X-Shop-Key"
    )
    param = {"auth_type": "api_key", "extra__apisync__key_query_param": "k"}
    auth = config_from_connection(host=HOST, password=SECRET, extra=param).auth
    assert auth.api_key_query_param == "k"


def test_verify_boolean_and_ca_bundle(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert config_from_connection(host=HOST, extra={"verify": False}).verify is False
    assert config_from_connection(host=HOST, extra={"verify": True}).verify is True
    config = config_from_connection(host=HOST, extra={"ca_bundle": str(bundle), "verify": True})
    assert config.verify == str(bundle)
    assert config_from_connection(host=HOST, extra={"verify": str(bundle)}).verify == str(bundle)
    with pytest.raises(ApiConfigError) as info:
        config_from_connection(host=HOST, extra={"ca_bundle": str(bundle), "verify": False})
    assert info.value.field == "ca_bundle" and "verify is false" in str(info.value)
    with pytest.raises(ApiConfigError) as info:
        config_from_connection(host=HOST, extra={"ca_bundle": str(tmp_path / "missing.pem")})
    assert info.value.field == "ca_bundle" and "does not exist" in str(info.value)


def test_port_field_agrees_with_the_base_url():
    """The port is visible in the form (Airflow's Test button needs one stored): a port equal
    to the URL's (or the scheme default) changes nothing; a different one is refused."""
    assert config_from_connection(host=HOST, port=443).base_url == HOST
    assert config_from_connection(host="http://127.0.0.1:8123/v1", port=8123).base_url == (
        "http://127.0.0.1:8123/v1"
    )
    assert config_from_connection(host="http://api.example", port=80).base_url == (
        "http://api.example"
    )
    assert config_from_connection(host=HOST, port=0).base_url == HOST
    with pytest.raises(ApiConfigError) as info:
        config_from_connection(host="http://127.0.0.1:8123/v1", port=9000)
    assert info.value.field == "port" and "8123" in str(info.value)
