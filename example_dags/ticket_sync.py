"""Helpdesk tickets -> the CRM's ticket records: keep each ticket's status in sync.

Runs every 15 minutes; each run's data interval is the 15 minutes before it.

1. ``helpdesk_fresh`` waits (deferred, no worker slot) until the helpdesk shows a ticket
   changed in this interval. Nothing changed within the interval: the run is skipped
   (``soft_fail``) instead of spending API quota.
2. ``pull_changed_tickets`` reads the tickets changed since the last successful sync
   (high-water mark with 5 minutes of lookback; the first run starts at the interval).
3. ``patch_crm_tickets`` PATCHes the status of each changed ticket on its CRM copy,
   mapped to the CRM's pipeline stages; each PATCH carries an idempotency key, so a
   retry after a lost answer cannot apply it twice. The CRM's rate-limit headers pace the
   writes instead of running into 429s.

Connections: ``apisync_helpdesk`` (basic, ``email/token``) and ``apisync_crm`` (OAuth2).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import CronTriggerTimetable, dag
from airflow_provider_apisync.operators import ApiPullOperator, ApiPushOperator, Incremental
from airflow_provider_apisync.sensors import DataFreshnessSensor

HELPDESK = "apisync_helpdesk"
CRM = "apisync_crm"
CRM_STAGE = {
    "new": "new",
    "open": "waiting_on_us",
    "pending": "waiting_on_customer",
    "hold": "waiting_on_us",
    "solved": "closed",
    "closed": "closed",
}


def crm_status(ticket: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body for a ticket's CRM copy."""
    return {
        "id": ticket["id"],
        "status": CRM_STAGE.get(str(ticket.get("status")), "waiting_on_us"),
        "helpdesk_status": ticket.get("status"),
        "helpdesk_updated_at": ticket.get("updated_at"),
    }


@dag(
    dag_id="ticket_sync",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC", interval=timedelta(minutes=15)),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["apisync", "example", "helpdesk", "crm"],
    doc_md=__doc__,
)
def ticket_sync() -> None:
    fresh = DataFreshnessSensor(
        task_id="helpdesk_fresh",
        apisync_conn_id=HELPDESK,
        endpoint="/tickets",
        query={"updated_since": "{{ data_interval_start | ts }}"},
        records_path="data",
        timestamp_field="updated_at",
        newer_than="{{ data_interval_start | ts }}",
        deferrable=True,
        poke_interval=120,
        timeout=timedelta(minutes=14),  # the next run takes over after that
        soft_fail=True,
    )
    pull = ApiPullOperator(
        task_id="pull_changed_tickets",
        apisync_conn_id=HELPDESK,
        endpoint="/tickets",
        query={"page[size]": 25},
        paginator="auto",  # cursor in meta.after_cursor with meta.has_more: detected
        incremental=Incremental(
            "updated_at",
            "updated_since",
            initial_value="{{ data_interval_start | ts }}",
            lookback=timedelta(minutes=5),
        ),
        record_key="id",
    )
    patch = ApiPushOperator(
        task_id="patch_crm_tickets",
        apisync_conn_id=CRM,
        records=pull.output,
        transform=crm_status,
        endpoint="/tickets/{id}",
        method="PATCH",
        record_key="id",
        concurrency=4,
        max_error_ratio=0.0,
    )
    fresh >> pull >> patch


ticket_sync()
