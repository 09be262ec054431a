"""Waiting without a worker slot: ``default_deferrable`` and the ``DateTimeTrigger`` deferral.

A deferred apisync task waits on Airflow's own ``DateTimeTrigger``: no HTTP and nothing
secret in the triggerer, one event loop for every waiting task. It resumes in
``execute_complete`` without ``defer()`` kwargs (``airflow dags test`` drops them), so what
it needs after the wait comes from :mod:`airflow_provider_apisync.runtime.state`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["DEFERRAL_GRACE_S", "defer_until", "iso", "resolve_deferrable"]

DEFERRAL_GRACE_S = 60.0
"""The trigger fires at the task's deadline; Airflow's deferral timeout only this much later."""


def resolve_deferrable(value: bool | None) -> bool:
    """A task's ``deferrable`` argument; ``None`` reads ``[operators] default_deferrable``."""
    if value is not None:
        return bool(value)
    from airflow_provider_apisync.compat import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def defer_until(task: Any, moment: float, time_left: float) -> None:
    """Defer ``task`` until ``moment`` (epoch seconds), then resume in ``execute_complete``.

    ``time_left`` is what remains of the task's own timeout; Airflow's deferral timeout is
    that plus :data:`DEFERRAL_GRACE_S`, so the task's own deadline check always wins.
    """
    from airflow_provider_apisync.compat import DateTimeTrigger

    task.defer(
        trigger=DateTimeTrigger(moment=datetime.fromtimestamp(moment, tz=timezone.utc)),
        method_name="execute_complete",
        timeout=timedelta(seconds=time_left + DEFERRAL_GRACE_S),
    )


def iso(epoch: float) -> str:
    """``epoch`` as an ISO 8601 UTC timestamp to the second (for deferral log lines)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")
