"""``crm_contacts_to_erp`` under a real Airflow: scheduler, DAG processor, triggerer, API server.

``airflow standalone`` (LocalExecutor, sqlite) runs on a loopback port; the demo world runs
in this process. The CRM's rate-limit window is spent right before the run, so the sensor
must defer: in a real deployment only the triggerer can wake a deferred task up again. The
run is triggered and followed through the public REST API only, as an operator would.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_provider_apisync.testing.dagrun import AirflowEnv
from demo.airflow_standalone import AirflowStandalone
from demo.world import WorldConfig, running_world
from demo.world import seed as world_seed

pytestmark = [pytest.mark.timeout(600), pytest.mark.standalone]

DAG_ID = "crm_contacts_to_erp"
DAG_FILE = Path(__file__).resolve().parents[1] / "example_dags" / f"{DAG_ID}.py"
TASKS = ["crm_quota", "pull_contacts", "to_customers", "upsert_customers", "reconcile"]


def test_crm_contacts_to_erp_defers_through_the_real_triggerer(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    with running_world(WorldConfig()) as world:
        # Only the run we trigger: no scheduled run for the latest interval on unpause.
        env = AirflowEnv(
            tmp_path / "home",
            dags,
            env={**world.env(), "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"},
        )
        with AirflowStandalone(env) as airflow:
            gate = world.close_window("crm")
            run_id = airflow.trigger(DAG_ID)
            state = airflow.wait(DAG_ID, run_id, timeout=300)
            run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
            states = airflow.task_states(DAG_ID, run_id)
            events = airflow.api(
                "GET", f"/api/v2/eventLogs?dag_id={DAG_ID}&task_id=crm_quota&limit=100"
            )["event_logs"]
            tries = airflow.api("GET", f"{run_path}/taskInstances/crm_quota/tries")
            pulled = airflow.api(
                "GET", f"{run_path}/taskInstances/pull_contacts/xcomEntries/return_value"
            )
        log = (tmp_path / "home" / "standalone.log").read_text(errors="replace")

    assert state == "success", log[-6000:]
    assert states == dict.fromkeys(TASKS, "success")

    # The task instance went running -> deferred -> running -> success, in one try.
    history = [e["event"] for e in events if e["run_id"] == run_id]
    assert history == ["running", "deferred", "running", "success"], history
    assert [t["try_number"] for t in tries["task_instances"]] == [1]

    # The CRM saw: a refused probe, nothing until the reset it announced, then the pull.
    contacts = world["crm"].api.log("GET", "/contacts")
    probes = [r for r in contacts if not r.query and r.status in (200, 429)]
    assert probes[0].status == 429 and probes[0].at == gate.refused_at
    assert gate.retry_after is not None
    assert probes[1].status == 200
    assert probes[1].at >= gate.refused_at + gate.retry_after
    pages = [r for r in contacts if r.query]
    assert min(p.at for p in pages) > probes[1].at

    # What the integration promised: the ERP holds every CRM customer, up to date.
    value = pulled["value"]
    assert (value if isinstance(value, dict) else {}).get("records") == len(
        world["crm"].api.collection("contacts")
    ), value
    crm = world["crm"].api.collection("contacts").all()
    expected = {
        world_seed.customer_number(c["id"]): c for c in crm if c["lifecycle_stage"] == "customer"
    }
    erp = {c["customer_number"]: c for c in world["erp"].api.collection("customers").all()}
    assert set(erp) == set(expected)
    assert all(erp[k]["email"] == expected[k]["email"] for k in expected)
