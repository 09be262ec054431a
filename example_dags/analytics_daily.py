"""Daily product-analytics export, and a report that runs whenever a new day has landed.

``analytics_daily`` pulls exactly one UTC day of events per run: the run's data interval
``[data_interval_start, data_interval_end)`` becomes the API's time filter, so the pull is
stateless and backfill-safe (re-running or backfilling a day gives the same files). The
analytics API reports ``total_pages``, so pages are fetched four at a time, still written
in order. The output folder is announced as an event on the ``apisync://analytics/events``
asset, whose ``extra`` carries the manifest (uri, files, records ...).

``analytics_report`` is scheduled on that asset: each new day of events starts it. It
aggregates the day's files (events, users, value per event type) into ``daily_metrics.json``.

Note for Airflow 3: a cron string as ``schedule`` makes runs without a data interval
(``CronTriggerTimetable``); data-interval windows need ``CronDataIntervalTimetable``.

Connection: ``apisync_analytics`` (bearer token).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow_provider_apisync.client.pagination import PageNumberPaginator

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import Asset, CronDataIntervalTimetable, dag, task
from airflow_provider_apisync.operators import ApiPullOperator

ANALYTICS = "apisync_analytics"
DAILY_EVENTS = Asset("apisync://analytics/events")


@dag(
    dag_id="analytics_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["apisync", "example", "analytics"],
    doc_md=__doc__,
)
def analytics_daily() -> None:
    ApiPullOperator(
        task_id="pull_events",
        apisync_conn_id=ANALYTICS,
        endpoint="/events",
        query={
            "updated_since": "{{ data_interval_start | ts }}",  # inclusive
            "updated_before": "{{ data_interval_end | ts }}",  # exclusive: half-open window
        },
        paginator=PageNumberPaginator(
            page_size=250, size_param="per_page", total_pages_path="total_pages"
        ),
        concurrency=4,
        record_key="id",
        outlets=[DAILY_EVENTS],
    )


@dag(
    dag_id="analytics_report",
    schedule=[DAILY_EVENTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["apisync", "example", "analytics"],
    doc_md=__doc__,
)
def analytics_report() -> None:
    @task(inlets=[DAILY_EVENTS])
    def daily_metrics(triggering_asset_events: Any = None, inlet_events: Any = None) -> dict:
        """Aggregate the newest day of events; the files are found through the asset event."""
        import json
        import logging
        from collections import Counter, defaultdict

        from airflow_provider_apisync.compat import ObjectStoragePath
        from airflow_provider_apisync.records import output_folder, read_records
        from airflow_provider_apisync.runtime.summary import log_summary

        events = list(triggering_asset_events[DAILY_EVENTS]) if triggering_asset_events else []
        if not events:  # started by hand: use the newest event of the asset
            events = list(inlet_events[DAILY_EVENTS])[-1:]
        if not events:
            raise ValueError(f"{DAILY_EVENTS.uri} has no events yet: run analytics_daily first")
        manifest = events[-1].extra
        counts: Counter[str] = Counter()
        value: defaultdict[str, float] = defaultdict(float)
        users: set[str] = set()
        for event in read_records(manifest):  # the day's part files, one line at a time
            kind = str(event.get("event_type"))
            counts[kind] += 1
            value[kind] += float(event.get("value") or 0)
            users.add(str(event.get("user_id")))
        metrics = {
            "source": manifest["uri"],
            "events": sum(counts.values()),
            "users": len(users),
            "by_type": {k: {"events": counts[k], "value": round(value[k], 2)} for k in counts},
        }
        out: ObjectStoragePath = output_folder() / "daily_metrics.json"
        out.write_text(json.dumps(metrics, indent=1))
        summary = {"records": metrics["events"], "users": len(users), "uri": str(out)}
        log_summary(logging.getLogger(__name__), "daily_metrics", summary)
        return summary

    daily_metrics()


analytics_daily()
analytics_report()
