"""``ApiPushOperator``: idempotent, concurrent, resumable writes of records to an API."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.response_actions import ResponseActions, RuleInput
from airflow_provider_apisync.compat import BaseOperator
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.operators._common import (
    AirflowFailException,
    fail_fast,
    log_summary,
)
from airflow_provider_apisync.push.batching import placeholders
from airflow_provider_apisync.push.idempotency import key_fields
from airflow_provider_apisync.push.ledger import DeadLetters, Ledger, task_run_folder
from airflow_provider_apisync.push.runner import PushCounts, PushRunner
from airflow_provider_apisync.push.writes import PushSpec
from airflow_provider_apisync.recordio.source import records_source

METHODS = ("POST", "PUT", "PATCH", "DELETE")
ON_ERROR = ("dead_letter", "fail")


class ApiPushOperator(BaseOperator):
    """Write records to an API exactly once per (target, key, payload), resumably.

    Records come from a JSONL file, a pull's output folder or manifest, or a list. Each
    record (or batch) gets a deterministic idempotency key; acknowledged keys go to a
    ledger scoped to the task run so a retried task sends only what was not settled.
    Rejected records go to dead-letter files; the task fails when their share exceeds
    ``max_error_ratio``. Returns a summary (XCom): pushed, skipped, failed, dead_letter,
    retries, throttled, duration_s. See ``docs/push.md``.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "records",
        "headers",
        "idempotency_scope",
        "ledger_uri",
        "dead_letter_uri",
    )
    template_fields_renderers = {"headers": "json"}
    ui_color = "#d7ecf7"

    def __init__(
        self,
        *,
        endpoint: str,
        records: Any,
        record_key: str | Sequence[str],
        apisync_conn_id: str = "apisync_default",
        method: str = "POST",
        transform: Callable[[dict[str, Any]], dict[str, Any] | None] | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_header: str | None = "Idempotency-Key",
        idempotency_scope: str | None = None,
        batch_size: int = 1,
        batch_body_key: str | None = None,
        batch_results_path: str | None = "results",
        concurrency: int = 4,
        on_error: str = "dead_letter",
        max_error_ratio: float = 0.0,
        records_field: str | None = None,
        ledger_uri: str | None = None,
        dead_letter_uri: str | None = None,
        ledger_flush_every: int = 500,
        response_actions: RuleInput = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.response_actions = ResponseActions.parse(response_actions)
        self.endpoint = endpoint
        self.records = records
        self.key_fields = key_fields(record_key)
        if not self.key_fields:
            raise ApiConfigError(
                "record_key",
                "is required.",
                'name the business key field(s), e.g. record_key="id" or ["org", "email"].',
            )
        self.record_key = record_key
        self.apisync_conn_id = apisync_conn_id
        self.method = choice("method", str(method).upper(), METHODS)
        self.transform = check_transform(transform)
        self.headers = dict(headers or {})
        self.idempotency_header = idempotency_header or None
        self.idempotency_scope = idempotency_scope
        self.batch_size = positive_int("batch_size", batch_size)
        self.batch_body_key = batch_body_key or None
        self.batch_results_path = batch_results_path or None
        self.concurrency = positive_int("concurrency", concurrency)
        self.on_error = choice("on_error", on_error, ON_ERROR)
        if not isinstance(max_error_ratio, int | float) or not 0 <= max_error_ratio <= 1:
            raise ApiConfigError(
                "max_error_ratio",
                f"{max_error_ratio!r} is not a share between 0 and 1.",
                "use 0.0 (no rejection tolerated) up to 1.0 (never fail on rejections).",
            )
        self.max_error_ratio = float(max_error_ratio)
        self.records_field = records_field
        self.ledger_uri = ledger_uri
        self.dead_letter_uri = dead_letter_uri
        self.ledger_flush_every = positive_int("ledger_flush_every", ledger_flush_every)
        if self.batch_size > 1 and placeholders(endpoint):
            raise ApiConfigError(
                "endpoint",
                f"has placeholders {placeholders(endpoint)} but batch_size={batch_size} sends "
                "many records to one URL.",
                "use a batch endpoint without placeholders, or batch_size=1 for by-key writes.",
            )

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        try:
            spec = self._spec()
            source = records_source(self.records, records_field=self.records_field)
            hook = ApiSyncHook(self.apisync_conn_id, pool_size=max(32, self.concurrency))
        except ApiConfigError as exc:
            raise fail_fast(exc) from None
        return run_push(
            self.log,
            self.task_id,
            context,
            hook,
            spec,
            source,
            description=source.describe(),
            ledger_uri=self.ledger_uri,
            dead_letter_uri=self.dead_letter_uri,
            ledger_flush_every=self.ledger_flush_every,
            max_error_ratio=self.max_error_ratio,
            actions=self.response_actions.fresh(),
        )

    def _spec(self) -> PushSpec:
        if not isinstance(self.endpoint, str) or not self.endpoint.strip():
            raise ApiConfigError("endpoint", "is empty.", 'give a path such as "/contacts/{id}".')
        return PushSpec(
            endpoint=self.endpoint,
            method=self.method,
            key_fields=self.key_fields,
            batch_size=self.batch_size,
            batch_body_key=self.batch_body_key,
            batch_results_path=self.batch_results_path,
            idempotency_header=self.idempotency_header,
            idempotency_scope=str(self.idempotency_scope) if self.idempotency_scope else None,
            concurrency=self.concurrency,
            on_error=self.on_error,
            transform=resolve_transform(self.transform),
            headers=self.headers,
        )


def run_push(
    log: Any,
    task_id: str,
    context: Mapping[str, Any],
    hook: ApiSyncHook,
    spec: PushSpec,
    records: Iterable[Any],
    *,
    description: str,
    ledger_uri: str | None = None,
    dead_letter_uri: str | None = None,
    ledger_flush_every: int = 500,
    max_error_ratio: float = 0.0,
    prefix: str = "",
    actions: ResponseActions | None = None,
) -> dict[str, Any]:
    """One push try with the task run's ledger and dead letters; returns the summary.

    Raises per the verdict: a retryable error (the task retry resumes from the ledger),
    or ``AirflowFailException`` for fatal errors, ``on_error="fail"`` and a rejected
    share above ``max_error_ratio``. ``prefix`` names the folders (``repush_ledger``).
    """
    started = time.monotonic()
    try:
        try_number = int(getattr(context["ti"], "try_number", 1) or 1)
        dead = DeadLetters(
            task_run_folder(
                context, f"{prefix}dead_letter", dead_letter_uri, field="dead_letter_uri"
            ),
            try_number,
        )
        ledger = Ledger(
            task_run_folder(context, f"{prefix}ledger", ledger_uri, field="ledger_uri"),
            try_number,
            flush_every=ledger_flush_every,
            before_flush=dead.flush,
        ).load()
        runner = PushRunner(hook.client, spec, ledger, dead, try_number=try_number, actions=actions)
    except ApiConfigError as exc:
        raise fail_fast(exc) from None
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
        raise fail_fast(error)
    if counts.stop_reason is not None:
        raise AirflowFailException(
            f"on_error='fail': stopped at the first failed record "
            f"({counts.failed} failed, {counts.pushed} pushed); {where}"
        )
    attempted = counts.attempted
    if attempted and counts.failed / attempted > max_error_ratio:
        raise AirflowFailException(
            f"{counts.failed} of {attempted} records failed "
            f"({counts.failed / attempted:.1%}) > max_error_ratio "
            f"{max_error_ratio:.1%}; {where}"
        )


def choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ApiConfigError(field, f"{value!r} is not one of {list(allowed)}.")
    return value


def positive_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiConfigError(field, f"{value!r} is not a positive integer.", "use 1 or more.")
    return value


def check_transform(value: Any) -> Any:
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ApiConfigError(
        "transform",
        f"{value!r} is neither a callable nor a dotted path.",
        'pass a function, or "package.module.function".',
    )


def resolve_transform(value: Any) -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
    """A callable, or one imported from ``pkg.mod.func`` / ``pkg.mod:func``."""
    if value is None or callable(value):
        return value
    module_name, sep, attr = value.partition(":")
    if not sep:
        module_name, _, attr = value.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ApiConfigError(
            "transform",
            f"cannot import {value!r} ({exc}).",
            "use an importable dotted path such as 'my_dags.transforms.to_crm'.",
        ) from None
    if not callable(func):
        raise ApiConfigError("transform", f"{value!r} is not callable.")
    return func  # type: ignore[no-any-return]
