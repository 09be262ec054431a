"""Which failures are retried, and how long to wait, as tenacity policy objects.

Retried: transport errors and 408/425/429/500/502/503/504; idempotent methods always,
POST/PATCH only with an idempotency key or when the request never reached the server.
A 409 answering a keyed request (same key still in flight) is retried after a short wait.
Wait: ``Retry-After`` when present, else the rate-limit reset, else exponential backoff
with full jitter; every wait is capped by ``max_wait``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, stop_after_attempt
from tenacity.retry import retry_base
from tenacity.wait import wait_base

from airflow_provider_apisync.client.errors import (
    ApiError,
    ApiRateLimitError,
    ApiServerError,
    ApiTransportError,
)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
IN_FLIGHT_WAIT = 0.5


@dataclass(frozen=True)
class RequestFacts:
    """What the retry decision needs to know about the logical request."""

    method: str
    has_idempotency_key: bool = False

    @property
    def replay_safe(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS or self.has_idempotency_key


def is_retryable(error: BaseException, facts: RequestFacts) -> bool:
    """True when sending the same request again is both useful and safe."""
    if not isinstance(error, ApiError):
        return False
    if isinstance(error, ApiTransportError):
        return facts.replay_safe or error.never_sent
    if error.status == 409 and facts.has_idempotency_key:
        return True
    if error.status in RETRY_STATUSES:
        return facts.replay_safe
    return False


class retry_api_error(retry_base):
    """tenacity ``retry=`` predicate built on :func:`is_retryable`."""

    def __init__(self, facts: RequestFacts) -> None:
        self.facts = facts

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        return is_retryable(outcome.exception(), self.facts)  # type: ignore[arg-type]


class wait_server_hint(wait_base):
    """``Retry-After``/reset hint from the error when present, else full-jitter backoff."""

    def __init__(
        self, max_wait: float, base: float = 0.5, rng: Callable[[], float] = random.random
    ):
        self.max_wait = max_wait
        self.base = base
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return min(float(hint), self.max_wait)
        if isinstance(error, ApiError) and error.status == 409:
            return min(IN_FLIGHT_WAIT, self.max_wait)
        ceiling = min(self.max_wait, self.base * 2 ** (retry_state.attempt_number - 1))
        return self.rng() * ceiling


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and waits for one client; ``retrying()`` builds the tenacity controller."""

    max_retries: int = 5
    max_wait: float = 60.0
    backoff_base: float = 0.5

    def retrying(
        self,
        facts: RequestFacts,
        *,
        sleep: Callable[[float], None],
        before_sleep: Callable[[RetryCallState], None] | None = None,
    ) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_server_hint(self.max_wait, self.backoff_base),
            retry=retry_api_error(facts),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


RETRYABLE_CLASSES = (ApiTransportError, ApiServerError, ApiRateLimitError)
