"""The one table of connection fields (client/fields.py) and what is generated from it.

The docs' field table, the client's validation, the hook's warnings and both connection forms
(3.2+ conn-fields, the WTForms form of 2.11 - 3.1) must follow the table. No server needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_apisync import get_provider_info
from airflow_provider_apisync.client import ApiConfigError
from airflow_provider_apisync.client.config import config_from_connection, unknown_extra_keys
from airflow_provider_apisync.client.fields import BEGIN, END, FIELDS, markdown_table, with_table
from airflow_provider_apisync.hooks import ApiSyncHook

DOCS = Path(__file__).resolve().parents[1] / "docs" / "connections.md"
HOST = "https://api.crm.example/v2"
SECRET = "sup3r-secret-value-42"


def test_docs_field_table_is_generated_from_the_table():
    """Fails when docs/connections.md's extra-key table drifts: run `make docs`."""
    text = DOCS.read_text()
    assert with_table(text) == text, "docs/connections.md is stale: run `make docs`"
    block = text[text.index(BEGIN) : text.index(END)]
    assert [f"`{f.key}`" in block for f in FIELDS] == [True] * len(FIELDS)
    assert markdown_table() in block


def test_a_hand_edit_of_the_docs_table_is_caught():
    text = DOCS.read_text().replace(
        "| `max_retries` | Max retries |", "| `max_retries` | Retries |"
    )
    assert with_table(text) != text


@pytest.mark.parametrize("field", FIELDS, ids=[f.key for f in FIELDS])
def test_every_field_is_read_and_checked_by_the_client(field):
    """A value of the wrong shape is refused naming the field: the client reads every row."""
    extra = {"auth_type": "api_key", field.key: {"wrong": [1]}}
    with pytest.raises(ApiConfigError) as info:
        config_from_connection(host=HOST, password=SECRET, extra=extra)
    assert info.value.field == field.key
    for old in field.aliases:  # the old name reaches the same check
        with pytest.raises(ApiConfigError) as info:
            config_from_connection(host=HOST, password=SECRET, extra={old: {"wrong": [1]}})
        assert info.value.field == field.key
    assert unknown_extra_keys({field.key: 1, **dict.fromkeys(field.aliases, 1)}) == []


def test_both_forms_show_the_table():
    (conn_type,) = get_provider_info()["connection-types"]
    assert list(conn_type["conn-fields"]) == [f.key for f in FIELDS]
    assert [spec["label"] for spec in conn_type["conn-fields"].values()] == [
        f.label for f in FIELDS
    ]
    widgets = ApiSyncHook.get_connection_form_widgets()  # Airflow 2.11 - 3.1
    assert list(widgets) == [f.key for f in FIELDS]
    assert ApiSyncHook.get_ui_field_behaviour()["hidden_fields"] == ["schema"]


def test_field_of_another_auth_type_is_refused_or_warned(monkeypatch, caplog):
    """key_query_param (strict) is refused with bearer; scope with bearer is warned about."""
    with pytest.raises(ApiConfigError, match="only applies to auth_type 'api_key', not 'bearer'"):
        config_from_connection(
            host=HOST, password=SECRET, extra={"auth_type": "bearer", "key_query_param": "k"}
        )
    extra = {"auth_type": "bearer", "scope": "crm.read", "extra__apisync__audience": "x"}
    conn = {"conn_type": "apisync", "host": HOST, "password": SECRET, "extra": json.dumps(extra)}
    monkeypatch.setenv("AIRFLOW_CONN_CRM_MIXED", json.dumps(conn))
    with caplog.at_level("WARNING"):
        assert ApiSyncHook("crm_mixed").load_config().auth.auth_type == "bearer"
    assert "auth_type 'bearer' does not use extra keys ['audience', 'scope']" in caplog.text
    assert SECRET not in caplog.text


def test_describe_lists_table_fields_only_and_no_secret():
    from airflow_provider_apisync.client.fields import BY_KEY, SECRET_KEYS
    from airflow_provider_apisync.describe.systems import _FACTS, describe_config

    assert set(_FACTS) <= set(BY_KEY) and not set(_FACTS) & set(SECRET_KEYS)
    extra = {"auth_type": "api_key", "scope": "crm.read", "timeout": 5}
    doc = describe_config("crm", config_from_connection(host=HOST, password=SECRET, extra=extra))
    labels = [label for label, _ in doc.facts]
    assert labels[:3] == ["Base URL", "Auth", "TLS verification"]  # the form's order
    assert "Scopes" not in labels and ("Timeouts", "connect 5 s, read 5 s") in doc.facts
