"""The client's retry, backoff and rate-limit rules, described in words.

Read from the policy code itself (``client/retry.py`` constants, ``RetryPolicy`` defaults,
``ClientConfig`` defaults) and checked by asking the pure retry functions, so the pages
change when the policy does and never describe rules the client does not follow.
"""

from __future__ import annotations

import contextlib
from dataclasses import fields

from airflow_provider_apisync.client import retry
from airflow_provider_apisync.client.config import ClientConfig
from airflow_provider_apisync.client.errors import ApiRateLimitError, ApiServerError
from airflow_provider_apisync.describe.values import code, codes, duration

WRITE_METHODS = ("PATCH", "POST")


def config_default(name: str) -> object:
    """The default of one ``ClientConfig`` field (what a connection gets when unset)."""
    for item in fields(ClientConfig):
        if item.name == name:
            return item.default
    raise KeyError(name)


def default_timeout() -> tuple[float, float]:
    """The (connect, read) timeout a connection gets when its extra sets none."""
    value = config_default("timeout")
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]), float(value[1])
    return float(value), float(value)  # type: ignore[arg-type]


def replay_safe(method: str, keyed: bool) -> bool:
    """Whether the client resends ``method`` after a 5xx or a dropped connection."""
    return retry.RequestFacts(method.upper(), has_idempotency_key=keyed).replay_safe


def rate_limit_any_method() -> bool:
    """Whether a 429 is retried for POST without a key (refused before processing)."""
    error = ApiRateLimitError("probe", status=429)
    return retry.is_retryable(error, retry.RequestFacts("POST"))


def long_hint_raises() -> bool:
    """Whether a server asking for a wait longer than ``max_retry_wait`` ends retries."""
    calls = 0

    def fail() -> None:
        nonlocal calls
        calls += 1
        raise ApiServerError("probe", status=503, retry_after=10.0)

    policy = retry.RetryPolicy(max_retries=1, max_wait=1.0)
    controller = policy.retrying(retry.RequestFacts("GET"), sleep=lambda _: None)
    with contextlib.suppress(ApiServerError):
        controller(fail)
    return calls == 1


def retry_rules() -> list[str]:
    """The client's retry and backoff rules, one bullet each (Markdown)."""
    statuses = ", ".join(str(s) for s in sorted(retry.RETRY_STATUSES))
    safe = codes(sorted(retry.IDEMPOTENT_METHODS))
    max_retries = config_default("max_retries")
    max_wait = config_default("max_retry_wait")
    base = retry.RetryPolicy().backoff_base
    writes = (
        f"{codes(WRITE_METHODS)} only when the request carries an idempotency key or the "
        "connection was never made"
    )
    if rate_limit_any_method():
        writes += ", and after a 429 (refused before it was processed)"
    cap = f"the connection's `max_retry_wait` (default {duration(max_wait)})"
    if long_hint_raises():
        cap = (
            f"backoff waits are capped at {cap}; a server asking for a longer wait ends the "
            "retries at once (the error goes to the task)"
        )
    else:
        cap = f"every wait is capped at {cap}"
    return [
        f"**Retried by the client**: connection errors, timeouts and HTTP {statuses}, up to "
        f"`max_retries` more attempts (connection extra; default {max_retries}).",
        f"**Which methods**: {safe} always; {writes}. A 409 answering a keyed request "
        f"(the same key still in flight) is retried after {duration(retry.IN_FLIGHT_WAIT)}.",
        "**Wait before a retry**: the server's `Retry-After` (seconds or HTTP date) when "
        "present, else the announced rate-limit reset, else exponential backoff with full "
        f"jitter (random, up to {duration(base)} * 2^(attempt - 1)); {cap}.",
        "**Not retried**: 401/403 (a 401 first reloads the connection once, for rotated "
        "credentials), other 4xx, contract errors and foreign hosts: the task fails at once "
        "(`AirflowFailException`, no task retries spent). Retryable errors left after the "
        "client's attempts go to the task's own Airflow `retries`.",
    ]


def rate_limit_rules() -> list[str]:
    """How the client paces itself, one bullet each (Markdown)."""
    connect, read = default_timeout()
    return [
        "**Server quotas**: every response's IETF `RateLimit`/`RateLimit-Policy`, "
        "`X-RateLimit-*` and vendor headers are read; when the remaining quota is spent the "
        "client waits for the announced reset instead of taking a 429.",
        "**Client-side budget**: the connection's `rate_limit` "
        '(`{"requests": N, "per_seconds": S}`) paces every request of a task, shared by its '
        "threads (none unless set). Separate tasks and DAG runs do not share a budget.",
        f"**Timeouts**: connect {duration(connect)}, read {duration(read)} unless the "
        "connection's `timeout` says otherwise; a request never runs without one.",
    ]


def client_retries(method: str, keyed: bool, what: str = "requests") -> str:
    """One sentence: does the client resend this task's ``method`` requests on 5xx/drops?"""
    shown = f"{code(method.upper())} {what}"
    if replay_safe(method, keyed):
        keyed_write = keyed and method.upper() in WRITE_METHODS
        why = "idempotency key" if keyed_write else "idempotent method"
        return f"{shown} are resent on retryable failures ({why})."
    also = ", and after a 429" if rate_limit_any_method() else ""
    return (
        f"{shown} without an idempotency key are not resent after a 5xx or a dropped "
        f"connection (they may have been applied); only when the connection was never "
        f"made{also}."
    )
