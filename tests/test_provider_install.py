"""``pip install .`` into a clean venv: Airflow lists the provider, its hook and connection type.

Uses ``uv`` from the project venv (``make venv`` installs it) with ``--offline``: every
dependency is already in uv's cache, so the clean venv is built in seconds without the
network. A non-editable install is what users get; it catches packaging mistakes
(missing modules, a wrong entry point, provider info that breaks ``airflow`` commands).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not UV.exists(), reason="uv is not in the project venv (make venv)"),
]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cwd = env["AIRFLOW_HOME"] if env else None  # not the checkout: it would shadow the install
    proc = subprocess.run(  # noqa: S603 - fixed executables
        list(args), capture_output=True, text=True, timeout=60, env=env, cwd=cwd, check=False
    )
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _json_rows(text: str) -> list[dict]:
    for line in reversed(text.splitlines()):
        if line.startswith("["):
            return json.loads(line)
    raise AssertionError(f"no JSON array in output:\n{text[-2000:]}")


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("install")
    target = root / "venv"
    _run(str(UV), "venv", "-q", "--python", sys.executable, str(target))
    python = target / "bin" / "python"
    proc = subprocess.run(  # noqa: S603
        [str(UV), "pip", "install", "-q", "--offline", "--python", str(python), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    assert proc.returncode == 0, (
        "offline install failed (is uv's cache warm? run `make venv`):\n" + proc.stderr[-3000:]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(root / "home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    (root / "home").mkdir()
    return target, env


def test_installed_copy_is_not_the_checkout(venv):
    target, env = venv
    proc = _run(
        str(target / "bin" / "python"),
        "-c",
        "import airflow_provider_apisync as p; print(p.__file__)",
        env=env,
    )
    assert str(target) in proc.stdout
    assert str(ROOT / "airflow_provider_apisync") not in proc.stdout


def test_airflow_providers_list_shows_the_distribution(venv):
    target, env = venv
    proc = _run(str(target / "bin" / "airflow"), "providers", "list", "-o", "json", env=env)
    rows = {r["package_name"]: r for r in _json_rows(proc.stdout)}
    assert rows["airflow-provider-apisync"]["version"] == "0.1.0"
    assert "apisync" not in proc.stderr.lower()  # no warning about our provider info


def test_airflow_providers_hooks_lists_the_hook(venv):
    target, env = venv
    proc = _run(str(target / "bin" / "airflow"), "providers", "hooks", "-o", "json", env=env)
    rows = {r["connection_type"]: r for r in _json_rows(proc.stdout)}
    assert rows["apisync"] == {
        "connection_type": "apisync",
        "class": "airflow_provider_apisync.hooks.apisync.ApiSyncHook",
        "conn_id_attribute_name": "apisync_conn_id",
        "package_name": "airflow-provider-apisync",
        "hook_name": "API Sync",
    }
    assert "apisync" not in proc.stderr.lower()


def test_connection_form_fields_reach_airflow(venv):
    """conn-fields and ui-field-behaviour as the UI reads them; secrets typed as passwords."""
    target, env = venv
    script = (
        "import json\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "pm = ProvidersManager()\n"
        "w = {k: {'sensitive': v.is_sensitive, 'schema': v.field['schema']}\n"
        "     for k, v in pm.connection_form_widgets.items() if k.startswith('extra__apisync__')}\n"
        "print(json.dumps({'widgets': w, 'behaviour': pm.field_behaviours['apisync']}))\n"
    )
    proc = _run(str(target / "bin" / "python"), "-c", script, env=env)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    widgets = data["widgets"]
    assert widgets["extra__apisync__refresh_token"]["sensitive"] is True
    assert [k for k, v in widgets.items() if v["sensitive"]] == ["extra__apisync__refresh_token"]
    assert "oauth2_refresh_token" in widgets["extra__apisync__auth_type"]["schema"]["enum"]
    assert widgets["extra__apisync__max_retries"]["schema"]["type"] == ["integer", "null"]
    for name, widget in widgets.items():  # a None member renders as a literal "null" option
        assert None not in widget["schema"].get("enum", []), name
        assert "default" not in widget["schema"] or widget["schema"]["type"][0] == "boolean"
    verify = widgets["extra__apisync__verify"]["schema"]
    assert (verify["type"], verify["default"]) == (["boolean", "null"], True)
    assert list(widgets)[:2] == ["extra__apisync__auth_type", "extra__apisync__oauth2_url"]
    behaviour = data["behaviour"]
    assert behaviour["hidden_fields"] == ["schema"]  # the Test button needs a stored port
    assert behaviour["relabeling"]["host"] == "Base URL"
    assert "extra__apisync__oauth2_url" in behaviour["placeholders"]
