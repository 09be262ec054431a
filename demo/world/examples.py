"""How the repository's example DAGs are exercised against the world (demo and tests).

- :data:`SKIP`: DAGs that cannot run under ``airflow dags test`` alone, and why.
- :func:`plan_lanes`: two parallel lanes. Lane 0 holds the DAGs that read the CRM's
  rate-limit window (``crm_contacts_to_erp`` first, so its sensor meets the window that
  :func:`before_dag` closes); lane 1 the rest, asset producers before their consumers.
- :func:`before_dag`: what the world does right before a DAG starts.
- :func:`dag_args`: the ``airflow dags test`` arguments for a DAG (its file and, for the
  helpdesk DAGs, a logical date just after the world's newest ticket change).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

from airflow_provider_apisync.testing.dagrun import AirflowEnv
from demo.world.model import World

SUMMARY_MARKER = "apisync-summary"  # runtime.summary.SUMMARY_MARKER, without importing Airflow

LANES = (
    ("crm_contacts_to_erp", "invoices_to_erp", "hello_apisync", "apisync_rate_limit_window"),
    (
        "analytics_daily",
        "analytics_report",
        "ticket_sync",
        "ticket_comments",
        "apisync_bulk_export",
    ),
)
SKIP = {
    "webhook_to_asset_example": "runs when a signed GitHub delivery reaches the API server's "
    "/apisync/webhooks/github (`make airflow` sends one); `dags test` has no API server",
}
NOTES = {
    "crm_contacts_to_erp": "another integration just spent the CRM's rate-limit window: "
    "crm_quota defers until the reset the CRM announces",
}


def plan_lanes(dag_ids: Iterable[str]) -> list[list[str]]:
    """The lanes for ``dag_ids`` (skipped ones left out; unknown ones appended to lane 1)."""
    wanted = [d for d in dag_ids if d not in SKIP]
    lanes = [[d for d in lane if d in wanted] for lane in LANES]
    known = {d for lane in LANES for d in lane}
    lanes[1] += sorted(d for d in wanted if d not in known)
    return lanes


def before_dag(world: World, dag_id: str) -> str | None:
    """Prepare the world for ``dag_id``; returns a note to show, if any."""
    if dag_id == "crm_contacts_to_erp":
        world.close_window("crm")
    return NOTES.get(dag_id)


WINDOWED = ("ticket_sync", "ticket_comments")
"""DAGs that read "what changed in the data interval": they run with a logical date one
minute after the helpdesk's newest change, so its recent tickets fall inside their
15-minute interval however long the world waited before the DAG started."""


def _dag_file_option() -> str:
    """``dags test``'s option for the DAG file: ``-f`` on Airflow 3, ``-S`` (subdir, a file
    or folder) on 2.11, which has no ``-f``. Read from the installed distribution, so this
    module still imports no Airflow."""
    try:
        major = int(metadata.version("apache-airflow").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return "-f"
    return "-f" if major >= 3 else "-S"


_FILE_OPTION = _dag_file_option()


def dag_args(world: World, dag_id: str, files: Mapping[str, str]) -> tuple[str, ...]:
    """CLI arguments for ``airflow dags test DAG_ID`` (see :data:`WINDOWED`)."""
    args: tuple[str, ...] = (_FILE_OPTION, files[dag_id])
    if dag_id in WINDOWED:  # the logical date is positional: it goes before the options
        stamps = [str(t["updated_at"]) for t in world["helpdesk"].api.collection("tickets").all()]
        newest = datetime.fromisoformat(max(stamps).replace("Z", "+00:00"))
        args = ((newest + timedelta(minutes=1)).isoformat(), *args)
    return args


def dag_files(env: AirflowEnv) -> tuple[dict[str, str], dict[str, str]]:
    """(DAG id -> file, file -> import error) for the env's DAGs folder (serialized)."""
    listed = _json_list(env.airflow("dags", "list-import-errors", "-o", "json", check=False).stdout)
    errors = {str(e.get("filename")): str(e.get("error") or e.get("stack_trace")) for e in listed}
    dags = _json_list(env.airflow("dags", "list", "-o", "json").stdout)
    return {str(d["dag_id"]): str(d.get("fileloc") or "") for d in dags}, errors


def _json_list(text: str) -> list[dict[str, Any]]:
    """The JSON array an ``airflow ... -o json`` command printed among its log lines."""
    for line in reversed(text.splitlines()):
        if line.startswith("["):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, list):
                return [v for v in value if isinstance(v, dict)]
    return []


def task_summaries(output: str) -> dict[str, dict[str, Any]]:
    """Task id -> the last ``apisync-summary {json}`` that task logged in ``output``
    (a deferred sensor or a retried task logs once per try; the last one counts)."""
    decoder = json.JSONDecoder()
    found: dict[str, dict[str, Any]] = {}
    for line in output.splitlines():
        at = line.find(SUMMARY_MARKER + " {")
        if at < 0:
            continue
        try:
            value, _ = decoder.raw_decode(line, at + len(SUMMARY_MARKER) + 1)
        except ValueError:
            continue
        if isinstance(value, dict):
            task_id = str(value.get("task_id"))
            found.pop(task_id, None)  # keep the order of the last lines
            found[task_id] = value
    return found
