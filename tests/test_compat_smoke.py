"""Smoke checks that run on every supported Airflow line (``make compat`` runs them per line).

What a user meets first: the package imports, Airflow discovers the provider and its hook
(no "Error when importing hook!"), the connection form shows our fields, and the hook works
against a real HTTP server. Under ``make compat`` (``APISYNC_COMPAT_LINE`` set) it also
checks that the installed wheel is what is being tested, not the checkout.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_apisync
from airflow_provider_apisync.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION
from airflow_provider_apisync.testing import FakeApi

LINE = os.environ.get("APISYNC_COMPAT_LINE")
API_KEY = "test-api-key-0001"
#: Modules that need Airflow 3's API server (FastAPI); the plugin itself loads everywhere.
NEEDS_AIRFLOW_3 = ("airflow_provider_apisync.webhooks.",)
FORM_FIELDS = {"auth_type", "oauth2_url", "refresh_token", "max_retries", "test_endpoint"}


@pytest.mark.skipif(not LINE, reason="only under make compat (APISYNC_COMPAT_LINE)")
def test_the_installed_wheel_on_the_intended_airflow_line_is_under_test():
    here = Path(airflow_provider_apisync.__file__).resolve()
    assert "site-packages" in here.parts, f"testing the checkout, not the wheel: {here}"
    assert ".".join(map(str, AIRFLOW_VERSION[:2])) == LINE


def test_every_module_imports():
    failed = {}
    for info in pkgutil.walk_packages(
        airflow_provider_apisync.__path__, airflow_provider_apisync.__name__ + "."
    ):
        name = info.name
        plugin = name == "airflow_provider_apisync.webhooks.plugin"
        if not AIRFLOW_V_3_0_PLUS and name.startswith(NEEDS_AIRFLOW_3) and not plugin:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # collect them all, then fail once
            failed[name] = f"{type(exc).__name__}: {exc}"
    assert failed == {}


def _airflow(*args: str, home: Path) -> tuple[str, str]:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=home,  # not the checkout: it would shadow the installed package
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout, done.stderr


def _json_rows(text: str) -> list[dict]:
    rows = [line for line in text.splitlines() if line.startswith("[")]
    assert rows, text[-2000:]
    return json.loads(rows[-1])


def test_airflow_discovers_the_provider_and_imports_its_hook(tmp_path):
    out, _ = _airflow("providers", "list", "-o", "json", home=tmp_path)
    assert "airflow-provider-apisync" in {row["package_name"] for row in _json_rows(out)}
    out, err = _airflow("providers", "hooks", "-o", "json", home=tmp_path)
    rows = _json_rows(out)
    (hook,) = [row for row in rows if row.get("connection_type") == "apisync"]
    assert hook["class"].endswith("ApiSyncHook")
    assert [r for r in rows if "apisync" in json.dumps(r) and "importing" in json.dumps(r)] == []
    for line in err.splitlines():  # log lines (other providers' hooks may fail to import)
        assert "apisync" not in line or "importing" not in line.lower(), line


def test_connection_form_shows_our_fields():
    if AIRFLOW_V_3_0_PLUS:  # what the UI's connection form asks the API server for
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

        (meta,) = [h for h in HookMetaService.hook_meta_data() if h.connection_type == "apisync"]
        assert set(meta.extra_fields or {}) >= FORM_FIELDS
        assert meta.standard_fields is not None
        assert meta.standard_fields.host.title == "Base URL"
        # The port stays visible: the UI's Test button posts the stored port (docs/connections.md).
        assert not meta.standard_fields.port.hidden
        assert meta.standard_fields.port.placeholder == "443"
    else:  # 2.11: the Flask webserver's form
        from airflow.providers_manager import ProvidersManager

        manager = ProvidersManager()
        fields = {
            key.rsplit("__", 1)[-1]
            for key in manager.connection_form_widgets
            if key.startswith("extra__apisync__")
        }
        assert fields >= FORM_FIELDS
        assert manager.field_behaviours["apisync"]["relabeling"]["host"] == "Base URL"


def test_hook_requests_and_paginates_against_fakeapi(monkeypatch):
    from airflow_provider_apisync.hooks.apisync import ApiSyncHook

    with FakeApi(seed={"contacts": 120}) as api:
        conn = {"conn_type": "apisync", "host": api.url, "password": API_KEY}
        conn["extra"] = {"auth_type": "api_key"}
        monkeypatch.setenv("AIRFLOW_CONN_SMOKE", json.dumps(conn))
        hook = ApiSyncHook("smoke")
        assert hook.request("GET", "/contacts/1").json()["id"] == 1
        ids = [r["id"] for page in hook.paginate("/contacts") for r in page.records]
        assert sorted(ids) == list(range(1, 121))
        hook.close()
