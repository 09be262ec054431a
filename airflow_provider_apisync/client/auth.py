"""Auth strategies as ``requests.auth.AuthBase`` subclasses, plus OAuth2 token caching.

Each strategy only adds credentials to a prepared request; the session's host guard
decides whether the request may leave at all.

With a :class:`~airflow_provider_apisync.client.store.Fleet` attached (``attach_fleet``),
OAuth2 tokens are cached in the shared store, encrypted: a fleet mints one access token per
expiry (the minter holds a short store lock, the others wait for its token), and a rotated
refresh token is written back durably, so the next run and every other worker use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import msgspec
import requests
from requests.auth import AuthBase, HTTPBasicAuth

from airflow_provider_apisync.client.config import AuthSettings
from airflow_provider_apisync.client.errors import (
    ApiAuthError,
    ApiContractError,
    ApiError,
    ApiTransportError,
    error_for_status,
)
from airflow_provider_apisync.client.ratelimit import parse_retry_after
from airflow_provider_apisync.client.store import Fleet, StoreUnavailable, identity_hash
from airflow_provider_apisync.client.urls import redact_url, register_secret_param

EXPIRY_MARGIN = 60.0
"""Refresh this many seconds before ``expires_in`` (a tenth of the lifetime if shorter)."""
DEFAULT_LIFETIME = 3600.0
"""Assumed token lifetime when the server sends no usable ``expires_in``."""
MINT_LOCK_S = 30.0
"""How long a worker may hold the fleet's lock while it mints a token (then it expires)."""
SHARED_POLL_S = 0.05

log = logging.getLogger(__name__)

SecretSink = Callable[[str], None]
"""Called with every secret minted at run time (the hook passes Airflow's ``mask_secret``)."""


def _ignore(_: str) -> None:
    return None


class TokenGrantError(ApiAuthError):
    """The OAuth2 token endpoint refused the grant (400 invalid_grant, 401 invalid_client...).

    Like a 401 from the API, it makes the client reload the connection once: the secret or
    refresh token may have been rotated in the secrets backend.
    """


