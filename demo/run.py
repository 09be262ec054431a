"""``make demo``: every example DAG under a real Airflow against the simulated world.

Starts the FakeApi tenants (CRM, ERP, helpdesk, analytics; faults and rate limits on),
builds a fresh AIRFLOW_HOME with a sqlite DB in ``.airflow-demo/`` (kept afterwards: each
run's full output in ``runs/<dag_id>.log``, the files it wrote under ``apisync/``), passes the
connections as ``AIRFLOW_CONN_*`` variables, runs each DAG with ``airflow dags test`` and
prints, per DAG, a table of what its tasks did (from their ``apisync-summary`` lines).
Exits 1 if a DAG failed or did not import.

``--standalone`` (``make airflow``): the same world under ``airflow standalone``, with the
UI on localhost, until Ctrl-C (see ``demo/standalone.py``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python demo/run.py` from a fresh clone: `demo` importable

from airflow_provider_apisync.testing.dagrun import AirflowEnv, DagTestResult  # noqa: E402
from demo.summary import parse_summaries, table  # noqa: E402
from demo.world import World, WorldConfig, running_world  # noqa: E402
from demo.world.examples import (  # noqa: E402
    SKIP,
    before_dag,
    dag_args,
    dag_files,
    plan_lanes,
)
from demo.world.lanes import run_lanes  # noqa: E402
from demo.world.show import print_world  # noqa: E402

DAGS = ROOT / "example_dags"
HOME = ROOT / ".airflow-demo"
UI_HOME = ROOT / ".airflow-ui"


def report(result: DagTestResult, seconds: float, home: Path) -> None:
    log = home / "runs" / f"{result.dag_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.output)
    mark = "ok" if result.ok else "FAILED"
    print(f"\n== {result.dag_id}: {result.state or 'no run state'} ({seconds:.0f}s) {mark}")
    print(table(parse_summaries(result.output)))
    if not result.ok:
        print("    --- last output lines ---")
        for line in result.output.strip().splitlines()[-30:]:
            print("    " + line)


def print_world_stats(world: World) -> None:
    print("\nwhat the systems saw (requests, injected faults, 429s, refused writes):")
    for name, stats in world.stats().items():
        print(f"  {name:<10} " + ", ".join(f"{k}={v}" for k, v in stats.items()))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--standalone", action="store_true", help="Airflow UI until Ctrl-C")
    parser.add_argument("--dag", action="append", help="run only this DAG id (repeatable)")
    parser.add_argument(
        "--home", type=Path, help=f"AIRFLOW_HOME, recreated (default {HOME.name}/, {UI_HOME.name}/)"
    )
    parser.add_argument("--calm", action="store_true", help="no injected faults")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.standalone:
        from demo.standalone import serve

        return serve(args.home or UI_HOME, DAGS, chaos=not args.calm)
    return run_all(args.home or HOME, args.dag, chaos=not args.calm)


def run_all(home: Path, only: list[str] | None, *, chaos: bool = True) -> int:
    started = time.monotonic()
    shutil.rmtree(home, ignore_errors=True)
    results: dict[str, DagTestResult] = {}
    with running_world(WorldConfig(chaos=chaos)) as world:
        print_world(world)
        env = AirflowEnv(home, DAGS, env=world.env())
        print(f"\nAIRFLOW_HOME={home}: migrating the metadata DB, serializing DAGs ...")
        env.setup()
        files, errors = dag_files(env)
        if errors:
            for filename, detail in errors.items():
                print(f"IMPORT ERROR {filename}:\n{detail}")
            return 1
        if only:
            missing = sorted(set(only) - set(files))
            if missing:
                print(f"unknown DAG ids {missing}; found {sorted(files)}")
                return 1
        ids = [d for d in files if not only or d in only]
        for dag_id in sorted(set(ids) & set(SKIP)):
            print(f"\n== {dag_id}: skipped: {SKIP[dag_id]}")
        lanes = plan_lanes(ids)
        print(f"\nrunning {sum(map(len, lanes))} DAGs with `airflow dags test` in two lanes ...")

        def before(dag_id: str) -> None:
            note = before_dag(world, dag_id)
            if note:
                print(f"\n   ({dag_id}: {note})")

        results = run_lanes(
            env,
            lanes,
            before=before,
            report=lambda result, secs: report(result, secs, home),
            args=lambda d: dag_args(world, d, files),
        )
        print_world_stats(world)
    failed = sorted(d for d, r in results.items() if not r.ok)
    print(
        f"\n{len(results) - len(failed)}/{len(results)} DAGs succeeded in "
        f"{time.monotonic() - started:.0f}s; full output of each run in {home / 'runs'}/, "
        f"files under {home / 'apisync'}/"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
