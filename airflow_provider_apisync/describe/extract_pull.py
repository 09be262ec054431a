"""Descriptions of reading operators: ``ApiPullOperator`` and ``ApiBulkJobOperator``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_apisync.describe.model import Call, Extract, extractor
from airflow_provider_apisync.describe.policy import client_retries
from airflow_provider_apisync.describe.values import (
    code,
    codes,
    duration,
    is_templated,
    plain,
    safe_headers,
    safe_params,
    size,
)

RUN_FOLDER = "<[apisync] output_base>/<dag_id>/<task_id>/<run_id>/"
MANIFEST_KEYS = (
    "uri",
    "files",
    "records",
    "pages",
    "requests",
    "retries",
    "throttled",
    "high_water_mark",
    "duration_s",
)
AUTO = (
    "`auto`: chosen from the first response (a `Link` rel=next header, a next URL in the "
    "body or a header, a cursor, offset/page parameters, else a single page; a reported "
    "total larger than the page fails instead of pulling a fraction)"
)
STOPS = {
    "offset": "stops on an empty page, at the total (`total_path`), else on a short page",
    "page": "stops on an empty page, at the last page (`total_pages_path`), else on a short page",
    "cursor": "follows the cursor; stops when it is missing or empty, or `has_more` is false",
    "link": "follows the RFC 8288 `Link` header; stops when there is no next link",
    "next_url": "follows the next URL from the body or a header; stops when it is missing",
    "single": "one request, no paging",
}


def paginator_kind(paginator: Any) -> str:
    """``auto``, a paginator kind (``offset``, ``cursor`` ...), or ``unknown``."""
    if isinstance(paginator, str):
        return paginator.strip().lower()
    if isinstance(paginator, Mapping):
        return str(paginator.get("kind", "unknown"))
    return str(getattr(paginator, "kind", "unknown"))


def paginator_text(paginator: Any) -> str:
    """The paginator and its stop rule in one line."""
    kind = paginator_kind(paginator)
    if kind == "auto":
        return AUTO
    if isinstance(paginator, str):
        shown = code(paginator)
    elif isinstance(paginator, Mapping):
        shown = code(plain(dict(paginator)))
    else:
        shown = code(repr(paginator))
    stop = STOPS.get(kind)
    return f"{shown}: {stop}" if stop else shown


def paging_limits(
    paginator: Any, *, concurrency: int = 1, repeats: str = "", resumable: bool = True
) -> list[str]:
    """Known limits that follow from the paging style (``repeats``: what catches them)."""
    kind = paginator_kind(paginator)
    limits = []
    if kind in ("offset", "page", "auto"):
        limits.append(
            "Offset/page paging under concurrent writes at the source can skip or repeat "
            f"records{'; ' + repeats if repeats else ''}."
        )
    if resumable and kind in ("cursor", "next_url", "link", "auto"):
        limits.append(
            "Cursors and next links that expire before a retry make the resumed try fail; "
            "clear the task's checkpoint to start over."
        )
    if concurrency > 1:
        limits.append(
            "Concurrent paging plans from the first page's total: records added during the "
            "pull are not fetched."
        )
    return limits


@extractor("ApiPullOperator")
def pull(task: Any) -> Extract:
    """``ApiPullOperator``: GET pages -> JSONL parts + manifest."""
    found = Extract("pull", conn_id=getattr(task, "apisync_conn_id", None))
    endpoint = getattr(task, "endpoint", "")
    params = getattr(task, "query", None) or {}
    headers = getattr(task, "headers", None) or {}
    paginator = getattr(task, "paginator", "auto")
    concurrency = int(getattr(task, "concurrency", 1) or 1)
    key = getattr(task, "record_key", ()) or ()
    record_key = (key,) if isinstance(key, str) else tuple(key)  # a mapped task's is as given
    parents = getattr(task, "parents", None)
    purpose = (
        "read every page, once per parent record" if parents is not None else "read every page"
    )
    found.calls.append(Call("GET", str(endpoint), purpose))
    if parents is not None:
        found.add("Fan-out", *_fanout(task, parents, concurrency))
    records_path = getattr(task, "records_path", None)
    found.add(
        "Request",
        f"query parameters (first page): {code(plain(safe_params(params)))}" if params else None,
        f"headers: {', '.join(safe_headers(headers))}" if headers else None,
        "records at "
        + (code(records_path) if records_path is not None else "a path detected on page 1"),
    )
    guards = [
        f"at most {getattr(task, name)} {label}"
        for name, label in (("max_pages", "pages"), ("max_records", "records"))
        if getattr(task, name, None)
    ]
    found.add(
        "Pagination",
        paginator_text(paginator),
        f"{concurrency} pages in flight when offset/page paging reports a total"
        if concurrency > 1 and parents is None
        else None,
        f"guards: {', '.join(guards)} (then stops, `truncated: true`)" if guards else None,
        "a repeated cursor or next URL fails (`PaginationLoopError`); next URLs must stay "
        "on the connection's origin or `allowed_hosts` (`ForeignHostError`)",
    )
    found.add("Incremental", *_incremental(task, params))
    found.add(
        "Idempotency",
        "read-only `GET`: repeating it changes nothing at the source",
        f"resume: checkpoint every {getattr(task, 'checkpoint_every', 1)} page(s) (Airflow "
        "`task_state_store`, else `_checkpoint.json`); a task retry continues after the "
        "last checkpointed page, so no record is written twice",
        f"de-duplicated by `record_key` {codes(record_key)} within the run" if record_key else None,
    )
    schema = getattr(task, "schema", None)
    if schema or record_key:
        violation = getattr(task, "on_contract_violation", "fail")
        found.add(
            "Contract",
            _schema_text(schema) if schema else None,
            f"a record without {codes(record_key)} is a violation" if record_key else None,
            f"on violation: {code(violation)}"
            + (" (bad records go to `quarantine/`)" if violation == "quarantine" else ""),
        )
    transform = getattr(task, "transform", None)
    if transform is not None:
        found.add(
            "Transform",
            f"{code(plain(transform))} applied to each record while streaming, after the "
            "contract check and de-duplication; `None` drops a record (`filtered`)",
        )
    found.add("Retries", client_retries("GET", False, "page requests"))
    output = getattr(task, "output_uri", None)
    found.add(
        "Outputs",
        f"JSONL part files `part-NNNNN.jsonl` (a new part every "
        f"{size(getattr(task, 'part_size', 64 * 1024 * 1024))}) and `_manifest.json`, written "
        f"last, under {code(output) if output else code(RUN_FOLDER) + ' (default)'}",
        f"XCom: the manifest ({codes(MANIFEST_KEYS)}), never the records",
        "outlet asset events carry the same summary in `extra`; OpenLineage: input = the "
        "endpoint, outputs = the part files",
    )
    repeats = "`record_key` drops repeats" if record_key else "set `record_key` to drop repeats"
    found.limits.extend(
        paging_limits(
            paginator,
            concurrency=concurrency,
            repeats=repeats + "; a lookback or windows catch skipped ones",
        )
    )
    if getattr(task, "incremental", None) is not None:
        found.limits.append(
            "The high-water mark is global to the task: a backfill of an old interval pulls "
            "since the mark, not that interval."
        )
    if record_key:
        found.limits.append("De-duplication holds one key per record in memory.")
    if not output:
        found.limits.append(
            "The default output is under `[apisync] output_base`, the worker's local disk "
            "unless set: multi-worker deployments set it to shared storage (`s3://` ...)."
        )
    return found


def _fanout(task: Any, parents: Any, concurrency: int) -> list[str | None]:
    """The dependent-pull lines: where parents come from, fields copied, actions."""
    upstream = getattr(getattr(parents, "operator", None), "task_id", None)
    if upstream:
        source = f"the records of {code(upstream)} (its manifest, via XCom)"
    elif isinstance(parents, list | tuple):
        source = f"{len(parents)} records given in the DAG"
    else:
        source = f"the records at {code(plain(parents))}"
    include = getattr(task, "include_from_parent", None) or {}
    rules = getattr(getattr(task, "response_actions", None), "rules", ())
    return [
        f"parents: {source}; `{{field}}` placeholders in the endpoint are filled from each "
        "parent (percent-encoded; a parent without the field, or making `.`/`..`, is "
        "dead-lettered unsent)",
        f"{concurrency} parent(s) in flight, sharing the connection's rate budget; output in "
        "parent order, one manifest",
        "copied into every record: "
        + ", ".join(f"{code(name)} = parent {code(path)}" for name, path in include.items())
        if include
        else None,
        "response actions: " + "; ".join(rule.describe() for rule in rules) if rules else None,
        "resume: a task retry skips the parents completed before the failure",
    ]


def _incremental(task: Any, params: Mapping[str, Any]) -> list[str]:
    inc = getattr(task, "incremental", None)
    if inc is not None:
        param = getattr(inc, "param", "?")
        lookback = getattr(inc, "lookback", None)
        initial = getattr(inc, "initial_value", None)
        outlets = [o for o in getattr(task, "outlets", ()) or () if hasattr(o, "uri")]
        store = (
            f"the `asset_state_store` of {code(outlets[0].uri)} (Airflow >= 3.3), else "
            if outlets
            else ""
        )
        key = f"apisync.hwm.{getattr(task, 'dag_id', '<dag_id>')}.{task.task_id}"
        return [
            f"high-water mark: the largest {code(getattr(inc, 'cursor_field', '?'))} among "
            f"the records written, sent as {code(param)}"
            + (f" = mark - {_lookback(lookback)}" if lookback else " = mark"),
            "first run: "
            + (f"{code(param)} = {code(plain(initial))}" if initial else "no filter (full pull)"),
            f"the mark is stored in {store}the Airflow Variable {code(key)}, only after "
            "`_manifest.json` is written (a failed run never moves it)",
        ]
    windowed = sorted(k for k, v in params.items() if is_templated(v))
    if windowed:
        return [
            f"templated window: {codes(windowed)} rendered per run (stateless; backfills and "
            "reruns pull their own interval)"
        ]
    return ["none: every run pulls everything the endpoint returns"]


def _lookback(lookback: Any) -> str:
    return duration(lookback) if hasattr(lookback, "total_seconds") else plain(lookback)


def _schema_text(schema: Mapping[str, Any]) -> str:
    props = sorted((schema.get("properties") or {}).keys())
    required = sorted(schema.get("required") or [])
    text = "JSON Schema per record"
    if required:
        text += f", required {codes(required)}"
    if props:
        text += f", {len(props)} propert{'y' if len(props) == 1 else 'ies'} checked"
    return text


@extractor("ApiBulkJobOperator")
def bulk(task: Any) -> Extract:
    """``ApiBulkJobOperator``: create -> (upload -> complete) -> poll -> results."""
    found = Extract("bulk", conn_id=getattr(task, "apisync_conn_id", None))
    create = getattr(task, "create_endpoint", None)
    up = getattr(task, "upload", None)  # BulkUpload; BulkResults below
    res = getattr(task, "results", None)
    status = getattr(task, "status_endpoint", None)
    results = getattr(res, "endpoint", None)
    urls_path = getattr(res, "urls_path", None)
    if create:
        found.calls.append(Call("POST", str(create), "create the job"))
    if up is not None:
        fmt = getattr(up, "format", "csv")
        found.calls.append(Call(up.method, str(up.endpoint), f"upload data in {fmt} chunks"))
        if up.complete_endpoint:
            found.calls.append(
                Call(up.complete_method, str(up.complete_endpoint), "mark the upload complete")
            )
    if status:
        found.calls.append(Call("GET", str(status), "poll the job state"))
    if results:
        found.calls.append(Call("GET", str(results), "page through results (locator)"))
    elif urls_path:
        found.calls.append(Call("GET", f"<URLs at {urls_path}>", "download result files"))
    headers = getattr(task, "headers", None) or {}
    found.add(
        "Request",
        f"create body: {code(plain(getattr(task, 'create_body', None)))}"
        if getattr(task, "create_body", None) is not None
        else None,
        f"upload source: {code(plain(up.records))}" if up is not None else None,
        f"headers: {', '.join(safe_headers(headers))}" if headers else None,
    )
    found.add("Waiting", *_bulk_waiting(task))
    idem = getattr(task, "idempotency_header", None)
    found.add(
        "Idempotency",
        f"the create request carries {code(idem)} (a per-try key): the client's retries of "
        "that POST are safe on APIs that honour it"
        if idem
        else "the create request carries no idempotency key",
        "job id, phase and progress are kept in the task state store (`apisync.bulk.job`; "
        "`_job.json` before Airflow 3.3): a task retry reuses the job, uploads only "
        "unacknowledged chunks and continues downloads; a failed job starts a new one",
    )
    found.add(
        "Pagination",
        f"results by `{getattr(res, 'locator_param', 'locator')}` from the "
        f"`{getattr(res, 'locator_header', 'Sforce-Locator')}` header until it is missing"
        if results
        else None,
        f"result file URLs at {code(urls_path)} of the final status; other hosts must be in "
        "the connection's `allowed_hosts`"
        if urls_path and not results
        else None,
    )
    found.add(
        "Retries",
        client_retries("POST", bool(idem), "job creations"),
        client_retries("GET", False, "status polls and result reads"),
    )
    output = getattr(task, "output_uri", None)
    found.add(
        "Outputs",
        f"JSONL part files and `_manifest.json` under "
        f"{code(output) if output else code(RUN_FOLDER) + ' (default)'}",
        "XCom: the manifest (uri, files, records, pages, requests, job_id, job_state, "
        "duration_s); outlet asset events carry it in `extra`",
    )
    found.limits.append(
        "A job still running at `polling.timeout` fails the try (`BulkJobTimeout`); the task retry "
        "keeps waiting for the same job."
    )
    if getattr(res, "format", "auto") in ("csv", "auto"):
        found.limits.append("CSV results keep every value as a string.")
    if urls_path and not results:
        found.limits.append(
            "Result URLs get the connection's credentials (after the host guard): pre-signed "
            "URLs that refuse an `Authorization` header fail; ZIP results are not unpacked."
        )
    if up is not None:
        found.limits.append(
            "A chunk whose acknowledgement was lost may be sent again by the client's retry: "
            "an API that appends uploads would hold it twice."
        )
    if not output:
        found.limits.append(
            "The default output is under `[apisync] output_base`, the worker's local disk "
            "unless set: multi-worker deployments set it to shared storage."
        )
    return found


def _bulk_waiting(task: Any) -> list[str]:
    poll, states = getattr(task, "polling", None), getattr(task, "states", None)
    timeout = getattr(poll, "timeout", None)
    deferrable = getattr(task, "deferrable", False)
    success = getattr(states, "success", ()) or ()
    failure = getattr(states, "failure", ()) or ()
    running = getattr(states, "running", None)
    lines = [
        f"job state at {code(getattr(task, 'status_path', 'state'))}: done on "
        f"{codes(success)}; fails on {codes(failure)}"
        + (f"; running while {codes(running)}, anything else fails fast" if running else ""),
        f"polls every {duration(getattr(poll, 'interval', None))}, growing "
        f"x{plain(getattr(poll, 'backoff', None))} per poll up to "
        f"{duration(getattr(poll, 'max_interval', None))}, "
        + (
            "deferred between polls (no worker slot held)"
            if deferrable
            else "sleeping in the worker between polls"
        ),
    ]
    if timeout is not None:
        lines.append(f"gives up after {duration(timeout)} per try")
    return lines
