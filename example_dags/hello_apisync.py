"""Hello apisync: read one page of CRM contacts through ``ApiSyncHook``.

Connection ``apisync_crm`` (OAuth2 client credentials) is provided by ``make demo`` as an
``AIRFLOW_CONN_APISYNC_CRM`` variable pointing at a local FakeApi; point it at a real
system in your deployment. The task logs one ``apisync-summary`` line and returns a
small summary (never the records) as its XCom.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import dag, task

log = logging.getLogger(__name__)


@dag(
    dag_id="hello_apisync",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["apisync", "example"],
    doc_md=__doc__,
)
def hello_apisync() -> None:
    @task
    def pull_contacts() -> dict[str, Any]:
        from airflow_provider_apisync.hooks import ApiSyncHook
        from airflow_provider_apisync.runtime.summary import log_summary

        hook = ApiSyncHook("apisync_crm")
        body = hook.request("GET", "/contacts", params={"limit": 25}).json()
        records = body.get("data", [])
        summary = {"records": len(records), "total": body.get("total"), **hook.summary()}
        # XCom values without nulls: Airflow 3.0's execution API rejects a None in them.
        summary = {key: value for key, value in summary.items() if value is not None}
        log_summary(log, "pull_contacts", summary)
        hook.close()
        return summary

    pull_contacts()


hello_apisync()
