"""Shared test set-up: a throwaway AIRFLOW_HOME and connection helpers."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

# `demo` (the demo world, the Airflow standalone runner, the fleet) lives at the repo root,
# outside the wheel. Appended, not prepended: under `make compat` the installed wheel must
# still win over the checkout's airflow_provider_apisync.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

# The `fake_api` fixture: the provider's pytest plugin is opt-in (docs/testing.md).
pytest_plugins = ["airflow_provider_apisync.testing.pytest_plugin"]

_HOME = tempfile.mkdtemp(prefix="apisync-test-home-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")


def conn_json(
    host: str,
    *,
    login: str | None = None,
    password: str | None = None,
    extra: dict[str, Any] | None = None,
    conn_type: str = "apisync",
) -> str:
    """An ``apisync`` connection in Airflow's JSON env-var format (``AIRFLOW_CONN_X``).

    Built by hand, not with ``Connection.as_json()``: that method is missing on Airflow
    3.0's task-SDK ``Connection``, and the JSON format is the same on every line.
    """
    fields = {"conn_type": conn_type, "host": host, "login": login, "password": password}
    conn = {key: value for key, value in fields.items() if value is not None}
    conn["extra"] = json.dumps(extra or {})
    return json.dumps(conn)


@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``set_conn("crm", host, password=..., extra={...})`` -> sets AIRFLOW_CONN_CRM."""

    def _set(conn_id: str, host: str, **fields: Any) -> str:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(host, **fields))
        return conn_id

    return _set
