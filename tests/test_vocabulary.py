"""One vocabulary: old argument names and Airflow's ``params`` fail at DAG parse time.

The trap this guards: ``DataFreshnessSensor(params={...})`` used to be swallowed by
Airflow (Params) and the probe ran without its query. Every apisync task now refuses it
with an error naming the field and ``query=``; renamed arguments name their new name.
"""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.compat import DAG, BaseOperator
from airflow_provider_apisync.operators import (
    ApiBulkJobOperator,
    ApiPullOperator,
    ApiPushOperator,
    ApiReconcileOperator,
)
from airflow_provider_apisync.sensors import DataFreshnessSensor, RateLimitWindowSensor

MINIMAL = {
    ApiPullOperator: {"endpoint": "/contacts"},
    ApiPushOperator: {"endpoint": "/people", "records": [], "record_key": "id"},
    ApiReconcileOperator: {"endpoint": "/people", "records": [], "record_key": "id"},
    ApiBulkJobOperator: {"create_endpoint": "/jobs", "status_endpoint": "/jobs/{job_id}"},
    DataFreshnessSensor: {"endpoint": "/events", "max_age": 60},
    RateLimitWindowSensor: {},
}
TASKS = list(MINIMAL)


def make(cls, **kwargs):
    return cls(task_id="t", **MINIMAL[cls], **kwargs)


@pytest.mark.parametrize(
    ("cls", "fix"),
    [
        (ApiPullOperator, "pass query parameters as query={...};"),
        (ApiReconcileOperator, "pass query parameters as query={...};"),
        (ApiPushOperator, "Fix: set Airflow Params on the DAG."),
        (DataFreshnessSensor, "pass query parameters as query={...};"),
        (ApiBulkJobOperator, "pass query parameters as results=BulkResults(query=...);"),
        (RateLimitWindowSensor, "Fix: set Airflow Params on the DAG."),
    ],
)
def test_params_is_refused_naming_where_the_query_goes(cls, fix):
    with pytest.raises(ApiConfigError, match=r"^params: .*Airflow's Params") as err:
        make(cls, params={"limit": 1})
    assert fix in str(err.value) and cls.__name__ in str(err.value)


@pytest.mark.parametrize(
    ("cls", "old", "value", "new"),
    [
        (DataFreshnessSensor, "request_params", {"limit": 1}, "query"),
        (ApiPullOperator, "primary_key", "id", "record_key"),
        (ApiReconcileOperator, "read_concurrency", 2, "concurrency"),
        (ApiReconcileOperator, "report_uri", "file:///tmp/r", "output"),
        (ApiPushOperator, "ledger_uri", "file:///tmp/l", "output"),
        (ApiPushOperator, "dead_letter_uri", "file:///tmp/d", "output"),
    ],
)
def test_old_names_are_refused_naming_the_new_one(cls, old, value, new):
    with pytest.raises(ApiConfigError, match=rf"^{old}: {cls.__name__} has no argument") as err:
        make(cls, **{old: value})
    assert f"use {new}= instead" in str(err.value)


def test_repush_ledger_uri_points_to_the_reconcile_output():
    with pytest.raises(ApiConfigError, match=r"^repush: unknown option\(s\) \['ledger_uri'\]"):
        make(ApiReconcileOperator, repush={"endpoint": "/p/{id}", "ledger_uri": "file:///l"})
    with pytest.raises(ApiConfigError, match="go under the reconcile's output="):
        make(ApiReconcileOperator, repush={"endpoint": "/p/{id}", "dead_letter_uri": "/d"})


def test_dag_params_still_reach_the_query_template():
    with DAG("vocab", schedule=None, params={"region": "eu"}):
        op = make(ApiPullOperator, query={"region": "{{ params.region }}"})
    assert op.params["region"] == "eu" and op.query == {"region": "{{ params.region }}"}


def test_mapped_task_unmaps_although_airflow_passes_params():
    with DAG("vocab_mapped", schedule=None, params={"region": "eu"}):
        mapped = ApiPullOperator.partial(task_id="t", endpoint="/c").expand(
            query=[{"page": 1}, {"page": 2}]
        )
    op = mapped.unmap({"query": {"page": 2}})
    assert op.query == {"page": 2} and op.params["region"] == "eu"


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_no_argument_shadows_an_airflow_name(cls):
    from airflow_provider_apisync.compat import BaseSensorOperator

    reserved = set(inspect.signature(BaseOperator.__init__).parameters)
    reserved |= set(inspect.signature(BaseSensorOperator.__init__).parameters)
    own = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    # ``deferrable`` is the providers' convention, not a BaseOperator argument on 3.x.
    assert own & reserved <= {"deferrable"}, own & reserved
