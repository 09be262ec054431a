"""docs/architecture.md and the import rules it describes stay true to the code.

- the generated picture of docs/architecture.md equals what ``scripts/archgraph.py`` reads from
  the source now;
- every module path the page names exists (a pending move ``old`` → ``new`` passes while only
  ``old`` exists), and every top-level package or module has its paragraph;
- the import-linter contracts of pyproject.toml hold;
- no module imports another package's ``_private`` module or attribute.

KNOWN_VIOLATIONS lists tolerated breaches (empty since issue 15's restructure landed). The
test fails when a new one appears *and* when a listed one disappears, so the list cannot go
stale. Runtime: ~3 s idle, ~7 s on a loaded 2-core machine (three ``lint-imports`` runs of
~1 s each, the rest is ``ast``).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("archgraph", ROOT / "scripts" / "archgraph.py")
assert _spec and _spec.loader
archgraph = importlib.util.module_from_spec(_spec)
sys.modules["archgraph"] = archgraph  # dataclasses look their module up while building
_spec.loader.exec_module(archgraph)

if archgraph.tomllib is None:  # pragma: no cover - Python 3.10 has no tomllib
    pytest.skip("reading pyproject.toml needs Python 3.11+", allow_module_level=True)

PACKAGE = archgraph.PACKAGE
DOC = archgraph.DOC
REWRITE = "python scripts/archgraph.py --write"

# contract id (pyproject.toml) or "private-names" -> "importer -> imported", the package
# prefix left out ("(root)" is the package's __init__), each with a comment saying why it is
# tolerated. Empty since issue 15 landed: a new entry is a debt the integrator accepts.
KNOWN_VIOLATIONS: dict[str, list[str]] = {
    "private-names": [],
}


def _full(name: str) -> str:
    return PACKAGE if name == archgraph.ROOT_UNIT else f"{PACKAGE}.{name}"


# --- (a) the generated picture --------------------------------------------------------------


def test_the_generated_picture_matches_the_import_graph():
    fresh, current = archgraph.render(), archgraph.current_block()
    assert fresh == current, (
        f"docs/architecture.md's picture no longer matches the imports: run `{REWRITE}` "
        "(and read the diff: a new arrow may need a paragraph or break a layer)"
    )


def test_the_picture_shows_a_new_arrow(tmp_path):
    """The graph comes from the source: a new import gives a new arrow (here: upward)."""
    pkg = tmp_path / PACKAGE
    for folder in ("client", "operators"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "client" / "x.py").write_text(f"from {PACKAGE}.operators import y\n")
    (pkg / "operators" / "y.py").write_text("from ..client import x\nimport airflow.models\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert archgraph.unit_graph(tmp_path) == {
        "client": {"operators"},
        "operators": {"client", "airflow"},
    }
    block = archgraph.render(tmp_path)
    assert "client -.->|client-http-only| operators" in block
    assert "operators --> client" in block
    assert "Units that import `airflow` directly: operators." in block


# --- (b) every path the page names exists --------------------------------------------------

_TOKEN = re.compile(r"`([^`\s]+)`")
_PAIR = re.compile(r"`([^`\s]+)`\s*→\s*`([^`\s]+)`")
_PATHLIKE = re.compile(r"^[A-Za-z_.][\w.\-/]*(::[\w.]+)?$")
_HEADING = re.compile(r"^### `([^`]+)`(.*)$")


def _is_path(token: str) -> bool:
    if not _PATHLIKE.match(token) or "://" in token:
        return False
    path = token.split("::")[0]
    return "/" in path or path.endswith((".py", ".md", ".toml"))


def _locate(path: str) -> Path | None:
    """A repo-relative path, else one relative to the package folder; None when neither."""
    for base in (ROOT, ROOT / PACKAGE):
        if (base / path).exists():
            return base / path
    return None


def _defines(path: Path, dotted: str) -> bool:
    """``Name`` or ``Class.attr`` defined at the top of a module."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for part in dotted.split("."):
        names: dict[str, list[ast.stmt]] = {}
        for node in body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names[node.name] = node.body if isinstance(node, ast.ClassDef) else []
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = []
        if part not in names:
            return False
        body = names[part]
    return True


def _missing(token: str) -> str | None:
    """Why a named path is wrong, or None."""
    path, _, symbol = token.partition("::")
    found = _locate(path)
    if found is None:
        return f"`{path}` does not exist"
    if symbol and not (found.is_file() and _defines(found, symbol)):
        return f"`{path}` defines no `{symbol}`"
    return None


