"""CRM contacts -> ERP customers, hourly, exactly once, checked afterwards.

1. ``crm_quota`` waits (deferred: no worker slot) until the CRM's rate-limit window has
   room for the pull; the window is read from the API's own headers.
2. ``pull_contacts`` pages through contacts changed since the last successful run (a
   high-water mark on ``updated_at`` kept in Airflow's state store, 10 minutes of
   lookback) into JSONL files; a retry resumes from the last page it wrote.
3. ``to_customers`` (TaskFlow) turns CRM contacts that became customers into ERP customer
   records with the public records API (``read_records`` / ``write_records``), streaming
   file to file: records never travel through XCom, only the small manifest does.
4. ``upsert_customers`` PUTs each customer by its business key with an idempotency key;
   lost acknowledgements, 5xx and 429 are retried without double writes, and a task
   retry skips what the ERP already acknowledged (ledger).
5. ``reconcile`` reads the ERP back and re-pushes anything missing or different.

Connections: ``apisync_crm`` (OAuth2 client credentials) and ``apisync_erp`` (API key).
``docs/examples.md`` shows the same DAG against HubSpot and a real ERP.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import Asset, dag, task
from airflow_provider_apisync.operators import (
    ApiPullOperator,
    ApiPushOperator,
    ApiReconcileOperator,
    Incremental,
)
from airflow_provider_apisync.sensors import RateLimitWindowSensor

CRM = "apisync_crm"
ERP = "apisync_erp"
CRM_CONTACTS = Asset("apisync://crm/contacts")
PAGE_SIZE = 50


@dag(
    dag_id="crm_contacts_to_erp",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # an incremental sync must not overlap itself
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["apisync", "example", "crm", "erp"],
    doc_md=__doc__,
)
def crm_contacts_to_erp() -> None:
    crm_quota = RateLimitWindowSensor(
        task_id="crm_quota",
        apisync_conn_id=CRM,
        endpoint="/contacts",
        min_remaining=10,  # room for the pull's pages
        deferrable=True,
        poke_interval=60,  # only used if the CRM stops announcing its reset
        timeout=timedelta(hours=1),
    )
    pull = ApiPullOperator(
        task_id="pull_contacts",
        apisync_conn_id=CRM,
        endpoint="/contacts",
        query={"limit": PAGE_SIZE},
        paginator="auto",  # the CRM's cursor style is detected from the first page
        incremental=Incremental("updated_at", "updated_since", lookback=timedelta(minutes=10)),
        record_key="id",
        outlets=[CRM_CONTACTS],
    )

    @task
    def to_customers(contacts: dict[str, Any]) -> dict[str, Any]:
        """CRM contacts with lifecycle stage "customer" as ERP customers (a new manifest)."""
        import logging

        from airflow_provider_apisync.records import read_records, write_records
        from airflow_provider_apisync.runtime.summary import log_summary

        customers = (
            customer(contact)
            for contact in read_records(contacts)  # lazily, one record at a time
            if contact.get("lifecycle_stage") == "customer"
        )
        manifest = write_records(customers, name="customers")  # streamed to part files
        summary = {"records": contacts["records"], "customers": manifest["records"]}
        log_summary(
            logging.getLogger(__name__), "to_customers", {**summary, "uri": manifest["uri"]}
        )
        return manifest  # small: uri, files, counts; the push reads the files

    customers = to_customers(pull.output)
    upsert = ApiPushOperator(
        task_id="upsert_customers",
        apisync_conn_id=ERP,
        records=customers,
        endpoint="/customers/{customer_number}",
        method="PUT",  # upsert by business key
        record_key="customer_number",
        concurrency=4,
        max_error_ratio=0.01,
    )
    reconcile = ApiReconcileOperator(
        task_id="reconcile",
        apisync_conn_id=ERP,
        records=customers,
        endpoint="/customers",
        record_key="customer_number",
        on_drift="repush",
        repush={"endpoint": "/customers/{customer_number}", "method": "PUT"},
    )
    crm_quota >> pull
    upsert >> reconcile


def customer(contact: dict[str, Any]) -> dict[str, Any]:
    """One CRM contact as the ERP's customer record."""
    return {
        "customer_number": f"C{int(contact['id']):06d}",
        "name": f"{contact['firstname']} {contact['lastname']}".strip(),
        "email": str(contact["email"]).lower(),
        "country": contact.get("country"),
        "crm_id": contact["id"],
    }


crm_contacts_to_erp()
