"""``FakeApi``: a simulated SaaS API on 127.0.0.1 for tests, the demo and benchmarks.

It grows by composition: features register *middlewares* (run before routing; may answer
early, e.g. auth, rate limits, faults), *routes* (method + path pattern) and *finishers*
(decorate every response, e.g. rate-limit headers). Every request is logged.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_provider_apisync.testing.fakeapi import faults as _faults
from airflow_provider_apisync.testing.fakeapi.auth import TOKEN_PATH, FakeAuth
from airflow_provider_apisync.testing.fakeapi.batch import Batches, Validation
from airflow_provider_apisync.testing.fakeapi.children import Children
from airflow_provider_apisync.testing.fakeapi.collections import Collection, make_records
from airflow_provider_apisync.testing.fakeapi.faults import Faults
from airflow_provider_apisync.testing.fakeapi.http import Request, Response, start_server
from airflow_provider_apisync.testing.fakeapi.idempotency import IdempotencyKeys
from airflow_provider_apisync.testing.fakeapi.pagination import Pagination
from airflow_provider_apisync.testing.fakeapi.ratelimit import RateLimit

Handler = Callable[[Request], Response]
Middleware = Callable[[Request], "Response | None"]
Finisher = Callable[[Request, Response], None]


class FakeApi:
    """A real threaded HTTP server with seeded collections, auth, CRUD and a request log.

    >>> with FakeApi(seed={"contacts": 100}) as api:
    ...     api.url  # e.g. http://127.0.0.1:54321/v1
    """

    def __init__(
        self,
        *,
        seed: Mapping[str, int | Iterable[dict[str, Any]]] | None = None,
        prefix: str = "/v1",
        auth: FakeAuth | None = None,
        rate_limit: RateLimit | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        idempotency: bool = True,
    ) -> None:
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.auth = auth if auth is not None else FakeAuth()
        self.rate_limit = rate_limit
        self.faults = Faults()
        self.collections: dict[str, Collection] = {}
        self.requests: list[Request] = []
        self.middlewares: list[Middleware] = []
        self.finishers: list[Finisher] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._log_lock = threading.Lock()
        self._host, self._port = host, port
        self._server: Any = None
        self.pagination = Pagination(self)  # list routes: every pagination style
        for name, records in (seed or {}).items():
            self.seed(name, records)
        self._install_core_routes()
        self.idempotency = IdempotencyKeys(enabled=idempotency).install(self)
        self.validation = Validation().install(self)
        self.batches = Batches(self.validation).install(self)
        self.children = Children(self)  # parent -> child routes: api.children.relate(...)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> FakeApi:
        if self._server is None:
            self._server, _ = start_server(self, self._host, self._port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        if self._server is None:
            raise RuntimeError("FakeApi is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The base URL including the path prefix, e.g. ``http://127.0.0.1:PORT/v1``."""
        return self.origin + self.prefix

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    # -- data -------------------------------------------------------------------------
    def seed(
        self, name: str, records: int | Iterable[dict[str, Any]], key: str = "id"
    ) -> Collection:
        """Create (or replace) a collection: ``records`` is a count or the records."""
        rows = make_records(name, records) if isinstance(records, int) else list(records)
        self.collections[name] = Collection(name, rows, key=key)
        return self.collections[name]

    def collection(self, name: str) -> Collection:
        if name not in self.collections:
            self.collections[name] = Collection(name)
        return self.collections[name]

    # -- extension points -------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler, *, first: bool = False) -> None:
        """Register ``handler`` for ``method`` and a path pattern below the prefix.

        Patterns use ``{name}`` captures: ``/{collection}/{id}``; captures land in
        ``request.params``.
        """
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        entry = (method.upper(), regex, handler)
        if first:
            self._routes.insert(0, entry)
        else:
            self._routes.append(entry)

    def log(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Logged requests, optionally filtered by method and path (below the prefix)."""
        with self._log_lock:
            entries = list(self.requests)
        return [
            r
            for r in entries
            if (method is None or r.method == method.upper())
            and (path is None or self._local(r.path) == path)
        ]

    def clear_log(self) -> None:
        with self._log_lock:
            self.requests.clear()

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Faults, then the rate limit, middlewares, auth and the route; logs the outcome."""
        with self._log_lock:
            self.requests.append(request)
        local = self._local(request.path)
        fault = self.faults.pick(request, local)
        early = _faults.before(fault) if fault else None
        if early is not None:
            response = early
        else:
            response = self._dispatch(request, local)
            if fault:
                response = _faults.after(fault, response)
        if fault:
            request.outcome = fault.kind
        for finish in self.finishers:
            finish(request, response)
        request.status = None if response.drop else response.status
        return response

    def _dispatch(self, request: Request, local: str) -> Response:
        if local == TOKEN_PATH and request.method == "POST":
            return self.auth.token_endpoint(request)
        limit = self.rate_limit
        if limit is not None and limit.applies(local):
            allowed, remaining, reset_in = limit.admit(request)
            if not allowed:
                return limit.rejection(reset_in)
            response = self._dispatch_allowed(request, local)
            if limit.headers != "none":
                limit.decorate(response, remaining, reset_in)
            return response
        return self._dispatch_allowed(request, local)

    def _dispatch_allowed(self, request: Request, local: str) -> Response:
        for middleware in self.middlewares:
            early = middleware(request)
            if early is not None:
                return early
        if not request.path.startswith(self.prefix):
            return Response.error(404, f"no route for {request.path}")
        denied = self.auth.check(request)
        if denied is not None:
            return denied
        allowed = []
        for method, regex, handler in self._routes:
            match = regex.match(local)
            if match:
                if method == request.method or (method == "GET" and request.method == "HEAD"):
                    request.params = match.groupdict()
                    return handler(request)
                allowed.append(method)
        if allowed:
            return Response.error(405, "method not allowed", allowed=allowed)
        return Response.error(404, f"no route for {local}")

    def _local(self, path: str) -> str:
        return path[len(self.prefix) :] or "/" if path.startswith(self.prefix) else path

    # -- core routes ------------------------------------------------------------------
    def _install_core_routes(self) -> None:
        self.route("GET", "/", lambda r: Response.json({"service": "fakeapi", "ok": True}))
        self.route("GET", "/redirect", self._redirect)
        self.route("GET", "/paged/{style}/{collection}", self.pagination.handle)
        self.route("GET", "/{collection}", self._list)
        self.route("POST", "/{collection}", self._create)
        self.route("GET", "/{collection}/{id}", self._get)
        self.route("PUT", "/{collection}/{id}", self._put)
        self.route("PATCH", "/{collection}/{id}", self._patch)
        self.route("DELETE", "/{collection}/{id}", self._delete)

    def _redirect(self, request: Request) -> Response:
        target = request.query.get("to", "/")
        status = int(request.query.get("status", "302"))
        return Response(status, b"", {"Location": target})

    def _coll(self, request: Request) -> Collection | None:
        return self.collections.get(request.params["collection"])

    def _list(self, request: Request) -> Response:
        return self.pagination.handle(request)

    def _get(self, request: Request) -> Response:
        coll = self._coll(request)
        record = coll.get(request.params["id"]) if coll else None
        if record is None:
            return Response.error(404, "not found")
        return Response.json(record)

    def _create(self, request: Request) -> Response:
        body = _json_body(request)
        if not isinstance(body, dict):
            return Response.error(400, "body must be a JSON object")
        record = self.collection(request.params["collection"]).create(body)
        return Response.json(record, 201)

    def _put(self, request: Request) -> Response:
        body = _json_body(request)
        if not isinstance(body, dict):
            return Response.error(400, "body must be a JSON object")
        coll = self.collection(request.params["collection"])
        body[coll.key] = _typed_key(request.params["id"])
        record, created = coll.put(body)
        return Response.json(record, 201 if created else 200)

    def _patch(self, request: Request) -> Response:
        body = _json_body(request)
        coll = self._coll(request)
        if not isinstance(body, dict) or coll is None:
            return Response.error(400 if coll else 404, "bad patch")
        record = coll.patch(request.params["id"], body)
        return Response.json(record) if record else Response.error(404, "not found")

    def _delete(self, request: Request) -> Response:
        coll = self._coll(request)
        if coll is None or not coll.delete(request.params["id"]):
            return Response.error(404, "not found")
        return Response(204)


def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def _typed_key(value: str) -> int | str:
    return int(value) if value.isdigit() else value
