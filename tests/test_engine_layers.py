"""The engine packages stand on their own (issue 15): each module of ``pull/``, ``push/``,
``recordio/`` and ``webhooks/signatures.py`` imports first, in a fresh interpreter,
without an import cycle and without loading Airflow; ``client/`` imports no engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_apisync"
ENGINES = ("pull", "push", "recordio")
ABOVE_CLIENT = ("pull", "push", "bulk", "recordio", "webhooks", "operators", "hooks", "sensors")


def _modules() -> list[str]:
    found = [
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for engine in ENGINES
        for path in sorted((PACKAGE / engine).glob("*.py"))
    ]
    return [*found, "airflow_provider_apisync.webhooks.signatures"]


def test_engine_modules_import_first_without_airflow() -> None:
    probe = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", probe, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in _modules()
    }
    problems = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode or out.decode().strip() != "[]":
            problems[name] = (err.decode().strip().splitlines() or out.decode().split())[-1]
    assert len(procs) > 15
    assert not problems, problems


def test_client_imports_no_engine_or_adapter() -> None:
    upward = []
    for path in sorted((PACKAGE / "client").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "airflow" or (
                    parts[0] == "airflow_provider_apisync"
                    and parts[1:2]
                    and parts[1] in ABOVE_CLIENT
                ):
                    upward.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not upward, upward
