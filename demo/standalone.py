"""``make airflow``: the demo world under a real ``airflow standalone``, with the UI.

Scheduler, DAG processor, triggerer and API server run on a loopback port with sqlite
(LocalExecutor) in ``.airflow-ui/``; the FakeApi tenants run in this process and keep
changing (tickets, contacts, events) so later runs find work. Their URLs are printed; their
connections are stored in the metadata DB (Admin -> Connections, where the Test button is
enabled). On start every example DAG is unpaused and run once: scheduled ones whose latest
interval is due start by themselves, the others are triggered, ``analytics_report``
follows the asset event of ``analytics_daily``, and one signed GitHub push delivery goes to
the webhook endpoint so ``webhook_to_asset_example`` runs too. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from airflow_provider_apisync.testing.dagrun import AirflowEnv
from airflow_provider_apisync.webhooks.signatures import sign_github
from demo.airflow_standalone import AirflowStandalone
from demo.world import World, WorldConfig, running_world
from demo.world import tenants as world_tenants
from demo.world.examples import before_dag
from demo.world.show import print_world


def serve(home: Path, dags: Path, *, chaos: bool = True) -> int:
    """Run until Ctrl-C (or SIGTERM); returns the exit code."""
    shutil.rmtree(home, ignore_errors=True)
    with running_world(WorldConfig(chaos=chaos)) as world:
        world_tenants.start_activity(world)
        print_world(world)
        # Connections go into the metadata DB (below), not AIRFLOW_CONN_* variables: then
        # Admin -> Connections lists them, and they can be edited and tested there.
        env = AirflowEnv(home, dags)
        print(f"\nstarting airflow standalone in {home} (log: {home / 'standalone.log'}) ...")
        with AirflowStandalone(env) as airflow:
            store_connections(airflow, world)
            password = admin_password(home)
            print(f"\nAirflow UI: {airflow.url}  user: admin  password: {password}")
            print(
                f"connections (Admin -> Connections, Test enabled): "
                f"{', '.join(sorted(world.connections()))}"
            )
            kick_off(airflow, world)
            print("\nwatch runs, task logs, XComs and assets in the UI; Ctrl-C stops everything")
            wait_for_interrupt()
            print("\nstopping airflow and the simulated systems ...")
    return 0


def store_connections(airflow: AirflowStandalone, world: World) -> None:
    """Every world connection into the metadata DB (each apisync one with its port)."""
    for conn_id, conn in sorted(world.connections().items()):
        airflow.add_connection(conn_id, conn)


def admin_password(home: Path) -> str:
    path = home / "simple_auth_manager_passwords.json.generated"
    try:
        return str(json.loads(path.read_text())["admin"])
    except (OSError, ValueError, KeyError):
        return f"(see {path})"


def kick_off(airflow: AirflowStandalone, world: World) -> None:
    """Unpause every DAG; trigger those the scheduler will not start by itself now."""
    dags = list_dags(airflow)
    now = datetime.now(timezone.utc)
    for dag in dags:
        dag_id = dag["dag_id"]
        note = before_dag(world, dag_id)
        suffix = f" ({note})" if note else ""
        airflow.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        if asset_scheduled(dag):
            print(f"  {dag_id}: waits for its asset")
            continue
        due = _parse(airflow.api("GET", f"/api/v2/dags/{dag_id}").get("next_dagrun_run_after"))
        if due is not None and due <= now:
            print(f"  {dag_id}: its latest interval is due; the scheduler starts it{suffix}")
            continue
        run_id = airflow.trigger(dag_id)
        print(f"  {dag_id}: triggered {run_id}{suffix}")
    send_github_push(airflow.url)


def list_dags(airflow: AirflowStandalone, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every DAG once the DAG processor has parsed the folder."""
    deadline = time.monotonic() + timeout
    dags: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        dags = airflow.api("GET", "/api/v2/dags?limit=100").get("dags", [])
        if dags and len(dags) == len({d["dag_id"] for d in dags}):
            time.sleep(3)  # let the processor finish the folder
            again = airflow.api("GET", "/api/v2/dags?limit=100").get("dags", [])
            if len(again) == len(dags):
                return sorted(again, key=lambda d: d["dag_id"])
        time.sleep(2)
    return dags


def asset_scheduled(dag: dict[str, Any]) -> bool:
    summary = str(dag.get("timetable_summary") or dag.get("timetable_description") or "")
    return "asset" in summary.lower()


def send_github_push(base_url: str) -> None:
    """One signed ``push`` delivery to the webhook endpoint (what GitHub would send)."""
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "repository": {"full_name": "acme/storefront"},
            "commits": [{"id": uuid.uuid4().hex[:12], "message": "Fix invoice rounding"}],
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign_github(body, world_tenants.GITHUB_WEBHOOK_SECRET),
    }
    try:
        resp = requests.post(
            base_url + "/apisync/webhooks/github", data=body, headers=headers, timeout=30
        )
        print(f"  webhook_to_asset_example: signed GitHub push delivered ({resp.status_code})")
    except requests.RequestException as exc:
        print(f"  webhook delivery failed: {exc}")


def wait_for_interrupt() -> None:
    stop = {"now": False}

    def handler(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    try:
        while not stop["now"]:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
