"""Generated integration docs: one Markdown page per DAG, from the DAG files themselves.

Command line::

    python -m airflow_provider_apisync.describe example_dags --out docs/dags
    python -m airflow_provider_apisync.describe example_dags --out docs/dags --check

From Python::

    from airflow_provider_apisync.describe import generate, stale_pages, write_pages

    pages = generate("example_dags", out="docs/dags").pages   # {"<dag_id>.md": "...", ...}
    write_pages(pages, "docs/dags")

Pages are deterministic (sorted, no timestamps, no machine paths) and connection-less by
default: connection ids are named, their details are "resolved at run time". Pass
``connections=True`` (``--connections``) to read each connection the way a task does and
show its public settings (never secrets); such pages depend on the environment, so do not
commit them. See ``docs/describe.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_apisync.describe.loader import DescribeError, display_root, load_dags
from airflow_provider_apisync.describe.model import DagDoc, describe_dag
from airflow_provider_apisync.describe.render import MARKER, render_dag, render_index
from airflow_provider_apisync.describe.systems import SystemDoc, resolve, unresolved

__all__ = [
    "DescribeError",
    "Generated",
    "generate",
    "refresh_command",
    "stale_pages",
    "write_pages",
]

INDEX = "README.md"


@dataclass(frozen=True)
class Generated:
    """File name -> Markdown, plus the models the pages were rendered from."""

    pages: dict[str, str]
    docs: tuple[DagDoc, ...]


def refresh_command(path: str | os.PathLike[str], out: str | os.PathLike[str] | None) -> str:
    """The command that regenerates these pages (written into each page's header)."""
    command = f"python -m airflow_provider_apisync.describe {display_root(path)}"
    return command + (f" --out {display_root(out)}" if out is not None else "")


def generate(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    connections: bool = False,
) -> Generated:
    """Load the DAGs under ``path`` and render every page (nothing is written).

    Raises :class:`DescribeError` for a missing path or when any DAG file fails to import
    (so a broken file never silently drops its page).
    """
    loaded = load_dags(path)
    if loaded.import_errors:
        problems = "; ".join(f"{file}: {line}" for file, line in loaded.import_errors.items())
        raise DescribeError(f"DAG import errors, no page written: {problems}")
    docs = tuple(
        describe_dag(
            dag,
            source=loaded.sources[dag.dag_id],
            module_doc=loaded.module_docs.get(dag.dag_id, ""),
        )
        for dag in loaded.dags
    )
    resolver = resolve if connections else unresolved
    conn_ids = sorted({cid for doc in docs for cid in doc.conn_ids})
    systems: dict[str, SystemDoc] = {cid: resolver(cid) for cid in conn_ids}
    command = refresh_command(path, out)
    pages = {f"{doc.dag_id}.md": render_dag(doc, systems, command) for doc in docs}
    pages[INDEX] = render_index(docs, command)
    return Generated(pages, docs)


def _generated_files(folder: Path) -> list[Path]:
    """Markdown files in ``folder`` that this tool wrote (they start with its marker)."""
    found = []
    for file in sorted(folder.glob("*.md")):
        try:
            with file.open(encoding="utf-8") as fh:
                if fh.readline().rstrip("\n") == MARKER:
                    found.append(file)
        except (OSError, UnicodeDecodeError):
            continue
    return found


def stale_pages(pages: dict[str, str], out: str | os.PathLike[str]) -> list[str]:
    """Files in ``out`` that differ from ``pages``: missing, changed, or left from a DAG
    that is gone (``"<name> (no longer generated)"``). Empty when everything is current."""
    folder = Path(out)
    stale = []
    for name, text in sorted(pages.items()):
        file = folder / name
        if not file.is_file() or file.read_text(encoding="utf-8") != text:
            stale.append(name)
    if folder.is_dir():
        for file in _generated_files(folder):
            if file.name not in pages:
                stale.append(f"{file.name} (no longer generated)")
    return stale


def write_pages(pages: dict[str, str], out: str | os.PathLike[str]) -> list[str]:
    """Write changed pages to ``out`` and delete generated pages of removed DAGs.

    Files without the generated marker are never touched. Returns what changed.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in sorted(pages.items()):
        file = folder / name
        if not file.is_file() or file.read_text(encoding="utf-8") != text:
            file.write_text(text, encoding="utf-8")
            changed.append(name)
    for file in _generated_files(folder):
        if file.name not in pages:
            file.unlink()
            changed.append(f"{file.name} (removed)")
    return changed
