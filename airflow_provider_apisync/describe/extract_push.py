"""Descriptions of writing operators: ``ApiPushOperator`` and ``ApiReconcileOperator``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_apisync.describe.extract_pull import paginator_text, paging_limits
from airflow_provider_apisync.describe.model import Call, Extract, extractor
from airflow_provider_apisync.describe.policy import client_retries
from airflow_provider_apisync.describe.values import (
    code,
    codes,
    plain,
    safe_headers,
    safe_params,
)

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_FIELD = re.compile(r"\{([^{}\s]+)\}")
DEFAULT_BASE = "<[apisync] output_base>"
KEY_RECIPE = (
    "`as1-` + SHA-256 over the target origin, method, URL path, record key and payload hash"
)
SUMMARY_KEYS = ("pushed", "skipped", "failed", "dead_letter", "retries", "throttled")


def placeholders(endpoint: Any) -> list[str]:
    """``{field}`` placeholders of a push endpoint (Jinja expressions ignored)."""
    return _FIELD.findall(_JINJA.sub("", str(endpoint or "")))


def scoped(base: Any, kind: str) -> str:
    """Where a per-run folder lands: ``<base>/<dag_id>/<task_id>/<run_id>/<kind>/``."""
    root = str(base).rstrip("/") if base else DEFAULT_BASE
    return code(f"{root}/<dag_id>/<task_id>/<run_id>/{kind}/")


def records_text(records: Any) -> str:
    """Where the records come from, in a few words."""
    if isinstance(records, list | tuple):
        return f"{len(records)} record(s) listed in the DAG file"
    if isinstance(records, str):
        return code(records)
    return code(plain(records))


def _keys(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value)
    return (str(value),)


def transform_text(transform: Any) -> str | None:
    if transform is None:
        return None
    return f"transform: {code(plain(transform))} applied to each record first"


def guarantee(method: str, keyed: bool) -> str:
    """Which mechanism makes each write happen once (see docs/push.md)."""
    if keyed:
        return (
            "exactly once: the key (when the API honours it) answers resends with a replay; "
            "the ledger skips settled writes on task retries"
        )
    if method in ("PUT", "DELETE"):
        return (
            f"exactly once in effect: `{method}` by business key overwrites in place; the "
            "ledger skips settled writes on task retries"
        )
    return (
        f"only the ledger, across task retries: a `{method}` whose acknowledgement was lost "
        "cannot be resent safely and ends as `unknown` in the dead letters"
    )


@extractor("ApiPushOperator")
def push(task: Any) -> Extract:
    """``ApiPushOperator``: keyed, concurrent, resumable writes."""
    found = Extract("push", conn_id=getattr(task, "apisync_conn_id", None))
    method = str(getattr(task, "method", "POST")).upper()
    endpoint = str(getattr(task, "endpoint", ""))
    batch = int(getattr(task, "batch_size", 1) or 1)
    header = getattr(task, "idempotency_header", None)
    key = _keys(getattr(task, "key_fields", None) or getattr(task, "record_key", None))
    purpose = f"write batches of up to {batch} records" if batch > 1 else "write one record"
    found.calls.append(Call(method, endpoint, purpose))
    fields = placeholders(endpoint)
    headers = getattr(task, "headers", None) or {}
    found.add(
        "Request",
        f"records: {records_text(getattr(task, 'records', None))}"
        + (f" (field {code(task.records_field)})" if getattr(task, "records_field", None) else ""),
        f"record key: {codes(key)}",
        transform_text(getattr(task, "transform", None)),
        f"URL per record from {codes(fields)} (upsert by key)" if fields else None,
        f"batch body key {code(task.batch_body_key)}"
        if batch > 1 and getattr(task, "batch_body_key", None)
        else None,
        f"headers: {', '.join(safe_headers(headers))}" if headers else None,
        f"{getattr(task, 'concurrency', 4)} writes in flight",
    )
    scope = getattr(task, "idempotency_scope", None)
    found.add(
        "Idempotency",
        f"{code(header)} per {'batch' if batch > 1 else 'record'}: {KEY_RECIPE}"
        + (f", scope {code(scope)}" if scope else "")
        + "; the same write always sends the same key, across client retries, task retries "
        "and reruns"
        if header
        else "no idempotency key (`idempotency_header=None`)",
        guarantee(method, bool(header)),
        "ledger of settled writes: "
        + scoped(getattr(task, "output_uri", None), "ledger")
        + " (scoped to the DAG run: another run starts fresh)",
    )
    on_error = getattr(task, "on_error", "dead_letter")
    ratio = getattr(task, "max_error_ratio", 0.0)
    found.add(
        "Rejections",
        f"on_error {code(on_error)}: rejected records (4xx other than 401/408/409/425/429) go "
        "to dead-letter JSONL with status and error body"
        + (", then the task fails" if on_error == "fail" else ""),
        f"the task fails when the rejected share exceeds `max_error_ratio` = {ratio:g}",
        "dead letters: " + scoped(getattr(task, "output_uri", None), "dead_letter"),
    )
    found.add("Retries", client_retries(method, bool(header), "writes"))
    found.add("Outputs", f"XCom summary: {codes(SUMMARY_KEYS)}, duration_s")
    if not header and method in ("POST", "PATCH"):
        found.limits.append(
            f"`{method}` without idempotency keys: a lost acknowledgement is reported as "
            "`unknown`, not resent; a 5xx after the server committed is duplicated by the "
            "task retry. Reconcile to settle them."
        )
    if header:
        found.limits.append(
            "Servers that store and replay a 5xx under its key keep answering 5xx for that "
            "payload until the key expires; change `idempotency_scope` to force a new attempt."
        )
    if batch > 1:
        found.limits.append(
            "Failed items inside a 2xx batch answer are dead-lettered even when retryable; "
            "changing `batch_size` or the input between tries changes batch keys."
        )
    if not getattr(task, "output_uri", None):
        found.limits.append(
            "The ledger is under `[apisync] output_base`, the worker's local disk unless set: "
            "multi-worker deployments set it to shared storage, or a retry on another worker "
            "resends everything."
        )
    return found


@extractor("ApiReconcileOperator")
def reconcile(task: Any) -> Extract:
    """``ApiReconcileOperator``: source vs target by key and content hash."""
    found = Extract("reconcile", conn_id=getattr(task, "apisync_conn_id", None))
    endpoint = str(getattr(task, "endpoint", ""))
    found.calls.append(Call("GET", endpoint, "read the target collection"))
    repush: Mapping[str, Any] = getattr(task, "repush", None) or {}
    on_drift = getattr(task, "on_drift", "warn")
    if on_drift == "repush" and repush.get("endpoint"):
        method = str(repush.get("method", "POST")).upper()
        found.calls.append(Call(method, str(repush["endpoint"]), "repair missing/different"))
    params = getattr(task, "query", None) or {}
    key = _keys(getattr(task, "key_fields", None) or getattr(task, "record_key", None))
    target_key = _keys(getattr(task, "target_key_fields", None)) or key
    compare = getattr(task, "compare_fields", None)
    ignore = getattr(task, "ignore_fields", None) or ()
    found.add(
        "Request",
        f"source: {records_text(getattr(task, 'records', None))}",
        f"key: source {codes(key)} = target {codes(target_key)}",
        f"compared fields: {codes(compare)}"
        if compare
        else "compared fields: those of the first source record"
        + (f", except {codes(ignore)}" if ignore else ""),
        transform_text(getattr(task, "transform", None)),
        f"query parameters: {code(plain(safe_params(params)))}" if params else None,
    )
    paginator = getattr(task, "paginator", "auto")
    found.add("Pagination", paginator_text(paginator))
    found.add(
        "Drift",
        f"on_drift {code(on_drift)}: "
        + {
            "warn": "log the drift and succeed",
            "fail": "fail the task after writing the report",
            "repush": "push missing and different source records (below)",
        }.get(on_drift, "?"),
        "extra target records are reported, never deleted",
    )
    if on_drift == "repush":
        header = repush.get("idempotency_header", "Idempotency-Key")
        found.add(
            "Idempotency",
            f"repairs carry {code(header)} scoped to the reconcile run "
            "(`repair:<run_id>` unless `idempotency_scope` is set): a repair is a new write, "
            "written once across the task's retries; ledger `repush_ledger/`, dead letters "
            "`repush_dead_letter/`"
            if header
            else "repairs carry no idempotency key; ledger `repush_ledger/`",
        )
    else:
        found.add("Idempotency", "read-only: the target is only read")
    repair = None
    if on_drift == "repush":
        keyed = bool(repush.get("idempotency_header", "Idempotency-Key"))
        repair = client_retries(str(repush.get("method", "POST")), keyed, "repairs")
    found.add("Retries", client_retries("GET", False, "reads"), repair)
    found.add(
        "Outputs",
        "`report.jsonl` (one line per missing / different / extra / duplicate record) and "
        "`counts.json` under " + scoped(getattr(task, "output_uri", None), "reconcile"),
        "XCom: the counts, request counters, `repush` summary and duration_s",
    )
    found.limits.extend(
        paging_limits(
            paginator,
            repeats="repeats show up as `duplicate`, skipped records as `missing`",
            resumable=False,
        )
    )
    found.limits.append(
        "Reads the whole target collection every run and holds one hash per source key."
    )
    return found
