"""Credentials the fake API accepts, and its OAuth2 token endpoint.

Every configured credential kind is accepted at once, so one server serves tests for
every auth type. Tests mutate the sets to simulate rotation in the secrets backend.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

TOKEN_PATH = "/oauth/token"


@dataclass
class FakeAuth:
    """Accepted credentials; ``required=False`` lets anonymous requests through."""

    required: bool = True
    api_keys: set[str] = field(default_factory=lambda: {"test-api-key-0001"})
    api_key_header: str = "X-API-Key"
    api_key_query_param: str = "api_key"
    bearer_tokens: set[str] = field(default_factory=lambda: {"test-bearer-token-0001"})
    basic_users: dict[str, str] = field(default_factory=lambda: {"alice": "test-basic-pass-0001"})
    oauth_clients: dict[str, str] = field(
        default_factory=lambda: {"client-1": "test-client-secret-0001"}
    )
    refresh_tokens: dict[str, str] = field(
        default_factory=lambda: {"test-refresh-token-0001": "client-1"}
    )
    token_ttl: float = 3600.0
    rotate_refresh_tokens: bool = True
    issued: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    refresh_tokens_issued: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, request: Request) -> Response | None:
        """None when the request is authenticated, else the 401 to send."""
        if not self.required or request.path.endswith(TOKEN_PATH):
            return None
        key = request.headers.get(self.api_key_header) or request.query.get(
            self.api_key_query_param
        )
        if key is not None:
            return None if key in self.api_keys else _unauthorized("invalid API key")
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, pw = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return _unauthorized("malformed basic credentials")
            ok = self.basic_users.get(user) == pw
            return None if ok else _unauthorized("invalid user or password")
        if scheme.lower() == "bearer":
            if value in self.bearer_tokens:
                return None
            with self._lock:
                expiry = self.issued.get(value)
            if expiry is None:
                return _unauthorized("unknown token", bearer="invalid_token")
            if time.time() >= expiry:
                return _unauthorized("token expired", bearer="invalid_token")
            return None
        return _unauthorized("credentials required")

    def token_endpoint(self, request: Request) -> Response:
        """RFC 6749 token endpoint: client_credentials and refresh_token grants.

        Client authentication is HTTP Basic (id and secret form-encoded first, section
        2.3.1) or ``client_id``/``client_secret`` in the body. A refresh token is single use
        when ``rotate_refresh_tokens``: the answer carries its successor and the old one is
        rejected with ``invalid_grant`` from then on.
        """
        form = request.form()
        client_id, secret, method = self._client(request, form)
        grant = form.get("grant_type", "")
        with self._lock:
            self.token_requests.append(
                {
                    "grant_type": grant,
                    "client_id": client_id or "",
                    "auth_method": method,
                    "scope": form.get("scope", ""),
                    "audience": form.get("audience", ""),
                }
            )
            if grant == "client_credentials":
                if not client_id or self.oauth_clients.get(client_id) != secret:
                    return Response.json({"error": "invalid_client"}, 401)
                return Response.json(self._mint(refresh_for=None))
            if grant == "refresh_token":
                known = client_id in self.oauth_clients if client_id else False
                if known and self.oauth_clients[client_id or ""] != secret:
                    return Response.json({"error": "invalid_client"}, 401)
                token = form.get("refresh_token", "")
                owner = self.refresh_tokens.get(token)
                if owner is None or (client_id and owner != client_id):
                    return Response.json(
                        {"error": "invalid_grant", "error_description": "unknown refresh token"},
                        400,
                    )
                if self.rotate_refresh_tokens:
                    del self.refresh_tokens[token]
                    return Response.json(self._mint(refresh_for=owner))
                return Response.json(self._mint(refresh_for=None))
        return Response.json({"error": "unsupported_grant_type"}, 400)

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None, str]:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None, None, "client_secret_basic"
            return unquote_plus(user), unquote_plus(pw), "client_secret_basic"
        if "client_id" in form:
            return form["client_id"], form.get("client_secret"), "client_secret_post"
        return None, None, "none"

    def _mint(self, refresh_for: str | None) -> dict[str, object]:
        token = "at-" + secrets.token_urlsafe(16)
        self.issued[token] = time.time() + self.token_ttl
        body: dict[str, object] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
        }
        if refresh_for is not None:
            new_refresh = "rt-" + secrets.token_urlsafe(16)
            self.refresh_tokens[new_refresh] = refresh_for
            self.refresh_tokens_issued.append(new_refresh)
            body["refresh_token"] = new_refresh
        return body

    # -- helpers for tests: rotation and revocation, as a vendor console would do ------
    def rotate_api_key(self, new_key: str) -> None:
        """Accept only ``new_key`` from now on (the old keys stop working)."""
        with self._lock:
            self.api_keys = {new_key}

    def rotate_client_secret(self, client_id: str, new_secret: str) -> None:
        """Accept only ``new_secret`` for ``client_id`` from now on."""
        with self._lock:
            self.oauth_clients[client_id] = new_secret

    def expire_all_tokens(self) -> None:
        """Make every issued access token invalid (as after a revocation)."""
        with self._lock:
            for token in self.issued:
                self.issued[token] = 0.0

    def grants(self, grant_type: str | None = None) -> list[dict[str, str]]:
        """Token requests seen so far, optionally only those of ``grant_type``."""
        with self._lock:
            return [r for r in self.token_requests if grant_type in (None, r["grant_type"])]

    @property
    def minted_secrets(self) -> list[str]:
        """Every access and refresh token this server has handed out (for leak checks)."""
        with self._lock:
            return [*self.issued, *self.refresh_tokens_issued]


def _unauthorized(message: str, bearer: str | None = None) -> Response:
    headers = {"WWW-Authenticate": f'Bearer error="{bearer}"' if bearer else 'Bearer realm="fake"'}
    return Response.json({"error": message}, 401, headers)
