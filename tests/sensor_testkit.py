"""Helpers for the sensor tests: task contexts, and driving deferrals like the triggerer.

A deferral is completed the way Airflow does it: the trigger is rebuilt from its
``serialize()`` output (the triggerer never sees the original object), its async ``run()``
is driven with asyncio, and the task resumes through ``resume_execution`` with only the
event — the kwargs ``airflow dags test`` keeps.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from airflow_provider_apisync.compat import TaskDeferred

BEARER = "test-bearer-token-0001"


class MemoryStateStore:
    """Stands in for ``context["task_state_store"]`` (same get/set surface)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = value


def make_context(
    *,
    try_number: int = 1,
    start_date: datetime | None = None,
    store: MemoryStateStore | None | bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A task context with what the sensors read (``ti``, ``task_state_store``, dates)."""
    now = datetime.now(timezone.utc)
    ti = SimpleNamespace(
        dag_id="sensor_tests",
        task_id="sensor",
        run_id="manual__test",
        try_number=try_number,
        map_index=-1,
        start_date=start_date or now,
    )
    context: dict[str, Any] = {
        "ti": ti,
        "run_id": ti.run_id,
        "logical_date": now,
        "data_interval_start": now,
        "data_interval_end": now,
    }
    if store is True:
        context["task_state_store"] = MemoryStateStore()
    elif store:
        context["task_state_store"] = store
    context.update(extra)
    return context


def rebuild(trigger: Any) -> Any:
    """The trigger as the triggerer builds it: from ``serialize()``'s classpath and kwargs."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def fire(trigger: Any, timeout: float = 30.0) -> Any:
    """Run the trigger's async generator until its first event (or fail after ``timeout``)."""

    async def first_event() -> Any:
        return await asyncio.wait_for(anext(trigger.run()), timeout)

    return asyncio.run(first_event())


@dataclass
class Deferral:
    trigger: Any
    timeout: Any
    deferred_at: float
    fired_at: float = 0.0


@dataclass
class Outcome:
    result: Any
    deferrals: list[Deferral] = field(default_factory=list)


def run_sensor(sensor: Any, context: dict[str, Any], max_deferrals: int = 5) -> Outcome:
    """``execute`` then resume after each deferral until the sensor returns."""
    outcome = Outcome(result=None)
    call = lambda: sensor.execute(context)  # noqa: E731
    for _ in range(max_deferrals + 1):
        try:
            outcome.result = call()
            return outcome
        except TaskDeferred as deferred:
            record = Deferral(deferred.trigger, deferred.timeout, time.time())
            event = fire(rebuild(deferred.trigger))
            record.fired_at = time.time()
            outcome.deferrals.append(record)
            method = deferred.method_name
            call = lambda m=method, e=event: sensor.resume_execution(  # noqa: E731
                m, {"event": e.payload}, context
            )
    raise AssertionError(f"sensor still deferring after {max_deferrals} deferrals")


def moment_epoch(trigger: Any) -> float:
    return float(trigger.moment.timestamp())
