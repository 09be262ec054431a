"""What a bulk job is: its rendered configuration, and the checks on operator arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.compat import AirflowException

#: Terminal states, compared case-insensitively (Salesforce, HubSpot and common spellings).
SUCCESS_STATES = ("JobComplete", "COMPLETE", "completed", "succeeded", "success", "done")
FAILURE_STATES = ("Failed", "Aborted", "CANCELED", "cancelled", "error", "expired")
RESULT_MODES = ("locator", "urls", "none")


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` (False when unset)."""
    from airflow_provider_apisync.compat import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


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
    """``result_mode`` as given, else from which of the two result settings is present."""
    if mode is None:
        mode = "locator" if endpoint else "urls" if urls_path else "none"
    if mode not in RESULT_MODES:
        raise ApiConfigError("result_mode", f"'{mode}' is not one of {RESULT_MODES}.")
    if mode == "locator" and not endpoint:
        raise ApiConfigError("results_endpoint", "is required for result_mode='locator'.", "")
    if mode == "urls" and not urls_path:
        raise ApiConfigError(
            "result_urls_path",
            "is required for result_mode='urls'.",
            "give the dotted path of the file URL(s), e.g. 'result'.",
        )
    return mode


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
