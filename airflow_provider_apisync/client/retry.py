"""Which failures are retried, and how long to wait, as tenacity policy objects.

Retried: transport errors and 408/425/429/500/502/503/504.
- Idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) always.
- POST/PATCH only when an idempotency key is sent, or when the request provably did not
  get processed: the connection was never made (``never_sent``), or the server refused it
  with 429 (a rate-limit rejection is answered before the request is acted on).
- A 409 answering a keyed request (the same key still in flight) after a short wait.
- Never: TLS failures and redirect loops (``retryable=False`` on the error), other 4xx.

Wait: the server's hint (``Retry-After``, its ``-ms`` and body variants, or the rate-limit
reset) when present, else exponential backoff with full jitter. A hint never waits less
than the backoff base (0.5 s): ``Retry-After: 0`` or a date in the past would otherwise
burn every attempt within milliseconds. No wait exceeds
``max_wait``: when the server asks for longer, retrying earlier would only be refused
again, so the error is raised at once (Airflow's task retries or a sensor take over).
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
"""Wait after a 409 for a keyed request: the first request with that key is still running."""


@dataclass(frozen=True)
class RequestFacts:
    """What the retry decision needs to know about the logical request."""

    method: str
    has_idempotency_key: bool = False
    probe: bool = False  # a probe: see PROBE_POLICY

    @property
    def replay_safe(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS or self.has_idempotency_key


def is_retryable(error: BaseException, facts: RequestFacts) -> bool:
    """True when sending the same request again is both useful and safe."""
    if not isinstance(error, ApiError):
        return False
    if isinstance(error, ApiTransportError):
        return error.retryable and (facts.replay_safe or error.never_sent)
    if isinstance(error, ApiRateLimitError):
        return True  # refused before processing: safe for every method
    if error.status == 409 and facts.has_idempotency_key:
        return True
    if error.status in RETRY_STATUSES:
        return facts.replay_safe
    return False


def _hint(error: BaseException | None) -> float | None:
    hint = getattr(error, "retry_after", None)
    return None if hint is None else float(hint)


class retry_api_error(retry_base):
    """tenacity ``retry=`` predicate: :func:`is_retryable`, unless the server's requested
    wait is longer than ``max_wait``."""

    def __init__(self, facts: RequestFacts, max_wait: float | None = None) -> None:
        self.facts = facts
        self.max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        error = outcome.exception()
        if error is None or not is_retryable(error, self.facts):
            return False
        if isinstance(error, ApiRateLimitError) and self.facts.probe:
            return False  # for a probe, a 429 is the answer
        hint = _hint(error)
        return self.max_wait is None or hint is None or hint <= self.max_wait


class wait_server_hint(wait_base):
    """The server's hint when present, else full-jitter backoff; capped by ``max_wait``."""

    def __init__(
        self, max_wait: float, base: float = 0.5, rng: Callable[[], float] = random.random
    ):
        self.max_wait = max_wait
        self.base = base
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = _hint(error)
        if hint is not None:
            return min(max(hint, self.base), self.max_wait)
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
            retry=retry_api_error(facts, None if facts.probe else self.max_wait),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


PROBE_RETRIES = 2
PROBE_MAX_WAIT = 2.0
PROBE_POLICY = RetryPolicy(PROBE_RETRIES, PROBE_MAX_WAIT)
"""For probes (``RequestFacts.probe``: sensors, ``test_connection``): a dropped connection
or a 5xx is retried twice within seconds, whatever wait the server hints; a 429 or a 403
never -- the caller reports "closed until T" at once."""


RETRYABLE_CLASSES = (ApiTransportError, ApiServerError, ApiRateLimitError)
