"""Export every Salesforce contact with a Bulk API 2.0 query job, without holding a worker.

``export_contacts`` creates a query job, then waits for it in the triggerer: between
status polls (5 s, growing 1.5x per poll up to 60 s) the task is deferred, so a job that
takes an hour costs no worker slot. When the job reaches ``JobComplete`` the results are
downloaded page by page (``locator``) and written as JSONL part files; the task returns a
small manifest (uri, files, records, job id and state ...) that ``report`` receives.
A failed or aborted job fails the task with Salesforce's ``errorMessage``; a retried task
keeps following the job it created instead of starting another one.

Connection (one per system), e.g. as an environment variable::

    AIRFLOW_CONN_APISYNC_SALESFORCE='{"conn_type": "apisync",
        "host": "https://MyDomain.my.salesforce.com/services/data/v62.0",
        "login": "<consumer key>", "password": "<consumer secret>",
        "extra": {"auth_type": "oauth2_client_credentials",
                  "oauth2_url": "https://MyDomain.my.salesforce.com/services/oauth2/token"}}'

HubSpot exports work the same way with ``create_endpoint="/crm/v3/exports/export/async"``,
``status_endpoint="/crm/v3/exports/export/async/tasks/{job_id}/status"``,
``status_path="status"`` and ``results=BulkResults(urls_path="result")`` (see docs/bulk.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import dag, task
from airflow_provider_apisync.operators import (
    ApiBulkJobOperator,
    BulkPolling,
    BulkResults,
    BulkStates,
)

CONN_ID = "apisync_salesforce"


@dag(
    dag_id="apisync_bulk_export",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["apisync", "example"],
)
def bulk_export_example() -> None:
    export_contacts = ApiBulkJobOperator(
        task_id="export_contacts",
        apisync_conn_id=CONN_ID,
        create_endpoint="/jobs/query",
        create_body={"operation": "query", "query": "SELECT Id, Name, Email FROM Contact"},
        status_endpoint="/jobs/query/{job_id}",
        # anything but these running states and the terminal defaults fails fast
        states=BulkStates(running=["UploadComplete", "InProgress"]),
        results=BulkResults(endpoint="/jobs/query/{job_id}/results", query={"maxRecords": 50000}),
        deferrable=True,  # wait in the triggerer, not on a worker
        polling=BulkPolling(interval=5, max_interval=60, timeout=timedelta(hours=6)),
        retries=2,
    )

    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """Stand-in for the next step (load into the warehouse): knows where the files are."""
        return {"records": manifest["records"], "files": len(manifest["files"])}

    report(export_contacts.output)


bulk_export_example()
