"""``ApiSyncHook``: an Airflow ``apisync`` connection turned into an :class:`ApiClient`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.sdk import BaseHook

from airflow_provider_apisync.client import ApiClient, ApiError, RateLimitStatus
from airflow_provider_apisync.client.config import (
    ClientConfig,
    config_from_connection,
    unknown_extra_keys,
)

if TYPE_CHECKING:
    from airflow_provider_apisync.client.pagination import Pages, Paginator

log = logging.getLogger(__name__)


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


def _metric(kind: str, name: str, value: float) -> None:
    """Forward client counters to Airflow's stats API as ``apisync.<name>``.

    ``incr`` becomes a counter, ``timing`` (milliseconds) a timer. A no-op when metrics are
    off (Airflow's default backend discards them); a metrics failure never breaks a request.
    """
    try:
        from airflow.sdk.observability import stats
    except ImportError:  # Airflow 3.0-3.2: the older facade
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from airflow.stats import Stats as stats  # type: ignore[no-redef]
        except ImportError:
            return
    metric = f"apisync.{name}"
    try:
        if kind == "incr":
            stats.incr(metric, int(value))
        elif kind == "timing":
            from datetime import timedelta

            stats.timing(metric, timedelta(milliseconds=value))  # unambiguous for every backend
    except Exception:  # metrics must never break a request
        log.debug("metric %s not emitted", metric, exc_info=True)


class ApiSyncHook(BaseHook):
    """Authenticated, resilient HTTP access to one system described by an ``apisync`` connection.

    Hooks stay thin: validation, retries, pacing and the host guard live in the ``client``
    layer; this class reads the connection (UI, env var or any secrets backend), masks
    secrets with Airflow and reloads the connection once when credentials stop working.
    """

    conn_name_attr = "apisync_conn_id"
    default_conn_name = "apisync_default"
    conn_type = "apisync"
    hook_name = "API Sync"

    def __init__(self, apisync_conn_id: str = default_conn_name, **client_kwargs: Any) -> None:
        super().__init__()
        self.apisync_conn_id = apisync_conn_id
        self._client_kwargs = client_kwargs

    # -- configuration ----------------------------------------------------------------
    def load_config(self) -> ClientConfig:
        """Read and validate the connection now (each call consults the secrets backends)."""
        conn = self.get_connection(self.apisync_conn_id)
        extra = conn.extra_dejson if conn.extra else {}
        for secret in (conn.password, extra.get("refresh_token")):
            if secret:
                _mask(secret)
        unknown = unknown_extra_keys(extra)
        if unknown:
            log.warning(
                "connection %s: ignoring unknown extra keys %s", self.apisync_conn_id, unknown
            )
        return config_from_connection(
            host=conn.host,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extra=extra,
            conn_id=self.apisync_conn_id,
        )

    @cached_property
    def client(self) -> ApiClient:
        """The client, built on first use and kept for the hook's life (one task run)."""
        return ApiClient(
            self.load_config(),
            on_secret=_mask,
            reload_config=self.load_config,
            metrics=_metric,
            **self._client_kwargs,
        )

    def get_conn(self) -> requests.Session:
        return self.client.session

    @property
    def session(self) -> requests.Session:
        """The authenticated, host-guarded ``requests.Session`` (for vendor SDKs)."""
        return self.client.session

    # -- requests ---------------------------------------------------------------------
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
        **kwargs: Any,
    ) -> requests.Response:
        """Send one logical request (retried per policy); see ``ApiClient.request``."""
        return self.client.request(
            method,
            endpoint,
            params=params,
            json=json,
            data=data,
            headers=headers,
            idempotency_key=idempotency_key,
            **kwargs,
        )

    def paginate(
        self,
        endpoint: str,
        *,
        paginator: Paginator | str = "auto",
        records_path: str | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Pages:
        """Iterate pages of ``endpoint`` (``.records``, ``.response``, resumable ``.state``)."""
        return self.client.paginate(
            endpoint, paginator=paginator, records_path=records_path, params=params, **kwargs
        )

    def rate_limit_status(self, endpoint: str = "/") -> RateLimitStatus:
        """The quota the API announces for ``endpoint`` (limit, remaining, reset_at)."""
        return self.client.rate_limit_status(endpoint)

    def test_connection(self) -> tuple[bool, str]:
        """A safe GET of the base URL: auth, TLS and reachability in one go."""
        try:
            client = ApiClient(self.load_config(), on_secret=_mask)
            client.retry_policy = type(client.retry_policy)(max_retries=0)
            resp = client.request("GET", "")
        except (ApiError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connection successfully tested: GET {client.base_url} -> {resp.status_code}"

    def summary(self) -> dict[str, Any]:
        """Request counters for XCom (requests, retries, throttled, errors, latency)."""
        if "client" not in self.__dict__:
            return {"requests": 0, "retries": 0, "throttled": 0}
        return self.client.stats.summary()
