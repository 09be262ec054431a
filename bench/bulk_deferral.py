"""Does a deferred bulk job really free its worker slot? Watch it in a real Airflow.

Starts ``airflow standalone`` (scheduler, triggerer, API server; LocalExecutor) with
``example_dags/bulk_export_example.py``, points its connection at a FakeApi whose query
job stays running for ``JOB_S`` seconds, triggers one run and samples the task instance's
state over the REST API once a second. Reports the seconds spent ``running`` (on a worker)
versus ``deferred`` (in the triggerer only), and the status polls the API received.

    python bench/bulk_deferral.py          # ~2-4 minutes, most of it Airflow start-up
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from airflow.sdk import Connection

from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.dagrun import AirflowEnv
from airflow_provider_apisync.testing.fakeapi.bulk import install_bulk_routes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo root: `demo` (the Airflow standalone runner)
from demo.airflow_standalone import AirflowStandalone  # noqa: E402

EXAMPLE = ROOT / "example_dags" / "bulk_export_example.py"
DAG_ID = "apisync_bulk_export"
TASK_ID = "export_contacts"
JOB_S = 40.0  # the job spends JOB_S / 2 in UploadComplete and in InProgress


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="apisync-bulk-bench-"))
    dags = tmp / "dags"
    dags.mkdir()
    # the example runs @daily; unscheduled here so the only run is the one triggered below
    source = EXAMPLE.read_text().replace('schedule="@daily"', "schedule=None")
    (dags / EXAMPLE.name).write_text(source)
    with FakeApi(seed={"contacts": 1000}) as api:
        bulk = install_bulk_routes(api, seconds_per_state=JOB_S / 2)
        conn = Connection(
            conn_id="apisync_salesforce",
            conn_type="apisync",
            host=api.url,
            password="test-bearer-token-0001",
            extra=json.dumps({"auth_type": "bearer"}),
        ).as_json()
        env = AirflowEnv(tmp / "home", dags, env={"AIRFLOW_CONN_APISYNC_SALESFORCE": conn})
        started = time.monotonic()
        with AirflowStandalone(env) as airflow:
            print(f"airflow standalone healthy after {time.monotonic() - started:.0f}s")
            run_id = airflow.trigger(DAG_ID)
            seen: Counter[str] = Counter()
            timeline: list[str] = []
            deadline = time.monotonic() + JOB_S + 240
            while time.monotonic() < deadline:
                state = airflow.task_states(DAG_ID, run_id).get(TASK_ID) or "none"
                seen[state] += 1
                if not timeline or timeline[-1] != state:
                    timeline.append(state)
                if state in ("success", "failed", "upstream_failed"):
                    break
                time.sleep(1.0)
            final = airflow.wait(DAG_ID, run_id, timeout=120)
        jobs = bulk.created("query")
    print(f"run {run_id}: {final}")
    print("task states over time: " + " -> ".join(timeline))
    print(f"seconds sampled per state: {dict(seen)}")
    for job in jobs:
        took = (job.finished or time.time()) - job.created
        print(f"job {job.id}: {job.state} after {took:.0f}s, {job.polls} status polls")
    shutil.rmtree(tmp, ignore_errors=True)
    ok = final == "success" and len(jobs) == 1 and seen["deferred"] > seen["running"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