def _sections(text: str) -> list[tuple[str, str, str]]:
    """(heading token, heading rest, body) for each ``### `x` ...`` section."""
    found, current, rest, body = [], None, "", []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match or line.startswith("## "):
            if current is not None:
                found.append((current, rest, "\n".join(body)))
            current, rest, body = (match.group(1), match.group(2), []) if match else (None, "", [])
        elif current is not None:
            body.append(line)
    if current is not None:
        found.append((current, rest, "\n".join(body)))
    return found


def path_problems(text: str) -> list[str]:
    """Every wrong path on the page (the generated block excluded). A path inside a package
    whose heading says "(planned)" is not checked until the package exists."""
    start, end = text.find(archgraph.BEGIN), text.find(archgraph.END)
    text = text[:start] + text[end:]
    planned = {token for token, rest, _ in _sections(text) if "(planned)" in rest}

    def pending(path: str) -> bool:
        return path.split("/")[0] + "/" in planned

    problems = []
    for old, new in _PAIR.findall(text):
        if not _is_path(old):
            continue
        if _is_path(new) and _locate(new.split("::")[0]) is not None:
            problems.append(
                f"`{old}` → `{new}`: the move landed, name `{new}` (or the file it became) alone"
            )
        elif (why := _missing(old)) is not None:
            problems.append(f"`{old}` → `{new}`: {why}")
    for token in sorted(set(_TOKEN.findall(_PAIR.sub(" ", text)))):
        if _is_path(token) and not pending(token) and (why := _missing(token)):
            problems.append(why)
    return problems


def test_every_path_named_in_the_doc_exists():
    problems = path_problems(DOC.read_text(encoding="utf-8"))
    assert problems == [], "docs/architecture.md names paths that do not exist:\n" + "\n".join(
        problems
    )


def test_a_wrong_or_landed_path_is_reported():
    text = (
        "`client/auth.py::build_auth` `client/nowhere.py` `client/auth.py::no_such_name`\n"
        "`client/auth.py` → `later/` `client/gone.py` → `later/` `client/auth.py` → `hooks/`\n"
        "### `later/` (planned)\n`later/job.py` is fine anywhere, `elsewhere/x.py` is not\n"
    )
    assert path_problems(text) == [
        "`client/gone.py` → `later/`: `client/gone.py` does not exist",
        "`client/auth.py` → `hooks/`: the move landed, name `hooks/` (or the file it became) alone",
        "`client/auth.py` defines no `no_such_name`",
        "`client/nowhere.py` does not exist",
        "`elsewhere/x.py` does not exist",
    ]


def _unit_heading(unit: str) -> str:
    if unit == archgraph.ROOT_UNIT:
        return "__init__.py"
    return f"{unit}/" if (ROOT / PACKAGE / unit).is_dir() else f"{unit}.py"


def test_every_package_has_its_paragraph_and_planned_ones_are_marked():
    sections = {token: rest for token, rest, _ in _sections(DOC.read_text(encoding="utf-8"))}
    problems = []
    for unit in archgraph.units():
        heading = _unit_heading(unit)
        if heading not in sections:
            problems.append(f"`{heading}` has no '### `{heading}`' paragraph")
        elif "(planned)" in sections[heading]:
            problems.append(f"`{heading}` exists now: drop '(planned)' from its heading")
    for token, rest in sections.items():
        if "(planned)" not in rest and _locate(f"{PACKAGE}/{token}") is None:
            problems.append(f"'### `{token}`' describes a package that does not exist")
    placed = {u for row in archgraph.layers() for u in row.units}
    for unit in archgraph.units():
        if unit != archgraph.ROOT_UNIT and unit not in placed:
            problems.append(f"`{unit}` is in no row of pyproject.toml's layers contract")
    assert problems == [], "docs/architecture.md / pyproject.toml:\n" + "\n".join(problems)


# --- (c) import-linter contracts --------------------------------------------------------------


def _lint_config(tmp_path: Path, known: dict[str, list[str]]) -> Path:
    """pyproject.toml's contracts with ``known`` added as ignore_imports, as a .toml file."""
    contracts = archgraph.read_contracts()
    lines = [
        "[tool.importlinter]",
        f'root_package = "{PACKAGE}"',
        "include_external_packages = true",
    ]
    for cid, contract in contracts.items():
        lines.append("[[tool.importlinter.contracts]]")
        for key, value in contract.items():
            lines.append(f"{key} = {_toml(value)}")
        ignores = [
            " -> ".join(_full(side.strip()) for side in entry.split("->"))
            for entry in known.get(cid, [])
        ]
        if ignores:
            lines.append(f"ignore_imports = {_toml(ignores)}")
            lines.append('unmatched_ignore_imports_alerting = "error"')
    path = tmp_path / "importlinter.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def _lint(config: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def lint_imports():
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra")
    if not Path(sys.executable).with_name("lint-imports").exists():
        pytest.skip("lint-imports is not installed next to this Python")
    return _lint


