"""ApiPushOperator inside a real Airflow (``airflow dags test``): templated input, a crash
on the first try, and an Airflow task retry that resumes from the ledger."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from conftest import conn_json
from push_helpers import API_KEY, business_keys, people, sent_keys, write_jsonl

from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.dagrun import AirflowEnv

N, K = 120, 45

DAG = textwrap.dedent(
    """
    from datetime import datetime, timedelta

    from airflow_provider_apisync.compat import DAG

    from airflow_provider_apisync.operators import ApiPushOperator

    with DAG("push_resume", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
             params={"src": "SRC"}):
        ApiPushOperator(
            task_id="push",
            apisync_conn_id="crm",
            endpoint="/people",
            records="{{ params.src }}",
            record_key="ext_id",
            concurrency=1,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
    """
)


@pytest.fixture(scope="module")
def api():
    with FakeApi() as server:
        yield server


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, api):
    root = tmp_path_factory.mktemp("push-dag")
    src = write_jsonl(root / "input" / "people.jsonl", people(N))
    dags = root / "dags"
    dags.mkdir()
    (dags / "push_resume.py").write_text(DAG.replace("SRC", str(src)))
    conn = conn_json(api.url, password=API_KEY, extra={"auth_type": "api_key", "max_retries": 0})
    return AirflowEnv(root / "home", dags, env={"AIRFLOW_CONN_CRM": conn}).setup()


def summaries(output: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"apisync-summary (\{.*?\})\s", output)]


def test_task_retry_resumes_from_the_ledger(api, airflow_env):
    api.faults.add("status", status=503, method="POST", after=K, times=1)  # try 1 dies here
    result = airflow_env.dags_test("push_resume")
    assert result.ok, result.output[-3000:]

    sent = sent_keys(api, "POST", "/people")
    assert len(sent) == N + 1  # every record once, plus the one request that got the 503
    assert sent[K] == sent[K + 1]  # the failed record is the first one try 2 sends
    held = business_keys(api, "people")
    assert len(held) == N == len(set(held))
    retry = summaries(result.output)[-1]
    assert (retry["skipped"], retry["pushed"], retry["failed"]) == (K, N - K, 0)