class NoAuth(AuthBase):
    """Sends no credentials."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class ApiKeyAuth(AuthBase):
    """API key in a header (default ``X-API-Key``) or in a query parameter.

    A query parameter is set (not appended), so a redirect target that already carries
    it does not end up with two; its name is registered for redaction in logs and errors.
    """

    def __init__(self, key: str, header: str = "X-API-Key", query_param: str | None = None):
        self._key = key
        self.header = header
        self.query_param = query_param
        if query_param:
            register_secret_param(query_param)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.query_param:
            r.url = _set_query_param(r.url or "", self.query_param, self._key)
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
    expires_in: float | str | None = None  # some servers send "3600"
    refresh_token: str | None = None


class OAuth2Auth(AuthBase):
    """Base for OAuth2 grants: caches the access token and refreshes it under a lock.

    A token is reused until ``expires_in`` minus a margin (60 s, or a tenth of the lifetime
    for short-lived tokens), counted from when the token request was sent, so N requests
    cost one token request, and concurrent threads that find it stale fetch exactly one
    new token. Token requests never follow redirects: a client secret in a POST body must
    not be replayed to wherever a ``Location`` header points.
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
        user_agent: str | None = None,
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
        self._used = threading.local()  # the token each thread last sent
        self._token_session = requests.Session()
        self._token_session.trust_env = False
        if user_agent:
            self._token_session.headers["User-Agent"] = user_agent
        self.tokens_fetched = 0
        self.fleet: Fleet | None = None

    def attach_fleet(self, fleet: Fleet | None) -> None:
        """Share tokens through ``fleet`` (only when it can encrypt them)."""
        self.fleet = fleet if fleet is not None and fleet.keeps_secrets else None

    @property
    def _shared_name(self) -> str:
        """The store document of this grant's access token (no secret in the name)."""
        ident = identity_hash(
            self.grant_type, self.token_url, self.client_id, self.scope, self.audience
        )
        return f"token:{ident}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.access_token()
        self._used.token = token
        r.headers["Authorization"] = f"Bearer {token}"
        return r

    def access_token(self) -> str:
        """The cached token, or a fresh one when it is missing or about to expire."""
        with self._lock:
            stale = self._token is None or self._clock() >= self._expires_at
            if stale and not self._fetch_shared():
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token so the next request mints a new one."""
        with self._lock:
            self._token = None

    def invalidate_if_current(self) -> bool:
        """After a 401 on this thread: drop the token it sent, unless already replaced.

        Returns True when the next request will carry a different token than the one
        that failed, so concurrent threads that all got a 401 cause one new token, not N.
        """
        with self._lock:
            used = getattr(self._used, "token", None)
            if used is not None and self._token == used:
                self._token = None
                self._forget_shared(used)
            return used is not None

    def close(self) -> None:
        self._token_session.close()

    def _grant_body(self) -> dict[str, str]:
        raise NotImplementedError

    def _client_auth(self, body: dict[str, str]) -> HTTPBasicAuth | None:
        """RFC 6749 section 2.3.1: id and secret form-encoded, then HTTP Basic; or in the body."""
        if not self.client_id:
            return None
        if self._client_secret and self.auth_method == "client_secret_basic":
            return HTTPBasicAuth(
                quote(self.client_id, safe=""), quote(self._client_secret, safe="")
            )
        body["client_id"] = self.client_id
        if self._client_secret:
            body["client_secret"] = self._client_secret
        return None

    def _fetch(self) -> None:
        body = self._grant_body()
        if self.scope:
            body["scope"] = self.scope
        if self.audience:
            body["audience"] = self.audience
        auth = self._client_auth(body)
        url = redact_url(self.token_url)
        requested_at = self._clock()
        try:
            resp = self._token_session.post(
                self.token_url,
                data=body,
                auth=auth,
                timeout=self.timeout,
                verify=self.verify,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ApiTransportError(
                f"token request failed: {type(exc).__name__}", method="POST", url=url
            ) from None
        if resp.status_code >= 300:
            raise _token_error(resp, url)
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
        if token.refresh_token:
            self._on_secret(token.refresh_token)
            self._rotated(token.refresh_token)
        self._token = token.access_token
        self.tokens_fetched += 1
        lifetime = _lifetime(token.expires_in)
        self._expires_at = requested_at + lifetime - min(EXPIRY_MARGIN, lifetime / 10)

    def _rotated(self, refresh_token: str) -> None:
        """Hook for grants that keep refresh tokens."""

    def _adopt_shared_refresh(self) -> None:
        """Hook: take the fleet's newest refresh token before minting."""

    # -- the fleet's token cache -----------------------------------------------------------
    def _adopt(self, doc: dict[str, Any] | None) -> bool:
        """Use the fleet's token when it is still fresh; True when adopted."""
        if not doc or not isinstance(doc.get("access_token"), str):
            return False
        left = float(doc.get("expires_at", 0)) - time.time()
        if left <= 0:
            return False
        self._token = doc["access_token"]
        self._on_secret(self._token)
        self._expires_at = self._clock() + left
        return True

    def _fetch_shared(self) -> bool:
        """Adopt the fleet's token, or mint it for the fleet under the store lock.

        False when there is no fleet or the store is unreachable: mint locally instead.
        """
        fleet = self.fleet
        if fleet is None:
            return False
        name = self._shared_name
        deadline = time.monotonic() + MINT_LOCK_S
        try:
            while True:
                if self._adopt(fleet.load(name)):
                    return True
                lock = fleet.lock(name, MINT_LOCK_S)
                if lock is not None:
                    break
                if time.monotonic() > deadline:
                    return False  # the minter hangs: mint our own
                time.sleep(SHARED_POLL_S)
            try:
                if self._adopt(fleet.load(name)):  # minted while we took the lock
                    return True
                self._adopt_shared_refresh()
                wall = time.time()
                started = self._clock()
                self._fetch()
                left = self._expires_at - started
                if left > 0:
                    doc = {"access_token": self._token, "expires_at": wall + left}
                    fleet.save(name, doc, ttl=left)
                return True
            finally:
                fleet.unlock(name, lock)
        except StoreUnavailable:
            return self._token is not None and self._clock() < self._expires_at

    def _forget_shared(self, token: str) -> None:
        """The API refused ``token``: drop it from the fleet too (if still the shared one)."""
        if self.fleet is None:
            return
        try:
            doc = self.fleet.load(self._shared_name)
            if doc and doc.get("access_token") == token:
                self.fleet.forget(self._shared_name)
        except StoreUnavailable:
            return


