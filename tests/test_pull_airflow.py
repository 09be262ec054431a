"""ApiPullOperator inside real Airflow (``airflow dags test``): retries, state stores, events.

One DAG, run twice. Run 1: the ``resume`` task loses the API after 4 pages on its first
try; Airflow retries it (try 2) and it resumes from ``task_state_store`` -- the request
log proves which pages each try fetched. The two incremental tasks keep their
high-water marks in a Variable (no outlet asset) and in the asset state store (outlet
asset); between the runs the source gets new and changed records.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
from conftest import conn_json
from pull_support import API_KEY, offsets_fetched, read_output

from airflow_provider_apisync.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.dagrun import AirflowEnv

N = 95
DAG_ID = "apisync_pull_it"

DAG_FILE = textwrap.dedent(
    """
    import json
    from datetime import datetime, timedelta
    from pathlib import Path

    from airflow_provider_apisync.compat import DAG, Asset, task

    from airflow_provider_apisync.client.pagination import OffsetPaginator
    from airflow_provider_apisync.operators import ApiPullOperator, Incremental

    OUT = Path(__file__).parent.parent / "xcom"

    with DAG("apisync_pull_it", schedule=None, start_date=datetime(2026, 1, 1)):
        resume = ApiPullOperator(
            task_id="resume",
            apisync_conn_id="fake",
            endpoint="/contacts",
            paginator=OffsetPaginator(limit=10, total_path="total"),
            retries=1,
            retry_delay=timedelta(seconds=0),
        )
        inc_var = ApiPullOperator(
            task_id="inc_var",
            apisync_conn_id="fake",
            endpoint="/paged/offset/contacts",
            query={"limit": 50},
            incremental=Incremental("updated_at", "updated_since"),
        )
        inc_asset = ApiPullOperator(
            task_id="inc_asset",
            apisync_conn_id="fake",
            endpoint="/paged/offset/contacts",
            query={"limit": 50},
            incremental=Incremental("updated_at", "updated_since"),
            outlets=[Asset("apisync_it_contacts")],
        )

        @task
        def keep(resume, inc_var, inc_asset, ds=None):
            OUT.mkdir(exist_ok=True)
            manifests = {"resume": resume, "inc_var": inc_var, "inc_asset": inc_asset}
            (OUT / f"{ds}.json").write_text(json.dumps(manifests))

        keep(resume=resume.output, inc_var=inc_var.output, inc_asset=inc_asset.output)
    """
)


@pytest.fixture(scope="module")
def api():
    with FakeApi(seed={"contacts": N}) as server:
        yield server


@pytest.fixture(scope="module")
def env(api, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    (home / "dags" / "pull_dag.py").write_text(DAG_FILE)
    extra = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}
    conns = {"AIRFLOW_CONN_FAKE": conn_json(api.url, password=API_KEY, extra=extra)}
    return AirflowEnv(home, home / "dags", env=conns).setup()


def run(env, date):
    result = env.dags_test(DAG_ID, date)
    assert result.ok, result.output[-6000:]
    run_file = env.home / "xcom" / f"{date}.json"
    return result, json.loads(run_file.read_text())


def test_retry_resume_state_stores_and_asset_events(api, env):
    api.faults.add("status", when=lambda r: r.path == "/v1/contacts", after=4, times=2)
    result, first = run(env, "2026-01-02")

    # resume: try 1 fetched pages 1-4 and failed on page 5 twice (client retry), try 2 -> 5..10
    resume_log = [r for r in api.log("GET") if r.path == "/v1/contacts"]
    assert [r.status for r in resume_log].count(503) == 2
    assert offsets_fetched(api) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    # Airflow 3.3's task_state_store; older lines the degraded _checkpoint.json (docs table)
    store = "task_state_store" if AIRFLOW_V_3_3_PLUS else "file"
    assert f"resuming from checkpoint ({store}, exact): 4 pages" in result.output
    assert first["resume"]["resumed_from_page"] == 4
    assert [r["id"] for r in read_output(first["resume"])] == list(range(1, N + 1))

    for name in ("inc_var", "inc_asset"):
        assert first[name]["records"] == N
        assert first[name]["high_water_mark"] == "2026-01-01T01:35:00.000000Z"

    # the source changes; run 2 pulls only what changed (>= the mark: record 95 again)
    coll = api.collections["contacts"]
    new = [coll.create({"name": f"n{i}"})["id"] for i in range(2)]
    coll.patch(5, {"status": "changed"})
    _, second = run(env, "2026-01-03")
    newest = max(coll.get(key)["updated_at"] for key in [5, *new])
    for name in ("inc_var", "inc_asset"):
        assert sorted(r["id"] for r in read_output(second[name])) == sorted([5, N, *new])
        assert second[name]["high_water_mark"] == newest

    db = sqlite3.connect(Path(env.home) / "airflow.db")
    try:

        def variable(key: str) -> object:
            val, encrypted = db.execute(
                "select val, is_encrypted from variable where key = ?", (key,)
            ).fetchone()
            if encrypted:  # a Fernet key is configured: ask Airflow to decrypt
                out = env.airflow("variables", "get", key).stdout.splitlines()
                first = max(i for i, line in enumerate(out) if line.startswith("{"))
                val = "\n".join(out[first:])  # the JSON (pretty on 3.0), after any log lines
            return json.loads(val)

        assert variable(f"apisync.hwm.{DAG_ID}.inc_var") == {"value": newest}
        asset_key = f"apisync.hwm.{DAG_ID}.inc_asset"
        if AIRFLOW_V_3_3_PLUS:
            asset_state = db.execute("select key, value from asset_state_store").fetchall()
            assert [k for k, _ in asset_state] == [asset_key]
            assert json.loads(asset_state[0][1])["value"] == second["inc_asset"]["high_water_mark"]
        else:  # degraded: the mark lives in a Variable of the same name
            assert variable(asset_key) == {"value": second["inc_asset"]["high_water_mark"]}
        events = "asset_event" if AIRFLOW_V_3_0_PLUS else "dataset_event"  # 2.11: datasets
        extras = [json.loads(e) for (e,) in db.execute(f"select extra from {events} order by id")]
        assert [e["records"] for e in extras] == [N, 4]
        assert extras[1]["uri"] == second["inc_asset"]["uri"]
        if AIRFLOW_V_3_3_PLUS:
            checkpoints = db.execute("select count(*) from task_state_store").fetchone()[0]
            assert checkpoints == 0  # cleared after each success
    finally:
        db.close()
