"""``ApiClient``: one authenticated, guarded, retrying, rate-aware HTTP client per system."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import requests
from tenacity import RetryCallState

from airflow_provider_apisync.client.auth import (
    OAuth2Auth,
    OAuth2RefreshToken,
    SecretSink,
    TokenGrantError,
    build_auth,
)
from airflow_provider_apisync.client.body import BodyTooLarge, DeadlineExceeded, read_body
from airflow_provider_apisync.client.config import ClientConfig
from airflow_provider_apisync.client.errors import (
    BODY_LIMIT,
    ApiAuthError,
    ApiContractError,
    ApiError,
    ApiRateLimitError,
    error_for_exception,
    error_for_status,
    redact_secrets,
)
from airflow_provider_apisync.client.lifecycle import LifecycleWatcher
from airflow_provider_apisync.client.metrics import ClientStats, MetricSink
from airflow_provider_apisync.client.pagination import Pages, PaginatorArg, paginate
from airflow_provider_apisync.client.progress import ProgressLog
from airflow_provider_apisync.client.ratelimit import (
    QuotaWaitTooLong,
    RateLimitStatus,
    Throttle,
    closed_window,
    parse_rate_limit,
    parse_retry_after,
)
from airflow_provider_apisync.client.retry import PROBE_POLICY, RequestFacts, RetryPolicy
from airflow_provider_apisync.client.session import GuardedSession
from airflow_provider_apisync.client.store import Fleet
from airflow_provider_apisync.client.urls import (
    HostGuard,
    join_url,
    path_of,
    redact_url,
    strip_query_params,
)

audit_log = logging.getLogger("airflow_provider_apisync.audit")
log = logging.getLogger(__name__)

LONG_WAIT_S = 10.0
"""A retry waiting at least this long is logged at INFO even when per-request lines are not."""


class _RedactRequestLine(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string and all: redact its values."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 4 and isinstance(args[4], str):
            record.args = (*args[:4], path_of(args[4]), *args[5:])
        return True


_urllib3_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _RedactRequestLine) for f in _urllib3_log.filters):
    _urllib3_log.addFilter(_RedactRequestLine())


def _ignore(_: str) -> None:
    return None


class ApiClient:
    """Sends requests to one system with auth, host guard, retries, pacing and audit lines.

    ``reload_config`` (optional) returns a fresh configuration; it is called once when a
    request gets a 401, so credentials rotated in a secrets backend are picked up.
    ``quota_floor`` keeps that many units of the server's quota unused (for other
    consumers): the throttle waits for the reset when the remaining quota reaches it.
    One client is meant to be shared by all threads of a task (pacing and budget are).
    ``fleet`` (optional) shares the budget, quota news and OAuth2 tokens with every other
    worker through a shared store (see ``client.store``).

    ``probe=True`` (sensors, ``test_connection``): every request is a probe -- it never
    waits for the quota or the budget and never retries a 429 (the answer is "closed until
    T"); a dropped connection or a 5xx is retried twice within seconds. What a probe learns
    still reaches the throttle and the fleet. ``request(..., probe=True)`` probes once on
    any client.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        on_secret: SecretSink = _ignore,
        reload_config: Callable[[], ClientConfig] | None = None,
        metrics: MetricSink | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 32,
        quota_floor: int = 0,
        fleet: Fleet | None = None,
        probe: bool = False,
    ) -> None:
        self.config = config
        self.probe = probe
        self.fleet = fleet
        if fleet is not None and fleet.metrics is None:
            fleet.metrics = metrics
        self._on_secret = on_secret
        self._minted: set[str] = set()  # run-time secrets (tokens), redacted from errors
        self._reload_config = reload_config
        self._sleep = sleep
        self.stats = ClientStats(sink=metrics) if metrics else ClientStats()
        self.guard = HostGuard(config.base_url, config.allowed_hosts)
        self.session = GuardedSession(self.guard, pool_size=pool_size)
        self.session.verify = config.verify
        self.session.headers["User-Agent"] = config.user_agent
        self.session.headers["Accept"] = "application/json"
        self.session.headers.update(config.headers)
        self._auth_lock = threading.Lock()
        self.auth = self._build_auth(config)
        self.session.auth = self.auth
        self.retry_policy = RetryPolicy(config.max_retries, config.max_retry_wait)
        self.lifecycle = LifecycleWatcher(
            on_signal=lambda kind: self.stats.sink("incr", f"lifecycle.{kind}", 1)
        )
        self.throttle = Throttle(
            config.rate_limit,
            floor=quota_floor,
            max_wait=config.max_retry_wait,
            sleep=sleep,
            fleet=fleet,
        )
        self.progress = ProgressLog(self.stats, config.progress_every)
        self._retry_local = threading.local()

    # -- public API -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.config.base_url

    def url_for(self, endpoint: str) -> str:
        """The absolute URL for ``endpoint``; raises ``ForeignHostError`` for other origins."""
        url = join_url(self.config.base_url, endpoint)
        self.guard.check(url)
        return url

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        timeout: tuple[float, float] | None = None,
        stream: bool = False,
        probe: bool | None = None,
    ) -> requests.Response:
        """One logical request: retried per policy, returned only when the status is < 400.

        ``probe``: send it as a probe (see the class); None = the client's ``probe`` mode.
        """
        method = method.upper()
        url = self.url_for(endpoint)
        send_headers, correlation_id = _with_correlation(headers, self.config.correlation_header)
        if idempotency_key:
            send_headers[idempotency_header] = idempotency_key
        facts = RequestFacts(method, bool(idempotency_key), self.probe if probe is None else probe)
        kwargs: dict[str, Any] = {
            "params": params,
            "json": json,
            "data": data,
            "headers": send_headers,
            "timeout": timeout or self.config.timeout,
            "stream": stream,
        }
        self.stats.request()
        auth_used = self.auth
        try:
            return self._with_retries(method, url, facts, correlation_id, kwargs, idempotency_key)
        except ApiAuthError as exc:
            if not self._recover_auth(exc, auth_used):
                self.stats.error(exc.category)
                raise
            log.warning("%s from %s: credentials renewed, retrying once", exc.status, path_of(url))
        except ApiError as exc:
            self.stats.error(exc.category)
            raise
        try:
            return self._with_retries(method, url, facts, correlation_id, kwargs, idempotency_key)
        except ApiError as exc:
            self.stats.error(exc.category)
            raise

    def get_json(self, endpoint: str, **kwargs: Any) -> Any:
        """GET and decode JSON, raising ``ApiContractError`` on a body that is not JSON."""
        from airflow_provider_apisync.client.records import decode_json

        resp = self.request("GET", endpoint, **kwargs)
        return decode_json(resp)

    def paginate(
        self,
        endpoint: str,
        *,
        paginator: PaginatorArg = "auto",
        records_path: str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        max_pages: int | None = None,
        max_records: int | None = None,
        concurrency: int = 1,
        state: Mapping[str, Any] | None = None,
        max_empty_pages: int | None = None,
    ) -> Pages:
        """Iterate pages (``.records``, ``.response``, ``.state``); see ``client.pagination``."""
        return paginate(
            self,
            endpoint,
            paginator=paginator,
            records_path=records_path,
            params=params,
            headers=headers,
            max_pages=max_pages,
            max_records=max_records,
            concurrency=concurrency,
            state=state,
            **({"max_empty_pages": max_empty_pages} if max_empty_pages else {}),
        )

    def rate_limit_status(self, endpoint: str = "/") -> RateLimitStatus:
        """Probe ``endpoint`` with one GET and report the announced quota (429 included)."""
        try:
            resp = self.request("GET", endpoint, probe=True)
        except ApiError as exc:
            closed = closed_window(exc)
            if closed is None:
                raise
            return closed.status
        return parse_rate_limit(resp.headers) or RateLimitStatus()

    def strip_credentials(self, url: str) -> str:
        """``url`` without the query parameters the auth adds (``api_key_query_param``).

        For URLs that are stored (checkpoints, manifests, dead letters): the auth puts
        the credential back on every request it sends, so nothing is lost.
        """
        name = getattr(self.auth, "query_param", None)
        return strip_query_params(url, {name}) if name else url

    def known_secrets(self) -> list[str]:
        """Every secret of this connection, configured or minted at run time."""
        auth = self.config.auth
        found = {auth.secret, auth.refresh_token, *self._minted}
        return sorted((s for s in found if s and len(s) >= 4), key=len, reverse=True)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------
    def _build_auth(self, config: ClientConfig) -> Any:
        auth = build_auth(
            config.auth,
            timeout=config.timeout,
            verify=config.verify,
            user_agent=config.user_agent,
            on_secret=self._remember_secret,
        )
        if isinstance(auth, OAuth2Auth):
            auth.attach_fleet(self.fleet)
        return auth

    def _remember_secret(self, secret: str) -> None:
        self._minted.add(secret)
        self._on_secret(secret)

    def _recover_auth(self, error: ApiAuthError | None = None, auth_used: Any = None) -> bool:
        """After a 401 (or a refused token grant): True when a retry may now succeed.

        In order: another thread already swapped the credentials -> retry; the reloaded
        connection has other auth settings -> swap them in (a rotated refresh token is kept
        when the connection still holds the original one) and retry; an OAuth2 token that
        the API refused -> drop it (unless another thread already replaced it) and retry.
        403 is a permission problem, not stale credentials: never retried.
        """
        if error is not None and error.status != 401 and not isinstance(error, TokenGrantError):
            return False
        with self._auth_lock:
            if auth_used is not None and self.auth is not auth_used:
                return True
            if self._reload_config is not None:
                fresh = self._reload_config()
                if fresh.auth != self.config.auth:
                    self._swap_auth(fresh)
                    return True
            if isinstance(error, TokenGrantError):
                return False  # same grant again would be refused again
            if isinstance(self.auth, OAuth2Auth):
                return self.auth.invalidate_if_current()
            return False

    def _swap_auth(self, fresh: ClientConfig) -> None:
        """Use ``fresh.auth`` from now on; everything else in the config stays as it was."""
        new_auth = self._build_auth(fresh)
        old = self.auth
        if (
            isinstance(old, OAuth2RefreshToken)
            and isinstance(new_auth, OAuth2RefreshToken)
            and new_auth.initial_refresh_token == old.initial_refresh_token
        ):
            # The secrets backend still holds the token we started with; the server has
            # already rotated it, so only the newest one we received is still valid.
            new_auth._rotated(old.current_refresh_token)
        self.config = replace(self.config, auth=fresh.auth)
        self.auth = self.session.auth = new_auth

    def _with_retries(
        self,
        method: str,
        url: str,
        facts: RequestFacts,
        correlation_id: str,
        kwargs: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> requests.Response:
        policy = PROBE_POLICY if facts.probe else self.retry_policy
        retrying = policy.retrying(facts, sleep=self._retry_sleep, before_sleep=self._before_sleep)
        for attempt in retrying:
            with attempt:
                return self._attempt(
                    method,
                    url,
                    correlation_id,
                    attempt.retry_state.attempt_number,
                    kwargs,
                    idempotency_key,
                    gate=not facts.probe,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _before_sleep(self, state: RetryCallState) -> None:
        """Called by tenacity once per retry, with the wait it is about to sleep."""
        self.stats.retry()
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self._retry_local.rate_limited = isinstance(error, ApiRateLimitError)
        # Per-request detail, like the audit lines; a long wait is always worth a line.
        level = logging.INFO if wait >= LONG_WAIT_S else self.audit_level
        log.log(
            level,
            "retrying after %s in %.2fs (attempt %d)",
            _short(error),
            wait,
            state.attempt_number,
        )

    def _retry_sleep(self, seconds: float) -> None:
        """Tenacity's sleep; a wait for a rate limit is counted as throttled."""
        if not getattr(self._retry_local, "rate_limited", False) or seconds <= 0:
            self._sleep(seconds)
            return
        self._retry_local.rate_limited = False
        with self.stats.waiting():
            self._sleep(seconds)
            self.stats.throttle(seconds)

    @property
    def audit_level(self) -> int:
        """DEBUG, or INFO when the connection's extra sets ``log_requests``."""
        return logging.INFO if self.config.log_requests else logging.DEBUG

    def _attempt(
        self,
        method: str,
        url: str,
        correlation_id: str,
        attempt: int,
        kwargs: dict[str, Any],
        idempotency_key: str | None = None,
        *,
        gate: bool = True,
    ) -> requests.Response:
        """One HTTP attempt: wait for the throttle, send, classify, audit."""
        if gate:
            try:
                with self.stats.waiting():
                    self.stats.throttle(self.throttle.before_request())
            except QuotaWaitTooLong as exc:
                raise self._quota_error(exc, method, url, correlation_id, attempt) from None
        started = time.perf_counter()
        deadline = time.monotonic() + self.config.deadline
        try:
            resp = self.session.request(method, url, **{**kwargs, "stream": True})
            if not kwargs.get("stream") or resp.status_code >= 400:
                self._read_body(resp, method, correlation_id, attempt, deadline)
        except requests.RequestException as exc:
            self.throttle.release()
            ms = (time.perf_counter() - started) * 1000
            kind = type(exc).__name__
            sent = getattr(getattr(exc, "request", None), "url", None) or url
            self.stats.attempt(None, ms, kind)
            self._audit(
                method, sent, None, ms, attempt, correlation_id, None, idempotency_key, kind
            )
            timeout = kwargs.get("timeout") or self.config.timeout
            failure = error_for_exception(
                exc, method, redact_url(sent), correlation_id, attempt, timeout
            )
            if isinstance(exc, DeadlineExceeded):
                failure.message = (
                    f"request deadline of {self.config.deadline:g} s exceeded: {exc}. Fix: "
                    "raise the connection extra 'request_deadline' if the API is just slow"
                )
            raise failure from None
        except BaseException:
            self.throttle.release()
            raise
        ms = (time.perf_counter() - started) * 1000
        status = parse_rate_limit(resp.headers)
        error = None
        if resp.status_code >= 400:
            error = self._http_error(resp, method, correlation_id, attempt, status)
        refused = isinstance(error, ApiRateLimitError)
        self.throttle.observe(
            status, rejected=refused, retry_after=error.retry_after if error else None
        )
        self.stats.attempt(resp.status_code, ms)
        if refused:
            self.stats.rate_limit_hit()
        self._audit(
            method,
            resp.url or url,
            resp.status_code,
            ms,
            attempt,
            correlation_id,
            status,
            idempotency_key,
        )
        self.lifecycle.observe(method, resp.url or url, resp.headers)
        if error is not None:
            raise error
        return resp

    def _read_body(
        self,
        resp: requests.Response,
        method: str,
        correlation_id: str,
        attempt: int,
        deadline: float,
    ) -> None:
        """Read the body within the deadline and the size cap (``client.body``)."""
        limit = self.config.max_response_bytes
        try:
            read_body(resp, deadline=deadline, max_bytes=limit)
        except BodyTooLarge:
            raise ApiContractError(
                f"response body exceeds the {limit / 2**20:g} MB limit (decompressed). Fix: "
                "page with smaller pages, or raise the connection extra 'max_response_mb'",
                status=resp.status_code,
                method=method,
                url=redact_url(resp.url),
                correlation_id=correlation_id,
                attempts=attempt,
            ) from None

    def _quota_error(
        self, exc: QuotaWaitTooLong, method: str, url: str, correlation_id: str, attempt: int
    ) -> ApiRateLimitError:
        limit = self.config.max_retry_wait
        error = ApiRateLimitError(
            f"rate-limit quota exhausted for another {exc.seconds:.0f} s, longer than "
            f"max_retry_wait ({limit:g} s): not waiting inside the task. Let Airflow retry "
            "the task later, put a RateLimitWindowSensor in front of it, or raise "
            "max_retry_wait in the connection extra",
            method=method,
            url=redact_url(url),
            correlation_id=correlation_id,
            attempts=attempt,
            retry_after=exc.seconds,
        )
        error.rate_limit = exc.status
        return error

    def _http_error(
        self,
        resp: requests.Response,
        method: str,
        correlation_id: str,
        attempt: int,
        status: RateLimitStatus | None,
    ) -> ApiError:
        body: Any = None
        if "json" in resp.headers.get("Content-Type", ""):
            try:
                body = resp.json()
            except (ValueError, RecursionError):
                body = None
        retry_after = parse_retry_after(resp.headers, body)
        spent = status is not None and status.remaining == 0
        cls = error_for_status(resp.status_code, quota_exhausted=spent or retry_after is not None)
        if retry_after is None and cls is ApiRateLimitError and status is not None:
            retry_after = status.reset_in() or None  # 0 = reset passed: back off instead
        secrets = self.known_secrets()
        error = cls(
            redact_secrets(f"{resp.status_code} {resp.reason or ''}".strip(), secrets),
            status=resp.status_code,
            method=method,
            url=redact_url(resp.url),
            correlation_id=correlation_id,
            body=redact_secrets(resp.content[: BODY_LIMIT * 8], secrets) if resp.content else None,
            attempts=attempt,
            retry_after=retry_after,
        )
        error.rate_limit = status
        return error

    def _audit(
        self,
        method: str,
        url: str,
        status: int | None,
        ms: float,
        attempt: int,
        correlation_id: str,
        quota: RateLimitStatus | None,
        idempotency_key: str | None = None,
        error: str | None = None,
    ) -> None:
        """One line per attempt (DEBUG unless ``log_requests``), and the periodic progress line.

        The path's secret-looking query values are redacted.
        """
        self.progress.tick(method, url, status if status is not None else error)
        level = self.audit_level
        if not audit_log.isEnabledFor(level):
            return
        remaining = quota.remaining if quota and quota.remaining is not None else "-"
        audit_log.log(
            level,
            "apisync %s %s status=%s ms=%.0f attempt=%d correlation_id=%s remaining=%s%s%s",
            method,
            path_of(url),
            status if status is not None else "ERR",
            ms,
            attempt,
            correlation_id,
            remaining,
            f" idempotency_key={idempotency_key}" if idempotency_key else "",
            f" error={error}" if error else "",
        )


def _with_correlation(headers: Mapping[str, str] | None, name: str) -> tuple[dict[str, str], str]:
    """The headers with a correlation id (the caller's own, if it set one) and that id."""
    out = dict(headers or {})
    for key, value in out.items():
        if key.lower() == name.lower() and value:
            return out, str(value)
    out[name] = uuid.uuid4().hex
    return out, out[name]


def _short(error: BaseException | None) -> str:
    if isinstance(error, ApiError):
        return f"{error.category} ({error.status or error.message})"
    return type(error).__name__
