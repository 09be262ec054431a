"""Error taxonomy: every failed request ends as exactly one of these categories.

Operators map categories to Airflow behaviour: ``retryable`` ones may use task retries,
the others become ``AirflowFailException`` so Airflow does not waste retries on them.
``error_for_status`` classifies HTTP answers, ``error_for_exception`` network failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import requests
import urllib3.exceptions

BODY_LIMIT = 500


class ApiConfigError(ValueError):
    """Bad configuration (connection extra, operator argument): names the field and the fix."""

    def __init__(self, field: str, problem: str, fix: str = "") -> None:
        self.field = field
        message = f"{field}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)


class ApiError(Exception):
    """Base class for request failures; carries context without any secret.

    ``retryable`` (class default, may be overridden per instance) tells operators whether
    an Airflow task retry can help; ``attempts`` counts the HTTP attempts made.
    """

    category = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        correlation_id: str | None = None,
        body: str | bytes | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.url = url
        self.correlation_id = correlation_id
        self.body = _truncate(body)
        self.attempts = attempts
        self.retry_after = retry_after
        self.rate_limit: Any = None  # RateLimitStatus announced with the failure, if any
        self.never_sent = False  # transport errors: the server cannot have seen the request
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        where = " ".join(p for p in (self.method, self.url) if p)
        if where:
            parts.append(f"request: {where}")
        if self.status is not None:
            parts.append(f"status: {self.status}")
        if self.correlation_id:
            parts.append(f"correlation_id: {self.correlation_id}")
        if self.attempts > 1:
            parts.append(f"attempts: {self.attempts}")
        if self.body:
            parts.append(f"body: {self.body}")
        return " | ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for dead letters and XCom."""
        return {
            "category": self.category,
            "message": self.message,
            "status": self.status,
            "method": self.method,
            "url": self.url,
            "correlation_id": self.correlation_id,
            "attempts": self.attempts,
            "retry_after": self.retry_after,
            "body": self.body,
        }


class ApiAuthError(ApiError):
    """401/403: credentials missing, wrong, expired or lacking permission."""

    category = "auth"


class ApiRateLimitError(ApiError):
    """429 (or a 403 announcing an exhausted quota, as GitHub sends) that retries did not
    get past, or a quota that resets later than ``max_retry_wait``."""

    category = "rate_limit"
    retryable = True


class ApiClientError(ApiError):
    """Other 4xx: the request itself is wrong; repeating it will not help."""

    category = "client"


class ApiServerError(ApiError):
    """5xx after retries were exhausted."""

    category = "server"
    retryable = True


class ApiTransportError(ApiError):
    """Network failure: connection refused or dropped, timeout, truncated body, TLS error.

    ``never_sent`` is True when the server cannot have received the request (the connect
    phase failed); TLS and redirect-loop failures are not ``retryable``.
    """

    category = "transport"
    retryable = True


class ApiContractError(ApiError):
    """The response broke the contract: bad JSON, missing path, schema violation."""

    category = "contract"


class PaginationLoopError(ApiContractError):
    """The API handed back a cursor or next URL it had already given: it would loop forever."""

    category = "pagination_loop"


class ForeignHostError(ApiError):
    """A request, next-page URL or redirect pointed at an origin that may not get credentials."""

    category = "foreign_host"


def redact_secrets(text: str | bytes, secrets: Iterable[str]) -> str:
    """``text`` with every secret (as is, URL-encoded or form-encoded) replaced by ``***``.

    For server-controlled text that is stored or raised: an API may echo the key it got
    (a 422 listing the query, a reason phrase). Bytes are decoded leniently.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form:
                text = text.replace(form, "***")
    return text


def _truncate(body: str | bytes | None) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        body = body[: BODY_LIMIT * 4].decode("utf-8", errors="replace")
    if len(body) > BODY_LIMIT:
        return body[:BODY_LIMIT] + f"... [{len(body) - BODY_LIMIT} more chars]"
    return body


def error_for_status(status: int, quota_exhausted: bool = False) -> type[ApiError]:
    """The taxonomy class for an HTTP error status.

    ``quota_exhausted``: the response announced an empty quota (remaining 0 or a
    ``Retry-After``), which turns GitHub-style 403s into rate-limit errors.
    """
    if status == 429 or (status == 403 and quota_exhausted):
        return ApiRateLimitError
    if status in (401, 403):
        return ApiAuthError
    if 400 <= status < 500:
        return ApiClientError
    return ApiServerError


_NOT_SENT = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
)


def error_for_exception(
    exc: requests.RequestException,
    method: str,
    url: str,
    correlation_id: str,
    attempt: int,
    timeout: Any = None,
) -> ApiError:
    """The taxonomy error for a ``requests`` exception; no exception text that may hold a
    secret (URLs with keys) goes into the message."""
    kind = type(exc).__name__
    context: dict[str, Any] = {
        "method": method,
        "url": url,  # already redacted by the caller (urls.py depends on this module)
        "correlation_id": correlation_id,
        "attempts": attempt,
    }
    if isinstance(exc, _NOT_SENT):  # the request could not even be built: a caller bug
        bad_json = isinstance(exc, requests.exceptions.InvalidJSONError)
        detail = f": {str(exc)[:200]}" if bad_json else ""
        return ApiClientError(f"invalid request ({kind}){detail}", **context)
    message = f"network error: {kind}"
    if isinstance(exc, requests.Timeout):
        message += f" (timeout (connect, read) = {timeout})"
    error = ApiTransportError(message, **context)
    error.never_sent = never_sent(exc)
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.TooManyRedirects):
        error.retryable = False  # TLS trust/config problems and redirect loops do not heal
        error.message += " (not retried: fix the TLS settings or the redirect loop)"
    return error


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (args, urllib3 ``reason``, ``__cause__``/``__context__``)."""
    stack: list[Any] = [exc]
    seen: set[int] = set()
    while stack and len(seen) < 20:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend(item.args)
        stack.extend((getattr(item, "reason", None), item.__cause__, item.__context__))


def never_sent(exc: requests.RequestException) -> bool:
    """True when the server cannot have received the request: the connect phase failed
    (refused, DNS, connect timeout). A dropped keep-alive connection or a read timeout
    may have delivered the request, so they do not count."""
    return any(
        isinstance(c, urllib3.exceptions.ConnectTimeoutError | ConnectionRefusedError)
        for c in _causes(exc)
    ) or isinstance(exc, requests.exceptions.ConnectTimeout)
