"""Helpdesk tickets -> the comments of each ticket that changed: a dependent pull.

Runs every 15 minutes; each run's data interval is the 15 minutes before it.

1. ``pull_changed_tickets`` reads the tickets changed since the last successful run
   (high-water mark with 5 minutes of lookback; the first run starts at the interval).
2. ``pull_ticket_comments`` is a *dependent pull*: for each of those tickets it pages
   through ``/tickets/{id}/comments`` (4 tickets at once, inside the helpdesk's rate
   limit), adds the ticket's id and subject to every comment, and writes all comments to
   one output with one manifest. A ticket merged away since step 1 answers 404: skipped
   and counted, not a failed run. A task retry continues after the last ticket done.

Connection: ``apisync_helpdesk`` (basic, ``email/token``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import CronTriggerTimetable, dag
from airflow_provider_apisync.operators import ApiPullOperator, Incremental

HELPDESK = "apisync_helpdesk"


@dag(
    dag_id="ticket_comments",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC", interval=timedelta(minutes=15)),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["apisync", "example", "helpdesk"],
    doc_md=__doc__,
)
def ticket_comments() -> None:
    tickets = ApiPullOperator(
        task_id="pull_changed_tickets",
        apisync_conn_id=HELPDESK,
        endpoint="/tickets",
        query={"page[size]": 25},
        incremental=Incremental(
            "updated_at",
            "updated_since",
            initial_value="{{ data_interval_start | ts }}",
            lookback=timedelta(minutes=5),
        ),
        record_key="id",
    )
    ApiPullOperator(
        task_id="pull_ticket_comments",
        apisync_conn_id=HELPDESK,
        parents=tickets.output,  # the tickets pull's manifest (XCom)
        endpoint="/tickets/{id}/comments",
        query={"page[size]": 2},
        include_from_parent={"ticket_id": "id", "ticket_subject": "subject"},
        response_actions={404: "skip"},  # merged or deleted since the tickets pull
        concurrency=4,
        record_key="id",
    )


ticket_comments()
