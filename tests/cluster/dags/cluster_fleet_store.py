"""DAGs for the shared-store tests on the Celery cluster (tests/cluster/test_fleet_store.py).

- ``cluster_budget_shared`` / ``cluster_budget_local``: 8 mapped pulls at once against one
  account limited to 60 requests / 10 s (bare 429 + Retry-After), with the fleet budget in
  Redis / with per-process budgets (the baseline).
- ``cluster_refresh``: 4 mapped pulls through a vendor that rotates refresh tokens.
- ``cluster_window``: one task spends the window (eats the 429), then a deferrable
  ``RateLimitWindowSensor`` on the same account waits for it without probing.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_apisync.operators import ApiPullOperator
from airflow_provider_apisync.sensors import RateLimitWindowSensor

START = datetime(2026, 1, 1)


def budget_dag(dag_id: str, conn_id: str) -> None:
    @dag(dag_id=dag_id, schedule=None, start_date=START, catchup=False, max_active_tasks=8)
    def budget() -> None:
        ApiPullOperator.partial(
            task_id="pull", apisync_conn_id=conn_id, endpoint="/contacts"
        ).expand(query=[{"limit": 1, "segment": str(i)} for i in range(8)])

    budget()


budget_dag("cluster_budget_shared", "fleet_shared")
budget_dag("cluster_budget_local", "fleet_local")


@dag(dag_id="cluster_refresh", schedule=None, start_date=START, catchup=False)
def cluster_refresh() -> None:
    ApiPullOperator.partial(
        task_id="pull", apisync_conn_id="fleet_rt", endpoint="/contacts"
    ).expand(query=[{"limit": 5, "segment": str(i)} for i in range(4)])


cluster_refresh()


@dag(dag_id="cluster_window", schedule=None, start_date=START, catchup=False)
def cluster_window() -> None:
    @task
    def spend_window() -> int:
        """Another integration of the fleet uses the account until the vendor says 429."""
        from airflow_provider_apisync.client import ApiRateLimitError
        from airflow_provider_apisync.hooks import ApiSyncHook

        hook = ApiSyncHook("fleet_window")
        for sent in range(1, 10):
            try:
                hook.request("GET", "/contacts/1")
            except ApiRateLimitError:
                return sent
        raise RuntimeError("the vendor never refused a request")

    wait = RateLimitWindowSensor(
        task_id="wait_for_window",
        apisync_conn_id="fleet_window",
        endpoint="/contacts",
        deferrable=True,
        poke_interval=5,
    )
    spend_window() >> wait


cluster_window()
