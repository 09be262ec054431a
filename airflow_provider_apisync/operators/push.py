"""``ApiPushOperator``: idempotent, concurrent, resumable writes of records to an API."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.response_actions import ResponseActions, RuleInput
from airflow_provider_apisync.client.urls import placeholders
from airflow_provider_apisync.compat import AirflowFailException, BaseOperator
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.push.attempt import PushStopped, run_push
from airflow_provider_apisync.push.idempotency import key_fields
from airflow_provider_apisync.push.writes import METHODS, ON_ERROR, PushSpec, choice, positive_int
from airflow_provider_apisync.recordio.source import records_source
from airflow_provider_apisync.recordio.transform import check_transform, resolve_transform
from airflow_provider_apisync.runtime.errors import fail_fast
from airflow_provider_apisync.runtime.folders import run_folder
from airflow_provider_apisync.vocabulary import Vocabulary


class ApiPushOperator(Vocabulary, BaseOperator):
    """Write records to an API exactly once per (target, key, payload), resumably.

    Records come from a JSONL file, a pull's output folder or manifest, or a list. Each
    record (or batch) gets a deterministic idempotency key; acknowledged keys go to a
    ledger scoped to the task run so a retried task sends only what was not settled.
    Rejected records go to dead-letter files; the task fails when their share exceeds
    ``max_error_ratio``. Returns a summary (XCom): pushed, skipped, failed, dead_letter,
    retries, throttled, duration_s. ``output``: base folder of the ledger and the dead
    letters (``<output>/<dag_id>/<task_id>/<run_id>/ledger`` and ``.../dead_letter``;
    default ``[apisync] output_base``). See ``docs/push.md``.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "records",
        "headers",
        "idempotency_scope",
        "output_uri",
    )
    template_fields_renderers = {"headers": "json"}
    ui_color = "#d7ecf7"
    query_argument = None  # writes send no query parameters

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
        output: str | None = None,
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
        self.output_uri = output  # BaseOperator.output is the XComArg of the result
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
        return push_task(
            self,
            context,
            hook,
            spec,
            source,
            description=source.describe(),
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


def push_task(
    op: Any,
    context: Mapping[str, Any],
    hook: ApiSyncHook,
    spec: PushSpec,
    records: Any,
    *,
    description: str,
    prefix: str = "",
    **options: Any,
) -> dict[str, Any]:
    """:func:`run_push` as a task of ``op`` (push, or reconcile's repush with ``prefix``).

    The ledger and dead letters go to the task run's folders under ``op.output_uri``; a
    push that must stop without a retry fails the task (``AirflowFailException``).
    """
    try:
        return run_push(
            op.log,
            op.task_id,
            context,
            hook,
            spec,
            records,
            description=description,
            ledger_folder=run_folder(context, f"{prefix}ledger", op.output_uri, field="output"),
            dead_letter_folder=run_folder(
                context, f"{prefix}dead_letter", op.output_uri, field="output"
            ),
            **options,
        )
    except ApiConfigError as exc:  # the output folder
        raise fail_fast(exc) from None
    except PushStopped as exc:
        raise fail_fast(exc.cause) if exc.cause else AirflowFailException(str(exc)) from None
