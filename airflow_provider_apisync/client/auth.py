"""Auth strategies as ``requests.auth.AuthBase`` subclasses, plus OAuth2 token caching.

Each strategy only adds credentials to a prepared request; the session's host guard
decides whether the request may leave at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import requests
from requests.auth import AuthBase, HTTPBasicAuth

from airflow_provider_apisync.client.config import AuthSettings
from airflow_provider_apisync.client.errors import (
    ApiAuthError,
    ApiContractError,
    ApiTransportError,
    error_for_status,
)
from airflow_provider_apisync.client.urls import redact_url

SecretSink = Callable[[str], None]
"""Called with every secret minted at run time (the hook passes Airflow's ``mask_secret``)."""


def _ignore(_: str) -> None:
    return None


class NoAuth(AuthBase):
    """Sends no credentials."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class ApiKeyAuth(AuthBase):
    """API key in a header (default ``X-API-Key``) or in a query parameter."""

    def __init__(self, key: str, header: str = "X-API-Key", query_param: str | None = None):
        self._key = key
        self.header = header
        self.query_param = query_param

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.query_param:
            r.prepare_url(r.url, {self.query_param: self._key})
        else:
            r.headers[self.header] = self._key
        return r


class BearerAuth(AuthBase):
    """A static bearer token (RFC 6750)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r


class _Token(msgspec.Struct):
    access_token: str
    token_type: str = "Bearer"
    expires_in: float | None = None
    refresh_token: str | None = None


class OAuth2Auth(AuthBase):
    """Base for OAuth2 grants: caches the access token and refreshes it under a lock.

    A token is reused until ``expires_in`` minus a margin (60 s, or a tenth of the lifetime
    for short-lived tokens), so N requests cost one token request, and concurrent threads
    that find it stale fetch exactly one new token.
    """

    grant_type = ""

    def __init__(
        self,
        token_url: str,
        client_id: str | None,
        client_secret: str | None,
        *,
        scope: str | None = None,
        audience: str | None = None,
        auth_method: str = "client_secret_basic",
        timeout: tuple[float, float] = (10.0, 60.0),
        verify: bool | str = True,
        on_secret: SecretSink = _ignore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.audience = audience
        self.auth_method = auth_method
        self.timeout = timeout
        self.verify = verify
        self._on_secret = on_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_session = requests.Session()
        self._token_session.trust_env = False
        self.tokens_fetched = 0

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.access_token()}"
        return r

    def access_token(self) -> str:
        """The cached token, or a fresh one when it is missing or about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (after a 401) so the next request mints a new one."""
        with self._lock:
            self._token = None

    def _grant_body(self) -> dict[str, str]:
        raise NotImplementedError

    def _fetch(self) -> None:
        body = self._grant_body()
        if self.scope:
            body["scope"] = self.scope
        if self.audience:
            body["audience"] = self.audience
        auth = None
        if self.client_id and self._client_secret and self.auth_method == "client_secret_basic":
            auth = HTTPBasicAuth(self.client_id, self._client_secret)
        elif self.client_id:
            body["client_id"] = self.client_id
            if self._client_secret:
                body["client_secret"] = self._client_secret
        url = redact_url(self.token_url)
        try:
            resp = self._token_session.post(
                self.token_url,
                data=body,
                auth=auth,
                timeout=self.timeout,
                verify=self.verify,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            raise ApiTransportError(
                f"token request failed: {type(exc).__name__}", method="POST", url=url
            ) from None
        if resp.status_code >= 400:
            cls = (
                ApiAuthError
                if resp.status_code in (400, 401, 403)
                else error_for_status(resp.status_code)
            )
            raise cls(
                "token endpoint rejected the grant; check the client id/secret, refresh token "
                "and scope in the connection",
                status=resp.status_code,
                method="POST",
                url=url,
                body=_oauth_error(resp),
            )
        try:
            token = msgspec.json.decode(resp.content, type=_Token)
        except msgspec.DecodeError as exc:
            raise ApiContractError(
                f"token response is not an OAuth2 token: {exc}",
                status=resp.status_code,
                method="POST",
                url=url,
            ) from None
        self._on_secret(token.access_token)
        self._token = token.access_token
        self.tokens_fetched += 1
        lifetime = token.expires_in if token.expires_in and token.expires_in > 0 else 3600.0
        margin = min(60.0, lifetime / 10)
        self._expires_at = self._clock() + lifetime - margin
        if token.refresh_token:
            self._on_secret(token.refresh_token)
            self._rotated(token.refresh_token)

    def _rotated(self, refresh_token: str) -> None:
        """Hook for grants that keep refresh tokens."""


class OAuth2ClientCredentials(OAuth2Auth):
    """OAuth2 client credentials grant (RFC 6749 section 4.4)."""

    grant_type = "client_credentials"

    def _grant_body(self) -> dict[str, str]:
        return {"grant_type": "client_credentials"}


class OAuth2RefreshToken(OAuth2Auth):
    """OAuth2 refresh token grant; a rotated refresh token replaces the old one for the run.

    Airflow secrets backends are mostly read-only, so the rotated token is not written
    back: it lives as long as this object (one task run).
    """

    grant_type = "refresh_token"

    def __init__(
        self,
        token_url: str,
        client_id: str | None,
        client_secret: str | None,
        refresh_token: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(token_url, client_id, client_secret, **kwargs)
        self.initial_refresh_token = refresh_token
        self._refresh_token = refresh_token

    def _grant_body(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": self._refresh_token}

    def _rotated(self, refresh_token: str) -> None:
        self._refresh_token = refresh_token

    @property
    def current_refresh_token(self) -> str:
        return self._refresh_token


def build_auth(
    settings: AuthSettings,
    *,
    timeout: tuple[float, float] = (10.0, 60.0),
    verify: bool | str = True,
    on_secret: SecretSink = _ignore,
) -> AuthBase:
    """The strategy for ``settings.auth_type``."""
    kind = settings.auth_type
    if kind == "none":
        return NoAuth()
    if kind == "api_key":
        return ApiKeyAuth(
            settings.secret or "", settings.api_key_header, settings.api_key_query_param
        )
    if kind == "bearer":
        return BearerAuth(settings.secret or "")
    if kind == "basic":
        return HTTPBasicAuth(settings.login or "", settings.secret or "")
    common: dict[str, Any] = {
        "scope": settings.scope,
        "audience": settings.audience,
        "auth_method": settings.token_auth_method,
        "timeout": timeout,
        "verify": verify,
        "on_secret": on_secret,
    }
    if kind == "oauth2_client_credentials":
        return OAuth2ClientCredentials(
            settings.token_url or "", settings.login, settings.secret, **common
        )
    if kind == "oauth2_refresh_token":
        return OAuth2RefreshToken(
            settings.token_url or "",
            settings.login,
            settings.secret,
            settings.refresh_token or "",
            **common,
        )
    raise ValueError(f"unknown auth_type {kind!r}")


def _oauth_error(resp: requests.Response) -> str:
    """Only the OAuth2 error code and description: token responses may echo secrets."""
    try:
        data = resp.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        return " ".join(str(data[k]) for k in ("error", "error_description") if k in data)
    return ""
