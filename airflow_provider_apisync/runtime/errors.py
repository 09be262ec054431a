"""Shared pieces of the Airflow operators: error mapping and output locations."""

from __future__ import annotations

from airflow_provider_apisync.client.errors import ApiConfigError, ApiError
from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.runtime.locations import airflow_home, run_folder, storage_path
from airflow_provider_apisync.runtime.summary import SUMMARY_MARKER, log_summary

__all__ = [
    "SUMMARY_MARKER",
    "airflow_home",
    "fail_fast",
    "log_summary",
    "run_folder",
    "storage_path",
]


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
