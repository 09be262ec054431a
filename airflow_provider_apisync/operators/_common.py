"""Shared pieces of the Airflow operators: error mapping and output locations."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_apisync.client.errors import ApiConfigError, ApiError
from airflow_provider_apisync.operators.output_base import task_run_path

try:  # Airflow 3.x
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - older layouts
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]


def fail_fast(exc: BaseException) -> BaseException:
    """Non-retryable categories become ``AirflowFailException`` (no wasted task retries).

    Retryable ones (server, transport, rate limit) are returned unchanged so Airflow's
    task retries — and the resume checkpoints — can take over.
    """
    if isinstance(exc, ApiConfigError):
        return AirflowFailException(str(exc))
    if isinstance(exc, ApiError) and not exc.retryable:
        return AirflowFailException(f"{type(exc).__name__}: {exc}")
    return exc


def run_folder(context: Mapping[str, Any], kind: str = "") -> ObjectStoragePath:
    """``<[apisync] output_base>/<dag_id>/<task_id>/<run_id>[/map_<i>]/[kind]`` for this run.

    The default for outputs, ledgers and reports when the user gives no URI; see
    :mod:`airflow_provider_apisync.operators.output_base` (one base for every worker).
    """
    return task_run_path(context, kind)


def storage_path(uri: str | os.PathLike[str], *, field: str) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a user-supplied URI or local path, with a clear error."""
    text = os.fspath(uri)
    if not text:
        raise ApiConfigError(field, "is empty.", "give a URI such as file:///data/out or s3://b/k.")
    if "://" not in text:
        text = "file://" + os.path.abspath(text)
    try:
        return ObjectStoragePath(text)
    except Exception as exc:
        raise ApiConfigError(
            field,
            f"'{text}' is not a usable storage URI ({exc}).",
            "use file://, s3://, gs:// ... with the matching Airflow provider installed.",
        ) from None


SUMMARY_MARKER = "apisync-summary"


def log_summary(log: Any, task_id: str, summary: Mapping[str, Any]) -> None:
    """One machine-readable line per task (``apisync-summary {json}``) for logs and the demo."""
    import json

    log.info("%s %s", SUMMARY_MARKER, json.dumps({"task_id": task_id, **summary}, default=str))
