"""Load DAGs from a file or folder with Airflow's own ``DagBag`` (no database needed).

The ``DagBag`` parses files the way the DAG processor does (``.airflowignore``, safe mode,
zip files), so a page describes what Airflow would load. Import errors are collected and
reported per file with their last line; a missing path is one clear error.
"""

from __future__ import annotations

import ast
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DescribeError(Exception):
    """A problem the user can fix (bad path, DAG import errors): one line, no traceback."""


@dataclass
class Loaded:
    """DAGs (sorted by id), their display paths and module docstrings, and import errors."""

    dags: list[Any]
    sources: dict[str, str] = field(default_factory=dict)  # dag_id -> display path
    module_docs: dict[str, str] = field(default_factory=dict)  # dag_id -> module docstring
    import_errors: dict[str, str] = field(default_factory=dict)  # display path -> last line


def display_root(path: str | os.PathLike[str]) -> str:
    """The path as the user wrote it, normalised and with ``/`` separators."""
    return Path(os.path.normpath(os.fspath(path))).as_posix()


def check_path(path: str | os.PathLike[str]) -> Path:
    """The path, or :class:`DescribeError` when it cannot hold DAGs (checked before Airflow
    is imported, so the error is instant)."""
    target = Path(path)
    if not target.exists():
        raise DescribeError(
            f"'{os.fspath(path)}' does not exist: give a DAG file or a folder of DAG files."
        )
    if target.is_file() and target.suffix not in (".py", ".zip"):
        raise DescribeError(
            f"'{os.fspath(path)}' is not a .py or .zip file: give a DAG file or a folder."
        )
    return target


def load_dags(path: str | os.PathLike[str]) -> Loaded:
    """Parse every DAG under ``path`` (a ``.py``/``.zip`` file or a folder)."""
    target = check_path(path)
    root_shown = display_root(path)
    resolved = target.resolve()
    bag = _dagbag(resolved)

    def shown(fileloc: str) -> str:
        file = Path(fileloc).resolve()
        if resolved.is_file():
            return root_shown
        try:
            rel = file.relative_to(resolved).as_posix()
        except ValueError:
            return file.name
        return f"{root_shown}/{rel}" if root_shown != "." else rel

    loaded = Loaded(dags=[bag.dags[k] for k in sorted(bag.dags)])
    for dag in loaded.dags:
        fileloc = str(getattr(dag, "fileloc", "") or "")
        loaded.sources[dag.dag_id] = shown(fileloc) if fileloc else root_shown
        loaded.module_docs[dag.dag_id] = module_docstring(fileloc)
    for fileloc, error in sorted(bag.import_errors.items()):
        loaded.import_errors[shown(fileloc)] = last_line(error)
    return loaded


def _dagbag(folder: Path) -> Any:
    from airflow_provider_apisync.compat import dagbag_class

    DagBag = dagbag_class()
    kwargs: dict[str, Any] = {"dag_folder": str(folder)}
    accepted = inspect.signature(DagBag.__init__).parameters
    if "include_examples" in accepted:
        kwargs["include_examples"] = False
    if "load_op_links" in accepted:
        kwargs["load_op_links"] = False
    return DagBag(**kwargs)


def module_docstring(fileloc: str) -> str:
    """The docstring of a DAG's ``.py`` file ("" when absent or unreadable)."""
    if not fileloc.endswith(".py"):
        return ""
    try:
        tree = ast.parse(Path(fileloc).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ""
    return ast.get_docstring(tree) or ""


def last_line(error: str) -> str:
    """The last non-empty line of a traceback: usually the exception and its message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else "import failed"
