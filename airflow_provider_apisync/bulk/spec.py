"""What a bulk job is: the DAG author's spec objects, the rendered configuration, checks.

``ApiBulkJobOperator`` takes its settings grouped as ``Incremental`` groups a pull's:
:class:`BulkUpload` (what to send, and closing the upload), :class:`BulkResults` (where
the results are and how they read), :class:`BulkStates` (what the job's states mean) and
:class:`BulkPolling` (how often and how long to wait). :class:`BulkSpec` is the flat,
rendered configuration the job engine reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from airflow_provider_apisync.bulk.formats import RESULT_FORMATS, UPLOAD_FORMATS
from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.compat import AirflowException

#: Terminal states, compared case-insensitively (Salesforce, HubSpot and common spellings).
SUCCESS_STATES = ("JobComplete", "COMPLETE", "completed", "succeeded", "success", "done")
FAILURE_STATES = ("Failed", "Aborted", "CANCELED", "cancelled", "error", "expired")
RESULT_MODES = ("locator", "urls", "none")

#: ApiBulkJobOperator's flat arguments before the spec objects -> what to write now.
BULK_RENAMED = {
    **{
        f"upload_{name}": f"upload=BulkUpload({name}=...)"
        for name in ("endpoint", "method", "format", "columns", "chunk_records", "chunk_bytes")
    },
    **{
        f"complete_{name}": f"upload=BulkUpload(complete_{name}=...)"
        for name in ("endpoint", "method", "body")
    },
    "result_mode": "results=BulkResults(mode=...)",
    "results_endpoint": "results=BulkResults(endpoint=...)",
    "results_params": "results=BulkResults(query=...)",
    "locator_param": "results=BulkResults(locator_param=...)",
    "locator_header": "results=BulkResults(locator_header=...)",
    "result_urls_path": "results=BulkResults(urls_path=...)",
    "result_format": "results=BulkResults(format=...)",
    "records_path": "results=BulkResults(records_path=...)",
    "success_states": "states=BulkStates(success=...)",
    "failure_states": "states=BulkStates(failure=...)",
    "running_states": "states=BulkStates(running=...)",
    "error_path": "states=BulkStates(error_path=...)",
    "poll_interval": "polling=BulkPolling(interval=...)",
    "poll_backoff": "polling=BulkPolling(backoff=...)",
    "max_poll_interval": "polling=BulkPolling(max_interval=...)",
    "timeout": "polling=BulkPolling(timeout=...)",
}


class BulkJobTimeout(AirflowException):
    """The job was still running at ``timeout``. Retryable: the next try reuses the job."""


def number(name: str, value: Any, *, minimum: float, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ApiConfigError(name, f"must be a number >= {minimum:g}, got {value!r}.")
    return value


def seconds(name: str, value: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return float(number(name, value, minimum=0.001))


def states(name: str, value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value or ())
    if not items or not all(isinstance(s, str) and s for s in items):
        raise ApiConfigError(name, f"must be a non-empty list of state names, got {value!r}.")
    return items


def needs_job_id(name: str, endpoint: Any) -> None:
    """An endpoint of one job must say where its id goes."""
    if endpoint is not None and (not isinstance(endpoint, str) or "{job_id}" not in endpoint):
        raise ApiConfigError(
            name,
            f"'{endpoint}' does not say where the job id goes.",
            "write it with a {job_id} placeholder, e.g. '/jobs/ingest/{job_id}'.",
        )


def infer_result_mode(mode: str | None, endpoint: str | None, urls_path: str | None) -> str:
    """``results.mode`` as given, else from which of the two result settings is present."""
    if mode is None:
        mode = "locator" if endpoint else "urls" if urls_path else "none"
    if mode not in RESULT_MODES:
        raise ApiConfigError("results.mode", f"'{mode}' is not one of {RESULT_MODES}.")
    if mode == "locator" and not endpoint:
        raise ApiConfigError("results.endpoint", "is required for mode='locator'.", "")
    if mode == "urls" and not urls_path:
        raise ApiConfigError(
            "results.urls_path",
            "is required for mode='urls'.",
            "give the dotted path of the file URL(s), e.g. 'result'.",
        )
    return mode


@dataclass
class BulkUpload:
    """Upload ``records`` (a JSONL URI, a pull's folder or manifest, or a list of dicts) in
    chunks to ``endpoint`` (with ``{job_id}``), then close the upload with
    ``complete_method complete_endpoint`` + ``complete_body`` (Salesforce: PATCH
    ``{"state": "UploadComplete"}``; None: no such call). Memory holds one chunk."""

    template_fields: ClassVar[tuple[str, ...]] = (
        "records",
        "endpoint",
        "complete_endpoint",
        "complete_body",
    )
    records: Any
    endpoint: str
    method: str = "PUT"
    format: str = "csv"
    columns: Sequence[str] | None = None
    chunk_records: int | None = 10_000
    chunk_bytes: int | None = 50 * 1024 * 1024
    complete_endpoint: str | None = None
    complete_method: str = "PATCH"
    complete_body: Any = None  # None: {"state": "UploadComplete"}

    def __post_init__(self) -> None:
        if self.complete_body is None:
            self.complete_body = {"state": "UploadComplete"}
        needs_job_id("upload.endpoint", self.endpoint)
        needs_job_id("upload.complete_endpoint", self.complete_endpoint)
        self.method = self.method.upper()
        if self.method not in ("PUT", "POST", "PATCH"):
            raise ApiConfigError("upload.method", f"'{self.method}' is not PUT, POST or PATCH.")
        self.complete_method = self.complete_method.upper()
        if self.format not in UPLOAD_FORMATS:
            raise ApiConfigError("upload.format", f"'{self.format}' is not 'csv' or 'jsonl'.")
        self.columns = list(self.columns) if self.columns else None
        for name in ("chunk_records", "chunk_bytes"):
            number(f"upload.{name}", getattr(self, name), minimum=1, allow_none=True)


@dataclass
class BulkResults:
    """Where the results are. ``mode``: ``locator`` (GET ``endpoint`` + ``query``, then again
    with ``locator_param`` = the ``locator_header`` value until it is missing or ``null``),
    ``urls`` (download every URL at ``urls_path`` of the final status; other hosts must be
    in the connection's ``allowed_hosts``) or ``none``; default: inferred from which of
    ``endpoint``/``urls_path`` is set. ``format``: ``auto`` (by Content-Type or extension),
    ``csv``, ``jsonl`` or ``json`` (``records_path`` selects the list)."""

    template_fields: ClassVar[tuple[str, ...]] = ("endpoint", "query", "urls_path")
    mode: str | None = None
    endpoint: str | None = None
    query: Mapping[str, Any] | None = None
    locator_param: str = "locator"
    locator_header: str = "Sforce-Locator"
    urls_path: str | None = None
    format: str = "auto"
    records_path: str | None = None

    def __post_init__(self) -> None:
        needs_job_id("results.endpoint", self.endpoint)
        self.mode = infer_result_mode(self.mode, self.endpoint, self.urls_path)
        self.query = dict(self.query) if self.query else None
        if self.format not in RESULT_FORMATS:
            raise ApiConfigError("results.format", f"'{self.format}' is not {RESULT_FORMATS}.")


@dataclass
class BulkStates:
    """Terminal states (case-insensitive). Anything else means "still running", unless
    ``running`` lists the running ones: then an unlisted state fails fast instead of being
    polled until the timeout. ``error_path``: where a failed job's reason is (default:
    ``errorMessage``, ``errors.0.message``, ``error.message``, ``error``)."""

    success: Sequence[str] = SUCCESS_STATES
    failure: Sequence[str] = FAILURE_STATES
    running: Sequence[str] | None = None
    error_path: str | None = None

    def __post_init__(self) -> None:
        self.success = states("states.success", self.success)
        self.failure = states("states.failure", self.failure)
        overlap = {s.casefold() for s in self.success} & {s.casefold() for s in self.failure}
        if overlap:
            raise ApiConfigError("states.failure", f"shares {sorted(overlap)} with success.")
        if self.running is not None:
            self.running = states("states.running", self.running)


@dataclass
class BulkPolling:
    """Wait ``interval`` seconds before the second poll, growing x``backoff`` per poll up
    to ``max_interval``; give up after ``timeout`` (seconds or timedelta) per try with
    :class:`BulkJobTimeout` -- a retry keeps waiting for the same job."""

    interval: float | timedelta = 5.0
    backoff: float = 1.5
    max_interval: float | timedelta = 60.0
    timeout: float | timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        self.interval = seconds("polling.interval", self.interval)
        self.backoff = float(number("polling.backoff", self.backoff, minimum=1))
        self.max_interval = seconds("polling.max_interval", self.max_interval)
        if self.max_interval < self.interval:
            raise ApiConfigError("polling.max_interval", "is shorter than interval.")
        self.timeout = seconds("polling.timeout", self.timeout)


@dataclass
class BulkSpec:
    """A rendered bulk-job configuration (endpoints may hold ``{job_id}``)."""

    create_endpoint: str
    create_body: Any
    status_endpoint: str
    job_id_path: str = "id"
    status_path: str = "state"
    success_states: tuple[str, ...] = ()
    failure_states: tuple[str, ...] = ()
    running_states: tuple[str, ...] | None = None
    error_path: str | None = None
    headers: dict[str, str] | None = None
    upload: Any = None  # anything ``records_source`` takes: JSONL URI, pull folder/manifest
    upload_endpoint: str | None = None
    upload_method: str = "PUT"
    upload_format: str = "csv"
    upload_columns: list[str] | None = None
    upload_chunk_records: int | None = 10_000
    upload_chunk_bytes: int | None = 50 * 1024 * 1024
    complete_endpoint: str | None = None
    complete_method: str = "PATCH"
    complete_body: Any = None
    result_mode: str = "none"
    results_endpoint: str | None = None
    results_params: dict[str, Any] | None = None
    locator_param: str = "locator"
    locator_header: str = "Sforce-Locator"
    result_urls_path: str | None = None
    result_format: str = "auto"
    records_path: str | None = None
    csv_delimiter: str = ","
    part_size: int = 64 * 1024 * 1024
    idempotency_header: str | None = None

    def endpoint(self, template: str, job_id: str) -> str:
        """``template`` with the server-assigned ``{job_id}`` as exactly one path segment."""
        if job_id.strip() in ("", ".", ".."):
            raise ApiContractError(
                f"the server assigned the job id '{job_id}', which cannot be a path segment "
                "(it would address another resource)"
            )
        return template.replace("{job_id}", quote(job_id, safe=""))

    def classify(self, state: Any) -> str:
        """``success``, ``failure`` or ``running`` (case-insensitive); ``unknown`` when
        ``running_states`` is set and the state is in none of the lists."""
        text = str(state).casefold()
        if text in {s.casefold() for s in self.success_states}:
            return "success"
        if text in {s.casefold() for s in self.failure_states}:
            return "failure"
        if self.running_states is None or text in {s.casefold() for s in self.running_states}:
            return "running"
        return "unknown"

    def identity(self) -> list[Any]:
        """What makes two tries the same job (used in the record's fingerprint)."""
        return [
            self.create_endpoint,
            self.create_body,
            self.status_endpoint,
            self.upload,
            self.upload_endpoint,
            self.upload_format,
            self.upload_columns,
            self.upload_chunk_records,
            self.upload_chunk_bytes,
        ]
