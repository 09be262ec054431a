"""Wait for room in an API's rate-limit window, then pull — without holding a worker slot.

``wait_for_quota`` probes the API once. When the window is spent (429, or fewer than
``min_remaining`` requests left) the sensor defers until the reset the API announced
(``Retry-After``, IETF ``RateLimit``, ``X-RateLimit-Reset``), so the wait happens in the
triggerer; then it probes again and ``pull_contacts`` runs with the quota it needs.

Connection (one per system), e.g. as an environment variable::

    AIRFLOW_CONN_APISYNC_DEFAULT='{"conn_type": "apisync",
        "host": "https://api.crm.example/v1", "password": "<token>",
        "extra": {"auth_type": "bearer"}}'

``apisync_default`` is the id used here; name others ``apisync_<system>``
(``apisync_github``, ``apisync_salesforce``) and set ``apisync_conn_id`` accordingly.
For GitHub, probe the free status endpoint instead of a counted one::

    RateLimitWindowSensor(task_id="wait", apisync_conn_id="apisync_github",
        endpoint="/rate_limit", remaining_path="resources.core.remaining",
        reset_path="resources.core.reset", min_remaining=100)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import dag, task
from airflow_provider_apisync.sensors import RateLimitWindowSensor

CONN_ID = "apisync_default"
ENDPOINT = "/contacts"


@dag(
    dag_id="apisync_rate_limit_window",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["apisync", "example"],
)
def rate_limit_window_example() -> None:
    wait_for_quota = RateLimitWindowSensor(
        task_id="wait_for_quota",
        apisync_conn_id=CONN_ID,
        endpoint=ENDPOINT,
        min_remaining=2,
        deferrable=True,  # wait in the triggerer, not on a worker
        poke_interval=30,  # only used when the API announces no reset
        timeout=timedelta(hours=2),
    )

    @task
    def pull_contacts(window: dict[str, Any]) -> dict[str, Any]:
        """Stand-in for the real pull: one page, knowing the quota the sensor saw."""
        from airflow_provider_apisync.hooks import ApiSyncHook

        hook = ApiSyncHook(CONN_ID)
        page = hook.request("GET", ENDPOINT, params={"limit": 10}).json()
        return {"records": len(page.get("data", [])), "quota_before": window["remaining"]}

    pull_contacts(wait_for_quota.output)


rate_limit_window_example()
