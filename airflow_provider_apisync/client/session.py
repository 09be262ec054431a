"""A ``requests.Session`` that refuses to send anything to a foreign origin.

``requests`` strips only ``Authorization`` on a cross-host redirect: custom API-key headers
and query keys would travel on. Checking the origin in ``send`` covers the first request,
every redirect hop and vendor SDKs that borrow the session, before a byte leaves.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_apisync.client.body import BodyTooLarge, read_body
from airflow_provider_apisync.client.urls import HostGuard

REDIRECT_BODY_LIMIT = 64 * 1024
"""Bytes of a redirect's body read before it is dropped (``requests`` would read it all)."""
REDIRECT_BODY_SECONDS = 5.0


class GuardedSession(requests.Session):
    """Session bound to one system: pooled connections, host guard, no ``.netrc`` lookups."""

    def __init__(self, guard: HostGuard, pool_size: int = 32) -> None:
        super().__init__()
        self.guard = guard
        self.trust_env = False  # no .netrc credentials or env proxies leaking into requests
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.max_redirects = 10
        self.hooks["response"].append(_drop_redirect_body)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.guard.check(request.url or "")
        return super().send(request, **kwargs)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: Any) -> None:
        """On a redirect to an allowed origin, apply the session's auth to the new URL.

        ``requests`` would keep header credentials but lose an API key sent as a query
        parameter (the ``Location`` replaces the URL). Foreign origins are refused in
        :meth:`send` before anything leaves, so nothing is applied for them here.
        """
        super().rebuild_auth(prepared_request, response)
        if self.auth is not None and self.guard.allows(prepared_request.url or ""):
            prepared_request.prepare_auth(self.auth)


def _drop_redirect_body(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Response hook: read at most 64 KB (5 s) of a redirect's body, then drop the rest.

    ``requests`` reads every redirect body in full before following the ``Location``;
    a hostile server could send gigabytes (or a gzip bomb) with a 302. Nobody needs a
    redirect's body, so an oversized or slow one is cut and the redirect followed.
    """
    if resp.is_redirect and not getattr(resp, "_content_consumed", True):
        deadline = time.monotonic() + REDIRECT_BODY_SECONDS
        try:
            read_body(resp, deadline=deadline, max_bytes=REDIRECT_BODY_LIMIT)
        except (BodyTooLarge, requests.RequestException):
            resp._content = b""  # read_body closed the connection
            resp._content_consumed = True  # type: ignore[attr-defined]
    return resp