class OAuth2ClientCredentials(OAuth2Auth):
    """OAuth2 client credentials grant (RFC 6749 section 4.4)."""

    grant_type = "client_credentials"

    def _grant_body(self) -> dict[str, str]:
        return {"grant_type": "client_credentials"}


class OAuth2RefreshToken(OAuth2Auth):
    """OAuth2 refresh token grant; a rotated refresh token replaces the old one.

    Without a fleet the rotated token lives as long as this object (one task run): Airflow
    secrets backends are mostly read-only. With a fleet it is written back to the shared
    store (encrypted, no expiry) and read by the next run and every worker. The document
    remembers which connection token it descends from: when an admin puts a new refresh
    token in the connection (re-authorisation), that one wins over the stored chain.
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
        if self.fleet is None:
            return
        doc = {"seed": self._seed(), "refresh_token": refresh_token}
        try:
            self.fleet.save("refresh_token", doc, ttl=None)
        except StoreUnavailable:
            log.warning(
                "the rotated refresh token could not be written to the shared store: this "
                "run goes on with it, but the next run will fail with invalid_grant unless the "
                "store comes back first. See docs/runbooks.md 'refresh token rejected'."
            )

    def _seed(self) -> str:
        return identity_hash("seed", self.initial_refresh_token)

    def _adopt_shared_refresh(self) -> None:
        if self.fleet is None:
            return
        doc = self.fleet.load("refresh_token")
        if doc and doc.get("seed") == self._seed() and isinstance(doc.get("refresh_token"), str):
            self._refresh_token = doc["refresh_token"]
            self._on_secret(self._refresh_token)

    @property
    def current_refresh_token(self) -> str:
        return self._refresh_token


def build_auth(
    settings: AuthSettings,
    *,
    timeout: tuple[float, float] = (10.0, 60.0),
    verify: bool | str = True,
    user_agent: str | None = None,
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
        "user_agent": user_agent,
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


def _token_error(resp: requests.Response, url: str) -> ApiError:
    """Why the token endpoint said no, without echoing anything it was sent."""
    status = resp.status_code
    if status < 400:
        return ApiAuthError(
            f"token endpoint answered {status} with a redirect, which apisync does not follow "
            "(the client secret would travel on); set token_url to the final URL",
            status=status,
            method="POST",
            url=url,
        )
    if status in (400, 401, 403):
        return TokenGrantError(
            "token endpoint rejected the grant; check the client id/secret, refresh token "
            "and scope in the connection",
            status=status,
            method="POST",
            url=url,
            body=_oauth_error(resp),
        )
    return error_for_status(status)(
        f"token endpoint failed with {status}",
        status=status,
        method="POST",
        url=url,
        body=_oauth_error(resp),
        retry_after=parse_retry_after(resp.headers),
    )


def _lifetime(expires_in: float | str | None) -> float:
    try:
        value = float(expires_in) if expires_in is not None else DEFAULT_LIFETIME
    except ValueError:
        return DEFAULT_LIFETIME
    return value if value > 0 and value == value and value != float("inf") else DEFAULT_LIFETIME


def _set_query_param(url: str, name: str, value: str) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (other parameters untouched)."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.partition("=")[0]) != name]
    kept.append(f"{quote(name, safe='')}={quote(value, safe='')}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))
