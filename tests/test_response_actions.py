"""Response actions: rule parsing, and pushes that skip or dead-letter by rule (FakeApi).

(Dependent pulls with actions: tests/test_pull_fanout.py.)
"""

from __future__ import annotations

import copy
import pickle
from datetime import timedelta
from pathlib import Path

import pytest
from push_helpers import API_KEY, FAST, people, read_jsonl_folder, task_context

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.response_actions import ResponseActions
from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPushOperator
from airflow_provider_apisync.testing import FakeApi


def test_rules_parse_statuses_classes_and_bodies_first_match_wins():
    actions = ResponseActions.parse(
        [
            {"status": 200, "body_contains": "RATE_LIMIT", "action": "rate_limited"},
            {"status": "404", "action": "skip"},
            {"status": "4xx", "action": "dead_letter"},
            {"body_contains": "maintenance", "action": "retry"},
        ]
    )
    assert actions.match(200, '{"errors":[{"code":"RATE_LIMIT"}]}').action == "rate_limited"
    assert actions.match(200, '{"data": []}') is None
    assert actions.match(404, None).action == "skip"
    assert actions.match(403, None).action == "dead_letter"
    assert actions.match(503, "down for maintenance").action == "retry"
    assert actions.match(503, None) is None
    assert ResponseActions.parse({409: "skip"}).match(409, "").action == "skip"


def test_rules_survive_deepcopy_and_pickle_with_their_own_lock():
    """Regression: Airflow 3.0's ``dags test`` deep-copies every operator; the lock broke it."""
    actions = ResponseActions.parse({404: "skip"})
    actions.count("skip")
    for copied in (copy.deepcopy(actions), pickle.loads(pickle.dumps(actions))):
        assert copied.match(404, None).action == "skip"
        copied.count("skip")
        assert copied.summary() == {"skip": 2}
    assert actions.summary() == {"skip": 1}  # the copies count on their own
    operator = ApiPushOperator(
        task_id="p", endpoint="/x", records=[], record_key="id", response_actions={404: "skip"}
    )
    assert copy.deepcopy(operator).response_actions.match(404, None).action == "skip"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({404: "ignore"}, "not one of skip, retry"),
        ({"4x": "skip"}, "not an HTTP status"),
        ([{"status": 404}], "action None"),
        ([{"status": 404, "action": "skip", "when": 1}], "unknown keys"),
        ([{"action": "skip"}], "needs a status or body_contains"),
        ("skip", "not a rule list"),
    ],
)
def test_bad_rules_name_the_field_and_the_fix(rules, message):
    with pytest.raises(ApiConfigError, match="response_actions") as err:
        ResponseActions.parse(rules)
    assert message in str(err.value)


@pytest.fixture
def api(set_conn):
    with FakeApi() as server:
        set_conn("crm", server.url, password=API_KEY, extra=FAST)
        yield server


def push(tmp_path, records, **kwargs):
    return ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/people",
        records=records,
        record_key="ext_id",
        concurrency=1,
        output=str(tmp_path),
        **kwargs,
    )


def test_push_skips_422_already_exists_by_rule_and_dead_letters_without(api, tmp_path):
    api.faults.add("status", path="/people", status=422, times=2)
    op = push(tmp_path, people(5), response_actions={422: "skip"})
    summary = op.execute(task_context())
    assert (summary["pushed"], summary["skipped"], summary["failed"]) == (3, 2, 0)
    assert summary["response_actions"] == {"skip": 2}
    assert len(api.log("POST", "/people")) == 5  # skipped writes are settled, not resent

    api.faults.add("status", path="/people", status=422, times=1)
    with pytest.raises(AirflowFailException, match="1 of 2 records failed"):
        push(tmp_path / "b", people(2, start=10)).execute(task_context())


def test_push_dead_letters_an_error_inside_a_200_body(api, tmp_path):
    api.faults.add("status", path="/people", status=200, times=1)
    rule = {"status": 200, "body_contains": "injected fault", "action": "dead_letter"}
    op = push(tmp_path, people(3), response_actions=[rule], max_error_ratio=0.5)
    summary = op.execute(task_context())
    assert (summary["pushed"], summary["rejected"]) == (2, 1)
    (letter,) = read_jsonl_folder(Path(summary["dead_letter"].removeprefix("file://")))
    assert letter["status"] == 200 and "injected fault" in str(letter["error"])
    assert summary["response_actions"] == {"dead_letter": 1}


def test_sensor_treats_a_matched_200_body_as_not_yet_and_fails_without_the_rule(set_conn):
    from airflow.sdk.exceptions import AirflowFailException as SdkFail
    from sensor_testkit import BEARER, make_context

    from airflow_provider_apisync.sensors import DataFreshnessSensor

    def sensor(**kwargs):
        return DataFreshnessSensor(
            task_id="wait",
            apisync_conn_id="fresh",
            endpoint="/reports",
            records_path="data",
            timestamp_field="updated_at",
            max_age=timedelta(days=3650),
            deferrable=False,
            **kwargs,
        )

    processing = [{"status": 200, "body_contains": "injected fault", "action": "retry"}]
    with FakeApi(seed={"reports": 2}) as api:
        set_conn("fresh", api.url, password=BEARER)
        api.faults.add("status", path="/reports", status=200, times=1)
        waiting = sensor(response_actions=processing)
        assert waiting.poke(make_context()).is_done is False  # "still processing": not yet
        assert waiting.poke(make_context()).is_done is True
        assert len(api.log("GET", "/reports")) == 2  # no waiting inside the poke
        api.faults.add("status", path="/reports", status=200, times=1)
        with pytest.raises(SdkFail):
            sensor().poke(make_context())
    with pytest.raises(ApiConfigError, match="dead_letter has no meaning"):
        sensor(response_actions={404: "dead_letter"})
