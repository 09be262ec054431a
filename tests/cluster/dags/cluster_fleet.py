"""Eight mapped pulls at once over a Celery fleet: one per ``segment`` of ``fleet_api``.

The segment is an extra query parameter the API ignores; it tells the test which mapped
task sent a request. Output goes to the default base, ``[apisync] output_base``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_apisync.operators import ApiPullOperator

SEGMENTS = 8


@dag(dag_id="cluster_fleet", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def cluster_fleet() -> None:
    ApiPullOperator.partial(
        task_id="pull", apisync_conn_id="fleet_api", endpoint="/contacts", max_active_tis_per_dag=8
    ).expand(query=[{"limit": 5, "segment": str(i)} for i in range(SEGMENTS)])


cluster_fleet()
