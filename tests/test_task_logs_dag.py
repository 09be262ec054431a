"""What a person reads in a real task log (``airflow dags test``): a pull with a per-record
``transform``, a ``@task`` on the public records API, and a push with refused records.

One DAG run (~35 s) checks: the human summary table before each ``apisync-summary`` line,
per-request audit lines hidden at the default level, dead-letter warnings that say why,
``failed`` not doubled by ``rejected``, no Python reprs, and the data itself.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from push_helpers import API_KEY

from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.dagrun import AirflowEnv
from tests.conftest import conn_json

N = 40  # contacts; the pull keeps the odd ids (20), the task breaks the emails of 7, 21, 35

DAG = textwrap.dedent(
    '''
    from datetime import datetime

    from airflow.sdk import dag, task

    from airflow_provider_apisync.operators import ApiPullOperator, ApiPushOperator


    def slim(contact):
        """Odd ids only, as the people the target expects."""
        if contact["id"] % 2 == 0:
            return None
        return {"ext_id": f"P{contact['id']:03d}", "email": contact["email"], "id": contact["id"]}


    @dag(dag_id="task_logs", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def task_logs():
        pull = ApiPullOperator(
            task_id="pull",
            apisync_conn_id="api",
            endpoint="/contacts",
            query={"limit": 10},
            record_key="id",
            transform=slim,
        )

        @task
        def break_some(people: dict) -> dict:
            from airflow_provider_apisync.records import read_records, write_records

            def fix(person):
                if person["id"] % 7 == 0:
                    person = {**person, "email": "not-an-email"}
                return person

            return write_records((fix(p) for p in read_records(people)), name="people")

        ApiPushOperator(
            task_id="push",
            apisync_conn_id="api",
            endpoint="/people",
            records=break_some(pull.output),
            record_key="ext_id",
            concurrency=2,
            max_error_ratio=0.5,
        )


    task_logs()
    '''
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("task-logs")
    with FakeApi(seed={"contacts": N}) as api:
        api.validation.add("people", patterns={"email": r"[^@\s]+@[^@\s]+"})
        dags = root / "dags"
        dags.mkdir()
        (dags / "task_logs.py").write_text(DAG)
        conn = conn_json(api.url, password=API_KEY, extra={"auth_type": "api_key"})
        env = AirflowEnv(root / "home", dags, env={"AIRFLOW_CONN_API": conn}).setup()
        result = env.dags_test("task_logs")
        yield api, result


def ours(output: str) -> list[str]:
    """Lines our code logged (the provider's loggers and its operators' task loggers)."""
    return [line for line in output.splitlines() if "airflow_provider_apisync" in line]


def machine(output: str, task_id: str) -> dict:
    found = re.findall(r"apisync-summary (\{.*?\})\s", output)
    return [json.loads(x) for x in found if json.loads(x)["task_id"] == task_id][-1]


def test_the_dag_ran_and_the_data_arrived_transformed(run):
    api, result = run
    assert result.ok, result.output[-3000:]
    people = api.collection("people").all()
    assert sorted(p["ext_id"] for p in people) == [
        f"P{i:03d}" for i in range(1, N + 1, 2) if i % 7 != 0
    ]
    assert set(people[0]) >= {"ext_id", "email", "id"} and "name" not in people[0]
    pull = machine(result.output, "pull")
    assert (pull["records"], pull["filtered"]) == (N // 2, N // 2)


def test_summary_has_a_human_table_before_the_machine_line(run):
    _, result = run
    lines = result.output.splitlines()
    head = next(i for i, line in enumerate(lines) if "apisync summary — push" in line)
    tail = next(i for i in range(head, len(lines)) if "apisync-summary {" in lines[i])
    table = "\n".join(lines[head:tail])
    assert 2 < tail - head < 12, table  # short
    assert re.search(r"records\s+20\b", table) and re.search(r"written\s+17 pushed", table)
    # failed is the total, "rejected by the API" its part: 3 records, not 6
    assert re.search(r"failed\s+3 \(3 rejected by the API\)", table), table
    assert "dead letters" in table
    push = machine(result.output, "push")
    assert (push["pushed"], push["failed"], push["rejected"]) == (17, 3, 3)
    assert "apisync summary — pull" in result.output


def test_dead_letter_warnings_say_why(run):
    _, result = run
    warnings = [line for line in ours(result.output) if "dead letter:" in line]
    assert len(warnings) == 3, warnings
    for number in ("P007", "P021", "P035"):
        line = next(w for w in warnings if f"record {number} " in w)
        assert "refused by POST /people: 422 email: does not match" in line, line


def test_no_per_request_lines_and_no_python_reprs_at_the_default_level(run):
    _, result = run
    lines = ours(result.output)
    assert not [x for x in lines if re.search(r"apisync (GET|POST) /v1/", x)]  # audit: DEBUG
    assert not [x for x in lines if "{'" in x or "['" in x], "a Python repr in a message"
    assert any("pins API version (base path /v1)" in x for x in lines)
