"""Paginated GETs: iterate pages of records with any paginator, resumably.

``paginate(client, endpoint, ...)`` yields :class:`Page` objects in order. Each page
carries ``state``: a small JSON-safe description of the *next* request (None after the
last page). Checkpoint it after handling a page; pass it back as ``state=`` to continue
exactly there after a crash. Every next URL passes the client's host guard before any
credential is sent. Offset and page-number paginators with a known total fetch pages
concurrently when ``concurrency > 1``; pages are still yielded in order.
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

import requests

from airflow_provider_apisync.client.autodetect import detect
from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.client.paginators import (
    PAGINATORS,
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    RangePaginator,
    SinglePagePaginator,
    State,
    paginator_from_spec,
    parse_link_header,
)
from airflow_provider_apisync.client.records import decode_json, find_records_path, select_records
from airflow_provider_apisync.client.urls import redact_url

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "Pages",
    "Paginator",
    "RangePaginator",
    "SinglePagePaginator",
    "detect",
    "paginate",
    "paginator_from_spec",
    "paginator_spec",
    "parse_link_header",
    "resolve_paginator",
    "safe_state",
]

log = logging.getLogger(__name__)

PaginatorArg = Paginator | str | Mapping[str, Any] | None
"""A paginator object, ``"auto"`` (or None), a kind name, or a :meth:`Paginator.spec` dict."""
MAX_EMPTY_PAGES = 10
"""Consecutive empty pages that still announce a next page before the walk gives up:
an API handing out fresh cursors for empty pages would otherwise be paged forever."""


@dataclass
class Page:
    """One page: its records, the HTTP response, and the state that resumes after it."""

    records: list[Any]
    response: requests.Response
    number: int
    state: State | None
    request_state: State

    @property
    def url(self) -> str:
        """The page's URL with secrets redacted."""
        return redact_url(self.response.url)


class Fetcher(Protocol):
    """What the page loop needs of a client (``ApiClient``, or a wrapper around one)."""

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response: ...

    def strip_credentials(self, url: str) -> str: ...


def safe_state(state: Mapping[str, Any] | None) -> Any:
    """``state`` for log lines: URLs with secret-looking query values redacted."""
    if not state:
        return state
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, Mapping):
            out[key] = safe_state(value)
        elif isinstance(value, str) and "://" in value:
            out[key] = redact_url(value)
        else:
            out[key] = value
    return out


def resolve_paginator(paginator: PaginatorArg) -> Paginator | None:
    """The one place a paginator argument is understood: None means "detect it".

    Accepts an object (returned as is: each walk works on its own copy), ``"auto"``/None,
    a kind name or a :meth:`Paginator.spec` dict; anything else raises ``ApiConfigError``.
    """
    if paginator is None or isinstance(paginator, Paginator):
        return paginator
    if isinstance(paginator, str):
        name = paginator.strip().lower()
        if name == "auto":
            return None
        if name in ("single", "link", "offset", "page"):
            return PAGINATORS[name]()
        raise ApiConfigError(
            "paginator",
            f"'{paginator}' is not a paginator name.",
            "use 'auto', 'offset', 'page', 'link', 'single' or an object such as "
            "CursorPaginator('meta.next_cursor').",
        )
    if isinstance(paginator, Mapping):
        return paginator_from_spec(dict(paginator))
    raise ApiConfigError(
        "paginator", f"unsupported value of type {type(paginator).__name__}.", "use 'auto'."
    )


def paginator_spec(paginator: Paginator | None) -> dict[str, Any]:
    """JSON-safe description of a resolved paginator (``{"kind": "auto"}`` for None)."""
    return paginator.spec() if paginator is not None else {"kind": "auto"}


