"""``make demo``: run every example DAG under a real Airflow against the simulated world.

Starts the FakeApi tenants (``demo/world.py``), builds a fresh AIRFLOW_HOME with a sqlite
DB in ``.airflow-demo/`` (kept afterwards: task logs are under ``.airflow-demo/logs``),
runs each DAG in ``example_dags/`` with ``airflow dags test`` and prints, per DAG, the run
state and a table of the ``apisync-summary`` lines its tasks logged. Exits 1 if a DAG
failed or did not import.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python demo/run.py` from a fresh clone: demo.world importable

from airflow_provider_apisync.operators._common import SUMMARY_MARKER  # noqa: E402
from airflow_provider_apisync.testing.dagrun import AirflowEnv, DagTestResult  # noqa: E402
from demo.world import running_world  # noqa: E402

DAGS = ROOT / "example_dags"
HOME = ROOT / ".airflow-demo"
SKIP_COLUMNS = {"task_id", "errors"}


def parse_summaries(output: str) -> list[dict[str, Any]]:
    """Every ``apisync-summary {json}`` object found in ``output``, in order."""
    decoder = json.JSONDecoder()
    found = []
    for line in output.splitlines():
        at = line.find(SUMMARY_MARKER + " {")
        if at < 0:
            continue
        try:
            value, _ = decoder.raw_decode(line, at + len(SUMMARY_MARKER) + 1)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: task_id first, then every scalar field any row has."""
    if not rows:
        return "    (no apisync-summary lines logged)"
    columns = ["task_id"]
    for row in rows:
        for key, value in row.items():
            scalar = isinstance(value, str | int | float | bool) or value is None
            if key not in columns and key not in SKIP_COLUMNS and scalar:
                columns.append(key)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    errors = [f"{row.get('task_id')}: {row['errors']}" for row in rows if row.get("errors")]
    lines += [f"errors  {e}" for e in errors]
    return "\n".join("    " + line for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def dag_ids(env: AirflowEnv) -> list[str]:
    """DAG ids in the DAGs folder, after failing loudly on import errors."""
    errors = env.airflow("dags", "list-import-errors", "-o", "json", check=False)
    listed = _json_list(errors.stdout)
    if listed:
        for err in listed:
            detail = err.get("error") or err.get("stack_trace")
            print(f"IMPORT ERROR {err.get('filename')}:\n{detail}")
        raise SystemExit(1)
    proc = env.airflow("dags", "list", "-o", "json")
    return sorted(str(d["dag_id"]) for d in _json_list(proc.stdout))


def _json_list(text: str) -> list[dict[str, Any]]:
    """The JSON array an ``airflow ... -o json`` command printed among its log lines."""
    for line in reversed(text.splitlines()):
        if not line.startswith("["):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
    return []


def report(result: DagTestResult, seconds: float) -> None:
    mark = "ok" if result.ok else "FAILED"
    print(f"\n== {result.dag_id}: {result.state or 'no run state'} ({seconds:.1f}s) {mark}")
    print(table(parse_summaries(result.output)))
    if not result.ok:
        print("    --- last output lines ---")
        for line in result.output.strip().splitlines()[-25:]:
            print("    " + line)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standalone", action="store_true", help="Airflow UI (not yet)")
    parser.add_argument("--dag", action="append", help="run only this DAG id (repeatable)")
    parser.add_argument("--home", type=Path, default=HOME, help="AIRFLOW_HOME (recreated)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.standalone:
        print("demo --standalone (Airflow UI against the simulated world) is not yet implemented")
        return 2
    started = time.monotonic()
    shutil.rmtree(args.home, ignore_errors=True)
    with running_world() as world:
        for tenant in world:
            print(f"tenant {tenant.name}: {tenant.api.url} (connection {tenant.conn_id})")
        env = AirflowEnv(args.home, DAGS, env=world.env())
        print(f"AIRFLOW_HOME={args.home}: migrating the metadata DB ...")
        env.setup()
        ids = dag_ids(env)
        if args.dag:
            missing = sorted(set(args.dag) - set(ids))
            if missing:
                print(f"unknown DAG ids {missing}; found {ids}")
                return 1
            ids = [d for d in ids if d in args.dag]
        results = []
        for dag_id in ids:
            t0 = time.monotonic()
            result = env.dags_test(dag_id)
            report(result, time.monotonic() - t0)
            results.append(result)
    failed = [r.dag_id for r in results if not r.ok]
    print(
        f"\n{len(results) - len(failed)}/{len(results)} DAGs succeeded in "
        f"{time.monotonic() - started:.0f}s; task logs under {args.home / 'logs'}"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
