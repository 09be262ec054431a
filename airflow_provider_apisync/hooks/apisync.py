"""``ApiSyncHook``: an Airflow ``apisync`` connection turned into an :class:`ApiClient`."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from airflow_provider_apisync.client import (
    ApiAuthError,
    ApiClient,
    ApiClientError,
    RateLimitStatus,
)
from airflow_provider_apisync.client.config import (
    EXTRA_PREFIX,
    ClientConfig,
    config_from_connection,
    ignored_extra_keys,
    unknown_extra_keys,
)
from airflow_provider_apisync.client.fields import SECRET_KEYS
from airflow_provider_apisync.client.store import SharedQuota, StoreUnavailable
from airflow_provider_apisync.client.urls import join_url, redact_url
from airflow_provider_apisync.compat import BaseHook, Stats
from airflow_provider_apisync.hooks.shared_store import fleet_for

if TYPE_CHECKING:
    from airflow_provider_apisync.client.pagination import Pages, PaginatorArg

log = logging.getLogger(__name__)


def _mask(secret: str) -> None:
    from airflow_provider_apisync.compat import mask_secret

    mask_secret(secret)


def _metric(kind: str, name: str, value: float) -> None:
    """Forward client counters to Airflow's stats API as ``apisync.<name>``.

    ``incr`` becomes a counter, ``timing`` (milliseconds) a timer, through
    ``common.compat``'s ``Stats`` (the right facade on every Airflow line). A no-op when
    metrics are off (Airflow's default backend discards them); a metrics failure never breaks
    a request.
    """
    metric = f"apisync.{name}"
    try:
        if kind == "incr":
            Stats.incr(metric, int(value))
        elif kind == "timing":
            from datetime import timedelta

            Stats.timing(metric, timedelta(milliseconds=value))  # unambiguous for every backend
    except Exception:  # metrics must never break a request
        log.debug("metric %s not emitted", metric, exc_info=True)


_VERSION_HEADER = re.compile(r"version", re.I)
_VERSION_PATH = re.compile(r"/(v\d+(?:\.\d+)*|\d{4}-\d{2}(?:-\d{2})?)(?=/|$)")


def _log_version_pins(conn_id: str, base_url: str, headers: Mapping[str, str]) -> None:
    """Log the API version this run is pinned to (headers or base path), once per client."""
    pins = [f"header {k}: {v}" for k, v in headers.items() if _VERSION_HEADER.search(k)]
    path = _VERSION_PATH.search(urlsplit(base_url).path)
    if path:
        pins.insert(0, f"base path /{path.group(1)}")
    if pins:
        log.info("connection %s pins API version (%s)", conn_id, ", ".join(pins))


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

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Our fields on the connection form of Airflow 2.11 - 3.1 (3.2+ reads conn-fields)."""
        from airflow_provider_apisync.hooks.form import connection_form_widgets

        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden/relabelled standard fields on Airflow 2.11 - 3.1 (3.2+ reads provider info)."""
        from airflow_provider_apisync.hooks.form import ui_field_behaviour

        return ui_field_behaviour()

    def __init__(self, apisync_conn_id: str = default_conn_name, **client_kwargs: Any) -> None:
        super().__init__()
        self.apisync_conn_id = apisync_conn_id
        self._client_kwargs = client_kwargs
        self._client: ApiClient | None = None
        self._client_lock = threading.Lock()

    # -- configuration ----------------------------------------------------------------
    def load_config(self) -> ClientConfig:
        """Read and validate the connection now (each call consults the secrets backends).

        Raises :class:`ApiConfigError` naming the field at fault (malformed extra JSON
        included: Airflow's ``extra_dejson`` would silently turn it into ``{}``).
        """
        conn = self.get_connection(self.apisync_conn_id)
        extra = _extra_or_raw(conn.extra)
        if isinstance(extra, dict):
            for key in (*SECRET_KEYS, *(EXTRA_PREFIX + k for k in SECRET_KEYS)):
                if isinstance(extra.get(key), str) and extra[key]:
                    _mask(extra[key])
        if conn.password:
            _mask(conn.password)
        if conn.conn_type and conn.conn_type != self.conn_type:
            log.warning(
                "connection %s has type %r, not %r; reading it as apisync",
                self.apisync_conn_id,
                conn.conn_type,
                self.conn_type,
            )
        if isinstance(extra, dict):
            unknown = unknown_extra_keys(extra)
            if unknown:
                log.warning(
                    "connection %s: ignoring unknown extra keys %s", self.apisync_conn_id, unknown
                )
        config = config_from_connection(
            host=conn.host,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extra=extra,
            conn_id=self.apisync_conn_id,
        )
        ignored = ignored_extra_keys(extra, config.auth.auth_type)
        if ignored:
            log.warning(
                "connection %s: auth_type %r does not use extra keys %s; ignoring them",
                self.apisync_conn_id,
                config.auth.auth_type,
                ignored,
            )
        return config

    @property
    def client(self) -> ApiClient:
        """The client, built on first use and kept for the hook's life (one task run).

        Built under a lock: threads sharing a hook must share one client, or each would
        mint its own OAuth2 token (``functools.cached_property`` stopped locking in 3.12).
        """
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    config = self.load_config()
                    _log_version_pins(self.apisync_conn_id, config.base_url, config.headers)
                    kwargs = dict(self._client_kwargs)
                    if "fleet" not in kwargs:
                        kwargs["fleet"] = fleet_for(
                            config, self.apisync_conn_id, self.get_connection
                        )
                    client = self._client = ApiClient(
                        config,
                        on_secret=_mask,
                        reload_config=self.load_config,
                        metrics=_metric,
                        **kwargs,
                    )
        return client

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
        paginator: PaginatorArg = "auto",
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

    def shared_quota(self) -> SharedQuota | None:
        """What the fleet knows about this connection's quota, without sending a request.

        None without a shared store, or while it is unreachable.
        """
        fleet = self.client.fleet
        if fleet is None:
            return None
        try:
            return fleet.quota()
        except StoreUnavailable:
            return None

    def test_connection(self) -> tuple[bool, str]:
        """One GET of ``test_endpoint`` (default: the base URL), no retries, no secrets shown.

        Success means the API accepted the credentials: a 2xx/3xx answer. 401/403 fail. A
        404/405 proves only that the server is reachable, so it counts as success only when
        nothing else is left to check: auth_type ``none``, or an OAuth2 grant whose token
        endpoint has just accepted the client credentials. With a static key, token or
        password it fails and asks for a ``test_endpoint`` that requires authentication.
        """
        client: ApiClient | None = None
        try:
            config = self.load_config()
            client = ApiClient(config, on_secret=_mask, probe=True)
            where = f"GET {redact_url(join_url(config.base_url, config.test_endpoint))}"
            try:
                resp = client.request("GET", config.test_endpoint)
            except ApiClientError as exc:
                if exc.status not in (404, 405):
                    raise
                return _judge_not_found(config.auth.auth_type, where, exc.status)
            return True, f"Connection successfully tested: {where} -> {resp.status_code}"
        except ApiAuthError as exc:
            return False, f"Credentials rejected ({exc.status}): {exc}"
        except Exception as exc:  # the UI shows the message; never a traceback
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            if client is not None:
                client.close()

    def close(self) -> None:
        """Release pooled connections (the hook stays usable: a new client is built)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def summary(self) -> dict[str, Any]:
        """Request counters for XCom (requests, retries, throttled, errors, latency)."""
        if self._client is None:
            return {"requests": 0, "retries": 0, "throttled": 0}
        return self._client.stats.summary()


def _extra_or_raw(extra: str | None) -> dict[str, Any] | str | None:
    """The extra parsed, or the raw text when it is not JSON (the config then says why)."""
    if not extra:
        return None
    try:
        parsed = json.loads(extra)
    except ValueError:
        return extra
    return parsed if isinstance(parsed, dict) else extra


def _judge_not_found(auth_type: str, where: str, status: int | None) -> tuple[bool, str]:
    if auth_type == "none":
        return True, f"Server reachable: {where} -> {status} (no credentials to check)."
    if auth_type.startswith("oauth2"):
        return True, (
            f"Token endpoint accepted the client credentials; {where} -> {status}, so the API "
            "itself did not check the token. Set extra.test_endpoint to an authenticated "
            "resource for a full check."
        )
    return False, (
        f"{where} -> {status}: the server is reachable, but this URL cannot tell whether "
        "the credentials work. Set extra.test_endpoint to a resource that requires "
        "authentication (e.g. /me)."
    )
