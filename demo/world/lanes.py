"""Run many DAGs under ``airflow dags test`` in parallel lanes, each on its own sqlite DB.

``airflow dags test`` spends most of its time starting Airflow, so two lanes side by side
take little more than one. Each lane after the first gets a copy of the migrated metadata
DB (sqlite allows one writer at a time); DAGs that depend on each other (an asset producer
and its consumer) belong in the same lane, in order. Logs and output files still land
under the one AIRFLOW_HOME.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from airflow_provider_apisync.testing.dagrun import AirflowEnv, DagTestResult

Hook = Callable[[str], None]
Reporter = Callable[[DagTestResult, float], None]


def lane_env(env: AirflowEnv, lane: int) -> AirflowEnv:
    """``env`` for lane 0; for others the same home with a copy of its metadata DB."""
    if lane == 0:
        return env
    db = env.home / f"airflow-lane{lane}.db"
    shutil.copy(env.home / "airflow.db", db)
    extra = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    return replace(env, env={**env.env, **extra})


def run_lanes(
    env: AirflowEnv,
    lanes: Sequence[Sequence[str]],
    *,
    before: Hook | None = None,
    report: Reporter | None = None,
    args: Callable[[str], Sequence[str]] | None = None,
) -> dict[str, DagTestResult]:
    """``dags test`` every DAG id, lane by lane in parallel, in order within a lane.

    ``before(dag_id)`` runs right before a DAG starts, ``report(result, seconds)`` right
    after it ends (serialised: safe to print); ``args(dag_id)`` adds CLI arguments.
    Returns the results by DAG id. ``env`` must be set up (migrated, DAGs serialized).
    """
    envs = [lane_env(env, n) for n in range(len(lanes))]
    results: dict[str, DagTestResult] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(lane_env: AirflowEnv, dag_ids: Sequence[str]) -> None:
        try:
            for dag_id in dag_ids:
                if before is not None:
                    with lock:
                        before(dag_id)
                started = time.monotonic()
                extra = list(args(dag_id)) if args is not None else []
                result = lane_env.dags_test(dag_id, *extra)
                with lock:
                    results[dag_id] = result
                    if report is not None:
                        report(result, time.monotonic() - started)
        except BaseException as exc:  # surfaced in the caller's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(e, ids), name=f"lane-{n}", daemon=True)
        for n, (e, ids) in enumerate(zip(envs, lanes, strict=True))
        if ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