def test_import_contracts_hold_apart_from_the_known_violations(lint_imports, tmp_path):
    unknown = set(KNOWN_VIOLATIONS) - set(archgraph.read_contracts()) - {"private-names"}
    assert not unknown, f"KNOWN_VIOLATIONS names contracts pyproject.toml lacks: {unknown}"
    result = lint_imports(_lint_config(tmp_path, KNOWN_VIOLATIONS))
    assert result.returncode == 0, (
        "an import breaks the architecture (docs/architecture.md, 'The rules'), or a known "
        "violation is gone (delete its line from KNOWN_VIOLATIONS in "
        "tests/test_architecture.py: 'No matches for ignored import' names it):\n"
        + result.stdout[-6000:]
        + result.stderr[-2000:]
    )


def test_every_known_violation_is_still_needed(lint_imports, tmp_path):
    """Each listed import still breaks its own contract (checked on a run without the list),
    so an entry cannot outlive its violation, e.g. after a contract is relaxed."""
    result = lint_imports(_lint_config(tmp_path, {}))
    report = result.stdout.split("Broken contracts", 1)[-1]
    names = {cid: c["name"] for cid, c in archgraph.read_contracts().items()}
    starts = sorted((report.find(f"\n{name}\n"), cid) for cid, name in names.items())
    sections = {
        cid: report[start : (starts[i + 1][0] if i + 1 < len(starts) else len(report))]
        for i, (start, cid) in enumerate(starts)
        if start >= 0
    }
    stale = []
    for cid, entries in KNOWN_VIOLATIONS.items():
        for entry in entries if cid != "private-names" else ():
            link = " -> ".join(_full(side.strip()) for side in entry.split("->"))
            if f"{link} (l." not in sections.get(cid, ""):
                stale.append(f"{cid}: {entry}")
    assert stale == [], (
        f"no longer a violation, delete from KNOWN_VIOLATIONS: {stale}\n" + result.stdout[-4000:]
    )


def test_an_upward_import_breaks_the_layers(lint_imports, tmp_path):
    """The contracts do bite: the real package plus one upward import fails ``layers``."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / PACKAGE / "client" / "upward.py").write_text(f"from {PACKAGE}.operators import pull\n")
    config = _lint_config(tmp_path, KNOWN_VIOLATIONS)
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(exe), "--config", str(config), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(copy)},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{PACKAGE}.client.upward -> {PACKAGE}.operators.pull" in result.stdout
    assert "client/ is HTTP only" in result.stdout


# --- (d) private names ------------------------------------------------------------------------


def test_no_module_imports_another_packages_private_name():
    found = {hit.key: hit.where for hit in archgraph.private_imports()}
    known = set(KNOWN_VIOLATIONS["private-names"])
    new = [f"{where}: {key}" for key, where in sorted(found.items()) if key not in known]
    gone = sorted(known - set(found))
    assert not new, (
        "import a public name instead (make it public in its package, or move the code): "
        + "\n".join(new)
    )
    assert not gone, f"fixed, delete from KNOWN_VIOLATIONS['private-names']: {gone}"


def test_the_private_check_sees_modules_and_attributes(tmp_path):
    pkg = tmp_path / PACKAGE
    for folder in ("client", "sensors", "operators"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "compat.py").write_text("_hidden = 1\n")
    (pkg / "client" / "auth.py").write_text("_token = 1\n")
    (pkg / "client" / "config.py").write_text("from .auth import _token\n")  # same package
    (pkg / "operators" / "_common.py").write_text("")
    (pkg / "operators" / "pull.py").write_text("from . import _common\n")  # same package
    (pkg / "sensors" / "base.py").write_text(
        f"from {PACKAGE}.operators._common import fail_fast\n"
        f"from {PACKAGE}.client.auth import _token\n"
        f"from {PACKAGE}.compat import _hidden, __version__\n"
        f"import {PACKAGE}.operators._common\n"
    )
    (tmp_path / "example_dags").mkdir()
    (tmp_path / "example_dags" / "dag.py").write_text(f"from {PACKAGE}.client.auth import _token\n")
    keys = [hit.key for hit in archgraph.private_imports(tmp_path)]
    assert keys == [
        "example_dags/dag.py -> client.auth._token",
        "sensors.base -> client.auth._token",
        "sensors.base -> compat._hidden",
        "sensors.base -> operators._common",
    ]
