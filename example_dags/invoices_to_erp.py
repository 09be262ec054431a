"""Invoices from the CRM's commerce module into the ERP, in batches, exactly once.

1. ``pull_invoices`` reads the invoices changed since the last run (high-water mark).
2. ``push_invoices`` sends them to the ERP's batch endpoint, 10 per request. Each batch
   carries an idempotency key derived from its content, so a batch whose acknowledgement
   was lost is answered from the ERP's key store instead of being booked twice. Drafts
   are filtered out by the per-record ``transform``.
3. Invoices the ERP refuses (per-item 422 in a 207 answer) go to a dead-letter JSONL with
   the ERP's reason; up to 10 % may be refused before the task fails.
4. ``report_rejections`` tells finance which invoices need fixing, from the dead letters.

Connections: ``apisync_crm`` (OAuth2) and ``apisync_erp`` (API key).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import dag, task
from airflow_provider_apisync.operators import ApiPullOperator, ApiPushOperator, Incremental

CRM = "apisync_crm"
ERP = "apisync_erp"


def erp_invoice(invoice: dict[str, Any]) -> dict[str, Any] | None:
    """A CRM invoice as the ERP books it; drafts are not sent (None)."""
    if invoice.get("status") == "draft":
        return None
    contact = invoice.get("contact_id")
    return {
        "invoice_number": invoice["number"],
        "customer_number": f"C{int(contact):06d}" if contact is not None else None,
        "currency": invoice.get("currency"),
        "total": invoice.get("amount"),
        "issued_on": invoice.get("issued_on"),
        "due_on": invoice.get("due_on"),
        "paid": invoice.get("status") == "paid",
        "lines": [
            {"sku": line["sku"], "quantity": line["qty"], "unit_price": line["unit_price"]}
            for line in invoice.get("lines", [])
        ],
    }


def reason(error: Any) -> Any:
    """The ERP's field errors from a dead letter's ``error`` (JSON text or an object)."""
    if isinstance(error, str) and error.startswith("{"):
        try:
            error = json.loads(error)
        except ValueError:
            return error
    return error.get("errors", error) if isinstance(error, dict) else error


@dag(
    dag_id="invoices_to_erp",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["apisync", "example", "erp", "finance"],
    doc_md=__doc__,
)
def invoices_to_erp() -> None:
    pull = ApiPullOperator(
        task_id="pull_invoices",
        apisync_conn_id=CRM,
        endpoint="/invoices",
        query={"limit": 25},
        paginator="auto",  # offset + total: detected
        incremental=Incremental("updated_at", "updated_since"),
        record_key="id",
    )
    push = ApiPushOperator(
        task_id="push_invoices",
        apisync_conn_id=ERP,
        records=pull.output,
        transform=erp_invoice,
        endpoint="/invoices/batch",
        method="POST",
        record_key="invoice_number",
        batch_size=10,
        batch_body_key="records",
        batch_results_path="results",
        idempotency_header="Idempotency-Key",
        concurrency=2,
        max_error_ratio=0.1,
    )

    @task
    def report_rejections(summary: dict[str, Any]) -> list[dict[str, Any]]:
        """One line per refused invoice (number, HTTP status, the ERP's reason)."""
        import logging

        from airflow_provider_apisync.records import read_records
        from airflow_provider_apisync.runtime.summary import log_summary

        log = logging.getLogger(__name__)
        rejected: list[dict[str, Any]] = []
        if summary.get("dead_letter"):  # a folder with _manifest.json, like a pull's output
            for letter in read_records(summary["dead_letter"]):
                rejected.append(
                    {
                        "invoice_number": letter["record_key"][0],
                        "status": letter.get("status"),
                        "reason": reason(letter.get("error")),
                    }
                )
        for item in rejected:
            log.warning("invoice refused by the ERP: %s", json.dumps(item))
        log_summary(log, "report_rejections", {"dead_letters": len(rejected)})
        return rejected

    report_rejections(push.output)


invoices_to_erp()
