"""One push try end to end: ledger, dead letters, runner, summary line and verdict.

Shared by ``ApiPushOperator`` and the repush of ``ApiReconcileOperator``. Airflow-free:
what must fail the task without a retry is raised as :class:`PushStopped`, which the
operator maps to ``AirflowFailException``; retryable errors propagate unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.response_actions import ResponseActions
from airflow_provider_apisync.push.ledger import DeadLetters, Ledger
from airflow_provider_apisync.push.runner import PushCounts, PushRunner
from airflow_provider_apisync.push.writes import PushSpec
from airflow_provider_apisync.runtime.summary import log_summary

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath


class PushStopped(Exception):
    """The push must end the task without a retry.

    ``cause`` is the fatal error (a config error, a non-retryable API error); None when
    ``on_error="fail"`` or ``max_error_ratio`` stopped it (the message says which).
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def run_push(
    log: Any,
    task_id: str,
    context: Mapping[str, Any],
    hook: Any,
    spec: PushSpec,
    records: Iterable[Any],
    *,
    description: str,
    ledger_folder: ObjectStoragePath,
    dead_letter_folder: ObjectStoragePath,
    ledger_flush_every: int = 500,
    max_error_ratio: float = 0.0,
    actions: ResponseActions | None = None,
) -> dict[str, Any]:
    """One push try with the task run's ledger and dead letters; returns the summary.

    Raises per the verdict: a retryable error (the task retry resumes from the ledger),
    or :class:`PushStopped` for fatal errors, ``on_error="fail"`` and a rejected
    share above ``max_error_ratio``.
    """
    started = time.monotonic()
    try:
        try_number = int(getattr(context["ti"], "try_number", 1) or 1)
        dead = DeadLetters(dead_letter_folder, try_number)
        ledger = Ledger(
            ledger_folder,
            try_number,
            flush_every=ledger_flush_every,
            before_flush=dead.flush,
        ).load()
        runner = PushRunner(hook.client, spec, ledger, dead, try_number=try_number, actions=actions)
    except ApiConfigError as exc:
        raise PushStopped(str(exc), exc) from None
    log.info(
        "pushing %s to %s %s (key %s, batch_size %d, concurrency %d, ledger %s, "
        "%d write(s) settled by earlier tries)",
        description,
        spec.method,
        spec.endpoint,
        ", ".join(spec.key_fields),
        spec.batch_size,
        spec.concurrency,
        ledger.folder,
        len(ledger.prior),
    )
    try:
        counts = runner.run(records)
    finally:
        dead_letter, files = dead.finish()
    summary = {
        "pushed": counts.pushed,
        "skipped": counts.skipped,
        "failed": counts.failed,
        "rejected": counts.rejected,
        "invalid": counts.invalid,
        "unknown": counts.unknown,
        "filtered": counts.filtered,
        "records": counts.records,
        "dead_letter": dead_letter,
        "dead_letter_files": files,
        "ledger": str(ledger.folder),
        **hook.summary(),
        "duration_s": round(time.monotonic() - started, 3),
    }
    if actions:
        summary["response_actions"] = actions.summary()
    log_summary(log, task_id, summary)
    push_verdict(log, counts, summary, max_error_ratio)
    return summary


def push_verdict(
    log: Any, counts: PushCounts, summary: Mapping[str, Any], max_error_ratio: float
) -> None:
    """Raise when the push must not count as a success."""
    error = counts.stop_error
    where = f"dead letters: {summary['dead_letter']}" if summary["dead_letter"] else ""
    if counts.stop_reason == "abort" and error is not None:
        log.error(
            "push stopped by a retryable failure after %d pushed this try; "
            "a task retry resumes from the ledger (%s)",
            counts.pushed,
            summary["ledger"],
        )
        raise error
    if counts.stop_reason == "fatal" and error is not None:
        raise PushStopped(str(error), error)
    if counts.stop_reason is not None:
        raise PushStopped(
            f"on_error='fail': stopped at the first failed record "
            f"({counts.failed} failed, {counts.pushed} pushed); {where}"
        )
    attempted = counts.attempted
    if attempted and counts.failed / attempted > max_error_ratio:
        raise PushStopped(
            f"{counts.failed} of {attempted} records failed "
            f"({counts.failed / attempted:.1%}) > max_error_ratio "
            f"{max_error_ratio:.1%}; {where}"
        )
