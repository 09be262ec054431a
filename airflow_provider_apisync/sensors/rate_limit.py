"""``RateLimitWindowSensor``: wait until an API's quota has room, without spending it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.errors import ApiConfigError, ApiError
from airflow_provider_apisync.client.ratelimit import RateLimitStatus, closed_window
from airflow_provider_apisync.sensors._base import MIN_WAIT_S, ApiSensorBase, CheckResult
from airflow_provider_apisync.sensors._probe import QuotaPaths, quota_from_response, wait_for
from airflow_provider_apisync.vocabulary import Vocabulary

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import Context

METHODS = ("GET", "HEAD")


class RateLimitWindowSensor(Vocabulary, ApiSensorBase):
    """Succeeds when the API's remaining quota is at least ``min_remaining``.

    Each check is one request to ``endpoint`` (``GET`` or ``HEAD``). The quota is read from
    the response's rate-limit headers (IETF ``RateLimit``, ``X-RateLimit-*`` ...) or, for
    status endpoints such as GitHub's ``/rate_limit`` or Salesforce's ``/limits``, from the
    JSON body at ``remaining_path`` / ``reset_path`` / ``limit_path``. A 429 (or GitHub's
    403 with ``X-RateLimit-Remaining: 0``) is a closed window, not a failure.

    When the window is closed the sensor waits until the announced reset (+ ``reset_margin``)
    — deferred on a ``DateTimeTrigger`` when ``deferrable`` — or ``poke_interval`` when the
    API gives no reset hint. Auth errors fail at once (``AirflowFailException``).

    With a shared store on the connection (extra ``shared_store``), the sensor first reads
    what the fleet already knows: while another worker's 429 or spent quota says the window
    is closed, it waits for that reset without sending a probe (``"source": "shared_store"``
    in the XCom); its own probes' findings are published to the fleet.
    Returns (XCom) ``{"open", "remaining", "limit", "reset_at", "status", "endpoint"}``.

    :param apisync_conn_id: the ``apisync`` connection.
    :param endpoint: path probed (templated), below the connection's base URL.
    :param method: ``GET`` (default) or ``HEAD`` (headers only; no body paths).
    :param min_remaining: quota needed to succeed (>= 1).
    :param remaining_path: dotted path to the remaining quota in a JSON body (templated).
    :param reset_path: dotted path to the reset (epoch s/ms, delta s or ISO 8601; templated).
    :param limit_path: dotted path to the window size, reported only (templated).
    :param reset_margin: seconds added to the announced reset before checking again.
    :param deferrable: defer while waiting; default ``[operators] default_deferrable``.
    """

    query_argument = None  # the probe sends no query parameters

    template_fields: Sequence[str] = ("endpoint", "remaining_path", "reset_path", "limit_path")
    ui_color = "#f4e7c7"

    def __init__(
        self,
        *,
        apisync_conn_id: str = "apisync_default",
        endpoint: str = "/",
        method: str = "GET",
        min_remaining: int = 1,
        remaining_path: str | None = None,
        reset_path: str | None = None,
        limit_path: str | None = None,
        reset_margin: float = 0.5,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(apisync_conn_id=apisync_conn_id, deferrable=deferrable, **kwargs)
        self.endpoint = endpoint
        self.method = _method(method, remaining_path or reset_path or limit_path)
        self.min_remaining = _min_remaining(min_remaining)
        self.remaining_path = remaining_path
        self.reset_path = reset_path
        self.limit_path = limit_path
        if not isinstance(reset_margin, int | float) or reset_margin < 0:
            raise ApiConfigError("reset_margin", f"{reset_margin!r} is not seconds >= 0.")
        self.reset_margin = float(reset_margin)

    def check(self, context: Context) -> CheckResult:
        known = self._fleet_knows_closed()
        if known is not None:
            return known
        paths = QuotaPaths(self.remaining_path, self.reset_path, self.limit_path)
        try:
            resp = self.probe_client.request(self.method, self.endpoint)
        except ApiError as exc:
            closed = closed_window(exc)
            if closed is None:
                raise
            status: RateLimitStatus | None = closed.status
            http_status = closed.http_status
        else:
            status = quota_from_response(resp, paths)
            http_status = resp.status_code
        return self._judge(status or RateLimitStatus(), http_status)

    def _fleet_knows_closed(self) -> CheckResult | None:
        """A closed-window result from the shared store, or None (probe the API)."""
        shared = self.hook.shared_quota()
        if shared is None:
            return None
        wait = shared.closed_for(self.min_remaining)
        if wait <= 0:
            return None
        now = time.time()
        reset_at = datetime.fromtimestamp(now + wait, tz=timezone.utc)
        remaining = 0 if shared.blocked_for > 0 else shared.remaining
        self.log.info(
            "The fleet's shared store says the window is closed for another %.1fs: no probe", wait
        )
        status = RateLimitStatus(limit=shared.limit, remaining=remaining, reset_at=reset_at)
        result = self._judge(status, 0)
        result.xcom.update(status=None, source="shared_store")
        return result

    def _judge(self, status: RateLimitStatus, http_status: int) -> CheckResult:
        now = time.time()
        remaining = status.remaining
        is_open = remaining is None or remaining >= self.min_remaining
        reset_in = status.reset_in(now)
        xcom = {
            "open": is_open,
            "remaining": remaining,
            "limit": status.limit,
            "reset_at": status.reset_at.isoformat() if status.reset_at else None,
            "status": http_status,
            "endpoint": self.endpoint,
        }
        if remaining is None:
            self.log.warning(
                "%s %s announced no quota (no rate-limit headers%s): treating the window as "
                "open. Point endpoint/remaining_path at something that reports the quota.",
                self.method,
                self.endpoint,
                "" if not self.remaining_path else " and no remaining_path value",
            )
        elif is_open:
            self.log.info(
                "Rate-limit window open: remaining %s >= min_remaining %s (limit %s)",
                remaining,
                self.min_remaining,
                status.limit if status.limit is not None else "?",
            )
        else:
            self.log.info(
                "Rate-limit window closed: remaining %s < min_remaining %s (HTTP %s); reset %s",
                remaining,
                self.min_remaining,
                http_status,
                f"in {reset_in:.1f}s" if reset_in is not None else "not announced",
            )
        wait = None if is_open else wait_for(status, self.reset_margin, MIN_WAIT_S, now)
        return CheckResult(done=is_open, xcom=xcom, wait=wait)


def _method(method: str, has_paths: str | None) -> str:
    upper = str(method).upper()
    if upper not in METHODS:
        raise ApiConfigError("method", f"'{method}' is not GET or HEAD.", "probe with GET or HEAD.")
    if upper == "HEAD" and has_paths:
        raise ApiConfigError(
            "method",
            "HEAD responses have no body, so remaining_path/reset_path/limit_path cannot apply.",
            "use method='GET' with body paths, or HEAD with rate-limit headers only.",
        )
    return upper


def _min_remaining(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiConfigError(
            "min_remaining", f"{value!r} is not a whole number >= 1.", "e.g. min_remaining=100."
        )
    return value
