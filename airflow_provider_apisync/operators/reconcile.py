"""``ApiReconcileOperator``: what the target API holds vs the source of truth, and repair."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.urls import placeholders
from airflow_provider_apisync.compat import AirflowFailException, BaseOperator
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.operators.push import push_task
from airflow_provider_apisync.push.drift import DIFFERENT, MISSING, DriftFinder
from airflow_provider_apisync.push.idempotency import key_fields
from airflow_provider_apisync.push.writes import METHODS, ON_ERROR, PushSpec, choice, positive_int
from airflow_provider_apisync.recordio.jsonl import encode_lines, iter_jsonl
from airflow_provider_apisync.recordio.source import RecordsSource, records_source
from airflow_provider_apisync.recordio.transform import check_transform, resolve_transform
from airflow_provider_apisync.runtime.errors import fail_fast
from airflow_provider_apisync.runtime.folders import run_folder
from airflow_provider_apisync.runtime.summary import log_summary
from airflow_provider_apisync.vocabulary import Vocabulary

ON_DRIFT = ("warn", "fail", "repush")
REPUSH_OPTIONS = {
    "endpoint",
    "method",
    "headers",
    "idempotency_header",
    "idempotency_scope",
    "batch_size",
    "batch_body_key",
    "batch_results_path",
    "concurrency",
    "on_error",
    "max_error_ratio",
}


class ApiReconcileOperator(Vocabulary, BaseOperator):
    """Compare a source JSONL with the target collection by key and content hash.

    Reads the source (same inputs as ``ApiPushOperator``), pages through ``endpoint``
    with the paginators, and writes ``report.jsonl`` (one line per missing / different /
    extra / duplicate record) and ``counts.json``. ``on_drift``: ``"warn"`` logs,
    ``"fail"`` fails the task, ``"repush"`` sends the missing and different source
    records through the push path (``repush`` = push options; idempotency keys scoped
    to this run so a repair is a new write, ledger and dead letters as for a push).
    Extra target records are reported, never deleted. ``query``: HTTP query parameters
    of the target read; ``concurrency``: target pages read at once (the repair's write
    concurrency is ``repush["concurrency"]``); ``output``: base folder of the report (and
    of the repair's ledger and dead letters), scoped by task run. See ``docs/push.md``.
    """

    template_fields: Sequence[str] = (
        "records",
        "endpoint",
        "query",
        "output_uri",
        "repush",
    )
    ui_color = "#e8f4d9"

    def __init__(
        self,
        *,
        records: Any,
        endpoint: str,
        record_key: str | Sequence[str],
        apisync_conn_id: str = "apisync_default",
        target_key: str | Sequence[str] | None = None,
        compare_fields: Sequence[str] | None = None,
        ignore_fields: Sequence[str] = (),
        transform: Callable[[dict[str, Any]], dict[str, Any] | None] | str | None = None,
        records_field: str | None = None,
        paginator: Any = "auto",
        records_path: str | None = None,
        query: Mapping[str, Any] | None = None,
        concurrency: int = 1,
        on_drift: str = "warn",
        repush: Mapping[str, Any] | None = None,
        output: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.records = records
        self.endpoint = endpoint
        self.key_fields = key_fields(record_key)
        if not self.key_fields:
            raise ApiConfigError("record_key", "is required.", 'e.g. record_key="id".')
        self.target_key_fields = key_fields(target_key) or self.key_fields
        if len(self.target_key_fields) != len(self.key_fields):
            raise ApiConfigError(
                "target_key",
                f"names {len(self.target_key_fields)} field(s) but record_key names "
                f"{len(self.key_fields)}.",
                "give one target field per record_key field, in the same order.",
            )
        self.record_key = record_key
        self.apisync_conn_id = apisync_conn_id
        self.compare_fields = list(compare_fields) if compare_fields else None
        self.ignore_fields = list(ignore_fields)
        self.transform = check_transform(transform)
        self.records_field = records_field
        self.paginator = paginator
        self.records_path = records_path
        self.query: dict[str, Any] = dict(query or {})
        self.concurrency = positive_int("concurrency", concurrency)
        self.on_drift = choice("on_drift", on_drift, ON_DRIFT)
        self.repush = dict(repush or {})
        self.output_uri = output  # BaseOperator.output is the XComArg of the result
        _check_repush(self.repush, self.on_drift)

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        try:
            source = _Transformed(
                records_source(self.records, records_field=self.records_field),
                resolve_transform(self.transform),
            )
            folder = run_folder(context, "reconcile", self.output_uri, field="output")
            concurrency = int(self.repush.get("concurrency", 4))
            hook = ApiSyncHook(self.apisync_conn_id, pool_size=max(32, concurrency))
        except ApiConfigError as exc:
            raise fail_fast(exc) from None
        finder = DriftFinder(
            self.key_fields,
            target_key_fields=self.target_key_fields,
            compare_fields=self.compare_fields,
            ignore_fields=self.ignore_fields,
        )
        self.log.info("indexing source %s by %s", source.describe(), ", ".join(self.key_fields))
        finder.index(source)
        report = folder / "report.jsonl"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with report.open("wb") as fh:
                for drift in finder.compare(self._target(hook)):
                    fh.write(encode_lines([drift.to_dict()]))
                for drift in finder.leftovers(source):
                    fh.write(encode_lines([drift.to_dict()]))
        except ApiConfigError as exc:
            raise fail_fast(exc) from None
        counts = finder.counts
        summary: dict[str, Any] = {
            key: value for key, value in vars(counts).items() if key != "samples"
        }
        summary.update(
            drift=counts.drift,
            samples=counts.samples,
            compare_fields=list(finder.compare_fields or ()),
            report=str(report),
            counts=str(folder / "counts.json"),
        )
        (folder / "counts.json").write_text(json.dumps(summary, indent=1, default=str))
        summary.update(hook.summary())
        if counts.drift:
            self.log.warning(
                "drift: %d missing, %d different, %d extra, %d duplicate (report %s)",
                counts.missing,
                counts.different,
                counts.extra,
                counts.duplicate,
                report,
            )
        summary["repush"] = None
        if self.on_drift == "repush" and counts.missing + counts.different:
            summary["repush"] = self._repush(context, hook, report)
        summary["duration_s"] = round(time.monotonic() - started, 3)
        log_summary(self.log, self.task_id, summary)
        if self.on_drift == "fail" and counts.drift:
            raise AirflowFailException(
                f"drift found: {counts.missing} missing, {counts.different} different, "
                f"{counts.extra} extra, {counts.duplicate} duplicate; report: {report}"
            )
        return summary

    def _target(self, hook: ApiSyncHook) -> Iterator[Any]:
        pages = hook.paginate(
            self.endpoint,
            paginator=self.paginator,
            records_path=self.records_path,
            params=self.query,
            concurrency=self.concurrency,
        )
        for page in pages:
            yield from page.records

    def _repush(self, context: Mapping[str, Any], hook: ApiSyncHook, report: Any) -> dict:
        options = self.repush
        run_id = str(context.get("run_id") or getattr(context["ti"], "run_id", "manual"))
        spec = PushSpec(
            endpoint=str(options["endpoint"]),
            method=str(options.get("method", "POST")).upper(),
            key_fields=self.key_fields,
            batch_size=int(options.get("batch_size", 1)),
            batch_body_key=options.get("batch_body_key"),
            batch_results_path=options.get("batch_results_path", "results"),
            idempotency_header=options.get("idempotency_header", "Idempotency-Key") or None,
            idempotency_scope=str(options.get("idempotency_scope") or f"repair:{run_id}"),
            concurrency=int(options.get("concurrency", 4)),
            on_error=str(options.get("on_error", "dead_letter")),
            headers=options.get("headers"),
        )

        def drifted() -> Iterator[Any]:
            with report.open("rb") as fh:
                for line in iter_jsonl(fh, source=str(report)):
                    if line.get("kind") in (MISSING, DIFFERENT):
                        yield line["record"]

        return push_task(
            self,
            context,
            hook,
            spec,
            drifted(),
            description=f"missing and different records of {report}",
            prefix="repush_",
            max_error_ratio=float(options.get("max_error_ratio", 0.0)),
        )


class _Transformed:
    """Re-iterable source with the push transform applied (None drops a record)."""

    def __init__(self, source: RecordsSource, transform: Callable[..., Any] | None) -> None:
        self.source = source
        self.transform = transform

    def __iter__(self) -> Iterator[Any]:
        for record in self.source:
            if self.transform is not None and isinstance(record, dict):
                record = self.transform(record)
                if record is None:
                    continue
            yield record

    def describe(self) -> str:
        return self.source.describe()


def _check_repush(options: Mapping[str, Any], on_drift: str) -> None:
    unknown = sorted(set(options) - REPUSH_OPTIONS)
    if unknown:
        raise ApiConfigError(
            "repush",
            f"unknown option(s) {unknown}.",
            "the repair's ledger and dead letters go under the reconcile's output=."
            if {"ledger_uri", "dead_letter_uri"} & set(unknown)
            else f"use ApiPushOperator's names: {sorted(REPUSH_OPTIONS)}.",
        )
    if on_drift != "repush":
        return
    if not options.get("endpoint"):
        raise ApiConfigError(
            "repush",
            'on_drift="repush" needs repush={"endpoint": ...}.',
            'e.g. repush={"endpoint": "/contacts/{id}", "method": "PUT"}.',
        )
    choice("repush.method", str(options.get("method", "POST")).upper(), METHODS)
    choice("repush.on_error", str(options.get("on_error", "dead_letter")), ON_ERROR)
    for name in ("batch_size", "concurrency"):
        if name in options:
            positive_int(f"repush.{name}", options[name])
    if int(options.get("batch_size", 1)) > 1 and placeholders(str(options["endpoint"])):
        raise ApiConfigError(
            "repush.endpoint",
            "has placeholders but batch_size > 1 sends many records to one URL.",
            "use a batch endpoint without placeholders, or batch_size=1.",
        )
    ratio = options.get("max_error_ratio", 0.0)
    if not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ApiConfigError("repush.max_error_ratio", f"{ratio!r} is not between 0 and 1.")
