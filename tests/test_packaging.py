"""What the wheel ships: the provider and ``FakeApi``, not the demo, and no auto-loaded plugin.

Builds the wheel from the checkout with ``uv build`` (``make venv`` puts uv in the project
venv; hatchling comes from uv's cache, ``--offline``) and reads the archive: no Airflow, no
install, a few seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"
PKG = "airflow_provider_apisync"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not UV.exists(), reason="uv is not in the project venv (make venv)"),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(  # noqa: S603 - fixed executable
        [str(UV), "build", "-q", "--offline", "--wheel", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, (
        "uv build failed (is uv's cache warm? run `make venv`):\n" + (proc.stderr[-3000:])
    )
    (path,) = out.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def _names(wheel: zipfile.ZipFile) -> list[str]:
    return wheel.namelist()


def test_the_wheel_ships_fakeapi_the_opt_in_plugin_and_airflowenv(wheel):
    names = _names(wheel)
    for name in (
        "testing/__init__.py",
        "testing/fakeapi/server.py",
        "testing/pytest_plugin.py",
        "testing/dagrun.py",
    ):
        assert f"{PKG}/{name}" in names, name
    assert "FakeApi" in wheel.read(f"{PKG}/testing/__init__.py").decode()


def test_the_wheel_ships_no_demo_code(wheel):
    names = _names(wheel)
    top = {name.split("/")[0] for name in names}
    assert top <= {PKG, next(t for t in top if t.endswith(".dist-info"))}, top
    demo_only = [
        n
        for n in names
        if n.startswith(f"{PKG}/testing/world/")
        or n.endswith(("/standalone.py", "/fleet.py", "/airflow_standalone.py"))
    ]
    assert demo_only == []
    # and nothing shipped imports the demo (it is not there for a user)
    demo_import = re.compile(r"^\s*(from|import)\s+demo\b", re.M)
    importers = [
        n for n in names if n.endswith(".py") and demo_import.search(wheel.read(n).decode())
    ]
    assert importers == []


def test_the_wheel_registers_no_pytest_plugin(wheel):
    (entry_points,) = [n for n in _names(wheel) if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[pytest11]" not in text
    assert "[apache_airflow_provider]" in text  # the file read is the real one
