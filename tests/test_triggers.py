"""The triggers the sensors defer on: serialisable, secret-free, async, and they fire.

apisync needs no custom trigger: the check runs in the worker, the triggerer only waits
(``DateTimeTrigger``), so no HTTP request can loop inside the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from airflow.serialization.serde import deserialize, serialize
from sensor_testkit import BEARER, fire, make_context, moment_epoch, rebuild

from airflow_provider_apisync.compat import DateTimeTrigger, TaskDeferred
from airflow_provider_apisync.sensors import DataFreshnessSensor, RateLimitWindowSensor
from airflow_provider_apisync.testing import FakeApi, RateLimit

CONN = "fake_trig"
SECRET = "s3cret-token-for-trigger-test"


@pytest.fixture
def closed_api(set_conn):
    """A FakeApi whose rate-limit window is spent for the next ~3 s."""
    with FakeApi(seed={"contacts": 2}, rate_limit=RateLimit(limit=1, window=3.0)) as api:
        api.auth.bearer_tokens.add(SECRET)
        set_conn(CONN, api.url, password=SECRET)
        requests.get(api.url + "/contacts", headers={"Authorization": f"Bearer {BEARER}"})
        yield api


def deferral(sensor) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())
    return deferred.value


def rate_sensor(**kwargs) -> RateLimitWindowSensor:
    return RateLimitWindowSensor(
        task_id="quota", apisync_conn_id=CONN, endpoint="/contacts", deferrable=True, **kwargs
    )


def test_trigger_is_serialisable_and_carries_no_secret(closed_api):
    deferred = deferral(rate_sensor())
    classpath, kwargs = deferred.trigger.serialize()
    # the standard provider's trigger on Airflow 3, core's on 2.11 (see compat.DateTimeTrigger)
    assert classpath == f"{DateTimeTrigger.__module__}.DateTimeTrigger"
    assert classpath.endswith("triggers.temporal.DateTimeTrigger")
    assert set(kwargs) == {"moment", "end_from_trigger"}
    assert SECRET not in repr(kwargs) and SECRET not in repr(deferred.kwargs)
    # the round trip `airflow dags test` and the triggerer do (serde-encoded kwargs)
    restored = deserialize(serialize(kwargs))
    rebuilt = DateTimeTrigger(**restored)
    assert rebuilt.moment == deferred.trigger.moment
    assert deferred.method_name == "execute_complete"
    assert not deferred.kwargs  # nothing the resume depends on


def test_trigger_runs_and_fires_at_the_announced_reset(closed_api):
    deferred = deferral(rate_sensor())
    moment = moment_epoch(deferred.trigger)
    requests_before = len(closed_api.log())
    event = fire(rebuild(deferred.trigger), timeout=10)
    fired = time.time()
    assert moment <= fired <= moment + 1.5  # DateTimeTrigger checks once a second
    assert event.payload.timestamp() == pytest.approx(moment, abs=1e-3)
    assert len(closed_api.log()) == requests_before  # waiting costs no request


def test_waiting_triggers_share_one_event_loop(closed_api):
    """Many deferred sensors wait concurrently in the triggerer without blocking it."""
    triggers = [rebuild(deferral(rate_sensor()).trigger) for _ in range(3)]
    stale = DataFreshnessSensor(
        task_id="fresh",
        apisync_conn_id=CONN,
        endpoint="/contacts",
        records_path="data",
        timestamp_field="updated_at",
        max_age=60,  # the seeded contacts are months old
        deferrable=True,
        poke_interval=2,
    )
    triggers.append(rebuild(deferral(stale).trigger))
    latest = max(moment_epoch(t) for t in triggers)

    async def all_fire():
        return await asyncio.wait_for(
            asyncio.gather(*(anext(t.run()) for t in triggers)), timeout=15
        )

    events = asyncio.run(all_fire())
    assert len(events) == 4
    assert time.time() <= latest + 1.5  # concurrent: the slowest one bounds the total
