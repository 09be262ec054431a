"""What the apisync sensors share: one check per poke, and waiting done by Airflow.

A check is one probe request in the worker. When it says "not yet", the sensor waits in
one of three ways, all with Airflow's own ``timeout`` / ``soft_fail`` / ``mode`` semantics:

- ``deferrable=True``: defer on a ``DateTimeTrigger`` (no worker slot, no HTTP in the
  triggerer, nothing secret in trigger kwargs) until the server's announced reset, or
  ``poke_interval`` without a hint; then resume and check again.
- ``mode="poke"`` / ``"reschedule"``: Airflow's loop, with the wait stretched to the
  announced reset instead of probing a closed window every ``poke_interval``.

The resume method takes no kwargs from ``defer()`` (``airflow dags test`` drops them): the
sensor's start time comes from the task state store or ``ti.start_date``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.client import ApiClient
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.response_actions import (
    ActionClient,
    ResponseActionError,
    ResponseActions,
    RuleInput,
)
from airflow_provider_apisync.compat import (
    AIRFLOW_V_3_3_PLUS,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    degraded,
)
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.runtime.deferral import defer_until, iso, resolve_deferrable
from airflow_provider_apisync.runtime.errors import failing_fast
from airflow_provider_apisync.runtime.state import task_state, try_number
from airflow_provider_apisync.runtime.summary import log_summary

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import Context

MIN_WAIT_S = 1.0  # never re-check sooner than this, whatever the server says
START_KEY = "apisync_sensor_started"


@dataclass
class CheckResult:
    """One check: done or not, what to report, and when checking again is worthwhile."""

    done: bool
    xcom: dict[str, Any] = field(default_factory=dict)
    wait: float | None = None  # seconds, from a server hint (reset, Retry-After); None = unknown


class ApiSensorBase(BaseSensorOperator):
    """Base for apisync sensors: subclasses implement :meth:`check`."""

    def __init__(
        self,
        *,
        apisync_conn_id: str = "apisync_default",
        deferrable: bool | None = None,
        response_actions: RuleInput = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.response_actions = sensor_actions(response_actions)
        self.apisync_conn_id = apisync_conn_id
        self.deferrable = resolve_deferrable(deferrable)
        self._wait_hint: float | None = None

    # -- to implement -----------------------------------------------------------------
    def check(self, context: Context) -> CheckResult:
        """One probe; raise ``ApiError``/``ApiConfigError`` for real failures."""
        raise NotImplementedError

    # -- plumbing ---------------------------------------------------------------------
    @cached_property
    def hook(self) -> ApiSyncHook:
        return ApiSyncHook(self.apisync_conn_id, probe=True)

    @cached_property
    def probe_client(self) -> ApiClient:
        """The hook's client, in probe mode (no 429 retries, no proactive sleeps);
        with ``response_actions``, their rules apply to every probe."""
        client = self.hook.client
        if not self.response_actions:
            return client
        return ActionClient(client, self.response_actions)  # type: ignore[return-value]

    def poke(self, context: Context) -> PokeReturnValue:
        result = self._check(context)
        self._wait_hint = None if result.done else result.wait
        return PokeReturnValue(is_done=result.done, xcom_value=result.xcom if result.done else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            started = time.time()
            xcom = super().execute(context)
            self._log_summary(xcom, started)
            return xcom
        started = time.time()
        self._remember_start(context, started)
        return self._check_or_defer(context, started)

    def execute_complete(self, context: Context, event: Any = None, **_: Any) -> Any:
        """Resume after a deferral: check again (kwargs from ``defer()`` are not needed)."""
        return self._check_or_defer(context, self._recall_start(context))

    def _check(self, context: Context) -> CheckResult:
        try:
            with failing_fast():
                return self.check(context)
        except ResponseActionError as exc:
            if exc.action == "fail":
                raise AirflowFailException(str(exc)) from exc.error
            # skip / retry / rate_limited: "not yet" -- Airflow waits, never this poke
            wait = exc.error.retry_after if exc.error is not None else None
            self.log.info("not done: %s", exc)
            return CheckResult(done=False, wait=wait)

    def _check_or_defer(self, context: Context, started: float) -> Any:
        result = self._guarded_check(context)
        if result.done:
            self.log.info("Success criteria met. Exiting.")
            self._log_summary(result.xcom, started)
            return result.xcom
        now = time.time()
        elapsed = now - started
        if elapsed > self.timeout:
            message = (
                f"Sensor has timed out; run duration of {elapsed:.1f} seconds exceeds "
                f"the specified timeout of {self.timeout}."
            )
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        hinted = result.wait is not None
        wait = max(result.wait if result.wait is not None else self.poke_interval, MIN_WAIT_S)
        deadline = started + self.timeout
        moment = min(now + wait, deadline)
        self.log.info(
            "Deferring for %.1fs until %s (%s); sensor deadline %s",
            moment - now,
            iso(moment),
            "announced reset" if hinted else "poke_interval",
            iso(deadline),
        )
        defer_until(self, moment, deadline - now)

    def _log_summary(self, xcom: Any, started: float) -> None:
        """The ``apisync-summary`` line: what the last check saw, and how long it waited."""
        summary = dict(xcom) if isinstance(xcom, dict) else {}
        summary.update(self.hook.summary())
        summary["waited_s"] = round(time.time() - started, 3)
        log_summary(self.log, self.task_id, summary)

    def _guarded_check(self, context: Context) -> CheckResult:
        """``_check`` with ``soft_fail``/``never_fail``/``silent_fail`` as BaseSensorOperator."""
        never_fail = getattr(self, "never_fail", False)
        try:
            return self._check(context)
        except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
            if self.soft_fail:
                raise AirflowSkipException("Skipping due to soft_fail is set to True.") from exc
            if never_fail:
                raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
            raise
        except AirflowSkipException:
            raise
        except Exception as exc:
            if getattr(self, "silent_fail", False):
                self.log.error("Sensor check failed, checking again later: %s", exc)
                return CheckResult(done=False)
            if never_fail:
                raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
            raise

    def _get_next_poke_interval(
        self,
        started_at: datetime | float,
        run_duration: Callable[[], float],
        poke_count: int,
    ) -> float:
        """Poke/reschedule modes: wait for the announced reset rather than ``poke_interval``."""
        hint = self._wait_hint
        if hint is None:
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        interval = min(max(hint, MIN_WAIT_S), max(self.timeout - run_duration(), MIN_WAIT_S))
        if self.max_wait:
            interval = min(interval, self.max_wait.total_seconds())
        self.log.info("Next check in %.1fs (announced reset)", interval)
        return interval

    # -- start time across deferrals ---------------------------------------------------
    def _remember_start(self, context: Context, started: float) -> None:
        store = task_state(context, START_KEY)
        if store is None:
            return
        try:
            store.save({"try": try_number(context), "started_at": started})
        except Exception as exc:  # the store is an optimisation; ti.start_date is the fallback
            self.log.debug("task_state_store unavailable: %s", exc)

    def _recall_start(self, context: Context) -> float:
        store = task_state(context, START_KEY)
        if store is not None:
            try:
                saved = store.load()
            except Exception as exc:
                self.log.debug("task_state_store unavailable: %s", exc)
                saved = None
            if saved is not None and saved.get("try") == try_number(context):
                started = saved.get("started_at")
                if isinstance(started, int | float):
                    return float(started)
        if not AIRFLOW_V_3_3_PLUS:
            degraded("task_state_store sensor start", "the task's start_date", needs="3.3")
        start_date = getattr(context.get("ti"), "start_date", None)  # type: ignore[attr-defined]
        if isinstance(start_date, datetime):
            return start_date.timestamp()
        return time.time()


def sensor_actions(value: RuleInput) -> ResponseActions:
    """Rules for a sensor: ``skip``, ``retry`` and ``rate_limited`` mean "not yet, check
    again" (the waiting is Airflow's: poke interval or deferral), ``fail`` fails the task;
    ``dead_letter`` has no meaning for a probe and is refused."""
    actions = ResponseActions.parse(value)
    if "dead_letter" in actions.actions():
        raise ApiConfigError(
            "response_actions",
            "dead_letter has no meaning for a sensor (there is no item to set aside).",
            "use skip (not yet), retry, rate_limited or fail.",
        )
    return ResponseActions(actions.rules, retries=0)
