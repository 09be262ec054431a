"""apisync errors as Airflow sees them: fail at once, or leave it to the task's retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_apisync.client.errors import ApiConfigError, ApiError
from airflow_provider_apisync.compat import AirflowFailException

__all__ = ["fail_fast", "failing_fast"]


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


@contextmanager
def failing_fast() -> Iterator[None]:
    """Run a task's body with :func:`fail_fast` applied to what escapes it.

    The mapped exception is raised ``from None``: Airflow prints one error, not a chain.
    """
    try:
        yield
    except (ApiConfigError, ApiError) as exc:
        mapped = fail_fast(exc)
        if mapped is exc:
            raise
        raise mapped from None
