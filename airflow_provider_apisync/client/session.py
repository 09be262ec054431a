"""A ``requests.Session`` that refuses to send anything to a foreign origin.

``requests`` strips only ``Authorization`` on a cross-host redirect: custom API-key headers
and query keys would travel on. Checking the origin in ``send`` covers the first request,
every redirect hop and vendor SDKs that borrow the session, before a byte leaves.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_apisync.client.urls import HostGuard


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
