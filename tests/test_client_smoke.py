"""Smoke: the client reaches FakeApi with every auth type and joins paths under a prefix."""

from __future__ import annotations

import pytest

from airflow_provider_apisync.client import ApiClient, config_from_connection
from airflow_provider_apisync.testing import FakeApi

CASES = [
    ({"auth_type": "api_key"}, None, "test-api-key-0001"),
    ({"auth_type": "api_key", "api_key_query_param": "api_key"}, None, "test-api-key-0001"),
    ({"auth_type": "bearer"}, None, "test-bearer-token-0001"),
    ({"auth_type": "basic"}, "alice", "test-basic-pass-0001"),
]


@pytest.mark.parametrize(("extra", "login", "password"), CASES)
def test_static_auth_types_reach_collection(fake_api: FakeApi, extra, login, password):
    client = ApiClient(
        config_from_connection(host=fake_api.url, login=login, password=password, extra=extra)
    )
    resp = client.request("GET", "/contacts", params={"limit": 7})
    assert resp.status_code == 200
    assert [r["id"] for r in resp.json()["data"]] == list(range(1, 8))
    assert fake_api.log("GET", "/contacts")[-1].path == "/v1/contacts"
