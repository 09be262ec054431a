"""``[apisync] output_base``: one default base for pulls, pushes, reconcile and webhooks.

Direct ``execute()`` calls with the option set through its environment variable, as a
deployment sets it. The distributed-executor guard fails at once, naming the option; an
explicit ``output=file://...`` stays the DAG author's choice. (tests/cluster/ proves the
same on CeleryExecutor with two workers and S3.)
"""

from __future__ import annotations

import pytest
from airflow.sdk import ObjectStoragePath
from conftest import conn_json
from pull_support import API_KEY, make_context
from push_helpers import people, task_context

from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import (
    ApiPullOperator,
    ApiPushOperator,
    ApiReconcileOperator,
)
from airflow_provider_apisync.runtime.folders import default_base, executors
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.webhooks.events import payload_folder
from airflow_provider_apisync.webhooks.source import WebhookSource


@pytest.fixture(scope="module")
def api():
    with FakeApi(seed={"contacts": 12}) as server:
        yield server


@pytest.fixture(autouse=True)
def conn(api, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    monkeypatch.delenv("AIRFLOW__APISYNC__OUTPUT_BASE", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_FAKE", conn_json(api.url, password=API_KEY, extra={"auth_type": "api_key"})
    )


def pull() -> ApiPullOperator:
    return ApiPullOperator(task_id="pull", apisync_conn_id="fake", endpoint="/contacts")


def test_every_default_output_follows_the_option(api, monkeypatch, tmp_path):
    base = tmp_path / "shared"
    monkeypatch.setenv("AIRFLOW__APISYNC__OUTPUT_BASE", f"file://{base}")
    manifest = pull().execute(make_context(dag_id="d1", run_id="scheduled__x"))
    assert manifest["uri"] == f"file://{base}/d1/pull/scheduled__x"
    assert manifest["records"] == 12

    records = people(3)
    push = ApiPushOperator(
        task_id="push",
        apisync_conn_id="fake",
        endpoint="/people",
        records=records,
        record_key="ext_id",
    )
    ctx = task_context(dag_id="d1", task_id="push", run_id="r1")
    summary = push.execute(ctx)
    assert summary["pushed"] == 3
    assert summary["ledger"] == f"file://{base}/d1/push/r1/ledger"
    ledger = base / "d1" / "push" / "r1" / "ledger"
    assert any(ledger.glob("*.jsonl")), sorted(base.rglob("*"))

    reconcile = ApiReconcileOperator(
        task_id="check",
        apisync_conn_id="fake",
        records=records,
        endpoint="/people",
        record_key="ext_id",
    )
    reconcile.execute(task_context(dag_id="d1", task_id="check", run_id="r1"))
    assert (base / "d1" / "check" / "r1" / "reconcile").exists()

    source = WebhookSource(name="gh", scheme="hmac", secret="s", signature_header="X-Sig")
    assert str(payload_folder(source)) == f"file://{base}/webhooks/gh"
    assert not (tmp_path / "home" / "apisync").exists()  # nothing under AIRFLOW_HOME


def test_unset_option_keeps_the_airflow_home_default(tmp_path):
    assert str(default_base()) == f"file://{tmp_path}/home/apisync"


def test_distributed_executor_refuses_a_local_base_naming_the_option(api, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(AirflowFailException) as err:
        pull().execute(make_context())
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("[apisync] output_base: is the local path")
    assert "CeleryExecutor" in message and "AIRFLOW__APISYNC__OUTPUT_BASE" in message
    assert api.log() == [] or all(r.path != "/contacts" for r in api.log())

    push = ApiPushOperator(
        task_id="push", apisync_conn_id="fake", endpoint="/people", records=[], record_key="ext_id"
    )
    with pytest.raises(AirflowFailException, match=r"^\[apisync\] output_base: "):
        push.execute(task_context())


@pytest.mark.parametrize(
    "executor",
    [
        "KubernetesExecutor",
        "LocalExecutor,KubernetesExecutor",
        "CeleryKubernetesExecutor",
        "airflow.providers.edge3.executors.EdgeExecutor",
        "edge:airflow.providers.edge3.executors.EdgeExecutor",
    ],
)
def test_every_multi_machine_executor_is_guarded(monkeypatch, tmp_path, executor):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.setenv("AIRFLOW__APISYNC__OUTPUT_BASE", str(tmp_path / "relative-or-absolute"))
    with pytest.raises(ValueError, match=r"^\[apisync\] output_base: is the local path"):
        default_base()


def test_explicit_file_output_is_the_authors_choice_on_celery(api, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    op = ApiPullOperator(
        task_id="pull", apisync_conn_id="fake", endpoint="/contacts", output=f"file://{tmp_path}/m"
    )
    assert op.execute(make_context())["records"] == 12
    assert executors() == ["CeleryExecutor"]


def test_remote_base_passes_the_guard(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW__APISYNC__OUTPUT_BASE", "memory://bucket/apisync")
    base = default_base()
    assert base.protocol == "memory" and isinstance(base, ObjectStoragePath)