def _positive(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiConfigError(name, f"must be a positive integer, got {value!r}.")
    return value


def paginate(
    client: Fetcher,
    endpoint: str,
    *,
    paginator: PaginatorArg = "auto",
    records_path: str | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    max_pages: int | None = None,
    max_records: int | None = None,
    concurrency: int = 1,
    state: Mapping[str, Any] | None = None,
    max_empty_pages: int = MAX_EMPTY_PAGES,
) -> Pages:
    """Iterate the pages of ``endpoint``; arguments are validated before the first request.

    ``max_empty_pages``: after that many consecutive empty pages that still point at a
    next page, raise ``ApiContractError`` instead of paging on forever.
    """
    return Pages(
        client,
        endpoint,
        resolve_paginator(paginator),
        records_path=records_path,
        params=dict(params or {}),
        headers=dict(headers) if headers else None,
        max_pages=_positive("max_pages", max_pages),
        max_records=_positive("max_records", max_records),
        concurrency=_positive("concurrency", concurrency) or 1,
        max_empty_pages=_positive("max_empty_pages", max_empty_pages) or MAX_EMPTY_PAGES,
        state=dict(state) if state else None,
    )


class Pages(Iterator[Page]):
    """The page iterator ``paginate`` returns: one pass over an endpoint's pages.

    What the walk learned on the way: ``fetched`` (page requests answered, empty pages
    included), ``truncated`` (``max_pages``/``max_records`` stopped it while more pages
    existed), ``records_path`` and ``paginator`` (the detected ones once the first page
    is read; ``paginator`` is None before that with "auto").
    """

    def __init__(
        self,
        client: Fetcher,
        endpoint: str,
        paginator: Paginator | None,
        *,
        records_path: str | None,
        params: dict[str, Any],
        headers: dict[str, str] | None,
        max_pages: int | None,
        max_records: int | None,
        concurrency: int,
        max_empty_pages: int = MAX_EMPTY_PAGES,
        state: State | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        # each walk learns on its own copy; None = "auto": detected on the first page
        self.paginator = copy.copy(paginator)
        self.auto = paginator is None
        self.reason = ""
        self.records_path = records_path
        self.params = params
        self.headers = headers
        self.max_pages = max_pages
        self.max_records = max_records
        self.concurrency = concurrency
        self.max_empty_pages = max_empty_pages
        self.empty_run = 0
        self.fetched = 0
        self.records = 0
        self.truncated = False
        self._pages = self._walk(state)

    def __iter__(self) -> Pages:
        return self

    def __next__(self) -> Page:
        return next(self._pages)

    def close(self) -> None:
        """Stop early (cancels concurrent fetches still in flight)."""
        self._pages.close()

    # -- fetching ---------------------------------------------------------------------
    def fetch(self, request: PageRequest, *, strict: bool) -> tuple[requests.Response, Any, list]:
        resp = self.client.request(
            "GET", request.endpoint, params=request.params, headers=self.headers
        )
        body = decode_json(resp)
        return resp, body, self.select(body, strict=strict)

    def select(self, body: Any, *, strict: bool) -> list[Any]:
        if self.records_path is None and body is not None:
            found = find_records_path(body)
            if found is None:
                keys = sorted(body) if isinstance(body, dict) else type(body).__name__
                raise ApiContractError(
                    f"could not find the records list in the response of {self.endpoint} "
                    f"(top-level keys: {keys}). Fix: set records_path to its dotted path."
                )
            self.records_path = found
            log.info("records_path auto-detected: '%s'", found or "<body>")
        return select_records(body, self.records_path, strict=strict)

    # -- iteration --------------------------------------------------------------------
    def _walk(self, state: State | None) -> Generator[Page, None, None]:
        request = PageRequest(self.endpoint, self.params)
        if state and self.auto:  # {"auto": spec of the detected paginator, "next": its state}
            if state.get("auto"):
                self.paginator, self.reason = paginator_from_spec(state["auto"]), "resumed"
            state = state.get("next") if state.get("auto") else None
        if self.paginator is not None:
            self.paginator.init_request(request, state)
        if state:
            log.info("resuming pagination of %s at %s", self.endpoint, safe_state(state))
        first = True
        while True:
            resp, body, records = self.fetch(request, strict=first)
            self.fetched += 1
            paginator = self.paginator or self._detect(request, resp, body, records)
            if first and self.concurrency > 1:
                planned = paginator.plan(request, body, records)
                if planned is not None:
                    self._log_choice()
                    yield from self._concurrent(request, resp, records, planned)
                    return
                log.info(
                    "concurrency=%d unused: pages are fetched one by one (only offset and "
                    "page-number paging with a known total can be fetched in parallel)",
                    self.concurrency,
                )
            paginator.update_state(resp, body, records)
            following = None
            if paginator.has_next_page:
                following = replace(request)
                paginator.update_request(following)
            if first:
                self._log_choice()
                first = False
            after = following.state if following else None
            page = self._emit(records, resp, request.state, after)
            if page is not None:
                yield page
            if following is None:
                break
            if self._guard_reached():
                return
            self._count_empty(records, following)
            request = following
        log.info("pagination of %s done: %d pages, %d records", *self._summary())

    def _detect(
        self, request: PageRequest, resp: requests.Response, body: Any, records: list[Any]
    ) -> Paginator:
        """ "auto": choose from the first page, and hand it the request that fetched it."""
        found, self.reason = detect(resp, body, records, self.records_path, request.params or {})
        found.init_request(request)
        self.paginator = found
        return found

    def _concurrent(
        self,
        first: PageRequest,
        resp: requests.Response,
        records: list[Any],
        planned: list[PageRequest],
    ) -> Iterator[Page]:
        todo = planned if self.max_pages is None else planned[: max(self.max_pages - 1, 0)]
        log.info("fetching %d more pages with concurrency=%d", len(todo), self.concurrency)
        after_first = planned[0].state if planned else None
        page = self._emit(records, resp, first.state, after_first)
        if page is not None:
            yield page
        if after_first is not None and self._guard_reached():
            return
        pending: deque[tuple[int, Future[tuple[requests.Response, Any, list]]]] = deque()
        upcoming = iter(enumerate(todo))
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="apisync-page") as pool:
            try:
                for index, request in upcoming:
                    pending.append((index, pool.submit(self.fetch, request, strict=False)))
                    if len(pending) >= self.concurrency:
                        break
                while pending:
                    index, future = pending.popleft()
                    page_resp, _, page_records = future.result()
                    self.fetched += 1
                    for nxt_index, request in upcoming:
                        pending.append((nxt_index, pool.submit(self.fetch, request, strict=False)))
                        break
                    following = planned[index + 1].state if index + 1 < len(planned) else None
                    page = self._emit(page_records, page_resp, planned[index].state, following)
                    if page is not None:
                        yield page
                    if following is not None and self._guard_reached():
                        return
            finally:
                for _, future in pending:
                    future.cancel()
        log.info("pagination of %s done: %d pages, %d records", *self._summary())

    def _emit(
        self,
        records: list[Any],
        resp: requests.Response,
        request_state: State,
        next_state: State | None,
    ) -> Page | None:
        if self.max_records is not None and self.records + len(records) > self.max_records:
            records = records[: self.max_records - self.records]
        if not records:
            return None
        self.records += len(records)
        return Page(
            records,
            resp,
            self.fetched,
            self._storable(next_state),
            self._storable(request_state) or {},
        )

    def _storable(self, state: State | None) -> State | None:
        """``state`` without the credentials the auth put into URLs (``api_key_query_param``):
        states are checkpointed; the auth re-applies the key when the URL is requested.
        With "auto", the detected paginator's spec travels along, so a resume needs no
        second detection."""
        if state is None:
            return None
        strip = self.client.strip_credentials
        state = {k: strip(v) if isinstance(v, str) and "://" in v else v for k, v in state.items()}
        if self.auto and self.paginator is not None:
            return {"auto": self.paginator.spec(), "next": state}
        return state or None

    def _count_empty(self, records: list[Any], following: PageRequest | None) -> None:
        """Raise after ``max_empty_pages`` empty pages in a row that announce another."""
        self.empty_run = 0 if records or following is None else self.empty_run + 1
        if self.empty_run >= self.max_empty_pages:
            raise ApiContractError(
                f"{self.endpoint}: {self.empty_run} empty pages in a row, each pointing at "
                "another page; stopping instead of paging forever. Fix: check the paginator "
                "(cursor_path, has_more_path) or raise max_empty_pages; records pulled so "
                "far are kept."
            )

    def _guard_reached(self) -> bool:
        """Called only while more pages exist: True (and ``truncated``) when a guard stops."""
        if self.max_records is not None and self.records >= self.max_records:
            log.warning("max_records=%d reached: stopping %s", self.max_records, self.endpoint)
            self.truncated = True
        elif self.max_pages is not None and self.fetched >= self.max_pages:
            log.warning("max_pages=%d reached: stopping %s", self.max_pages, self.endpoint)
            self.truncated = True
        return self.truncated

    def _log_choice(self) -> None:
        if self.auto:
            log.info("paginator 'auto' chose %r (%s)", self.paginator, self.reason)

    def _summary(self) -> tuple[str, int, int]:
        return self.endpoint, self.fetched, self.records
