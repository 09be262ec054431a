"""Paginator strategies: how to ask for the next page, and when to stop.

A paginator is configuration plus the small per-walk memory it needs (page size seen,
cursors already handed out). Every request it builds carries a JSON-safe ``state`` that
recreates it, so a caller can checkpoint after a page and resume from there later.
Public import path: :mod:`airflow_provider_apisync.client.pagination`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from airflow_provider_apisync.client.errors import (
    ApiConfigError,
    ApiContractError,
    PaginationLoopError,
)
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.client.urls import redact_url, resolve_next

State = dict[str, Any]


@dataclass
class PageRequest:
    """One page request: ``endpoint`` (below the base URL, or an absolute next URL)."""

    endpoint: str
    params: dict[str, Any] | None
    state: State = field(default_factory=dict)


class Paginator:
    """Base class. Subclasses implement ``start``, ``resume``, ``next`` and ``spec``."""

    kind: ClassVar[str] = "base"

    def __init__(self) -> None:
        self._seen: set[int] = set()

    # -- configuration ----------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """JSON-safe description (kind + arguments): logs, fingerprints, auto-resume."""
        return {"kind": self.kind}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def fresh(self) -> Paginator:
        """A copy with empty per-walk memory (paginator objects may be reused)."""
        clone = copy.copy(self)
        clone._reset()
        return clone

    def _reset(self) -> None:
        self._seen = set()

    # -- walking ----------------------------------------------------------------------
    def start(self, endpoint: str, params: dict[str, Any]) -> PageRequest:
        """The first request of a walk."""
        return PageRequest(endpoint, params, {})

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        """The request described by a checkpointed ``state``."""
        return self.start(endpoint, params)

    def adopt(self, request: PageRequest) -> PageRequest:
        """Take over a first request someone else built (auto-detection)."""
        return request

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        """The request for the page after ``request``, or None when this was the last."""
        raise NotImplementedError

    def plan(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> list[PageRequest] | None:
        """Every remaining request when the total is known (for concurrent fetching)."""
        return None

    def _check_loop(self, value: str, what: str) -> None:
        digest = hash(value)
        if digest in self._seen:
            shown = redact_url(value) if "://" in value else value[:80]
            raise PaginationLoopError(
                f"the API returned the {what} '{shown}' a second time: paging would loop "
                "forever. Fix: check the paginator settings (cursor_path, cursor_param) or "
                "report the API bug; records pulled so far are kept."
            )
        self._seen.add(digest)


class _SizedPaginator(Paginator):
    """Offset and page-number paging share the short-page rule.

    A page shorter than the expected size is the last one, except the first short page:
    servers cap page sizes silently (Jira ``maxResults``), so it is confirmed with one
    more request and its length becomes the expected size.
    """

    def __init__(self) -> None:
        super().__init__()
        self._expected: int | None = None
        self._confirmed = False

    def _reset(self) -> None:
        super()._reset()
        self._expected = self._requested_size()
        self._confirmed = False

    def _requested_size(self) -> int | None:
        return None

    def _restore(self, state: State) -> None:
        if state.get("size"):
            self._expected = int(state["size"])
            self._confirmed = True

    def _short_page_is_last(self, count: int) -> bool:
        if self._expected is None or (count < self._expected and not self._confirmed):
            self._expected = count
            self._confirmed = True
            return False
        self._confirmed = True
        self._expected = max(self._expected, count)
        return count < self._expected

    def _size_state(self) -> State:
        return {"size": self._expected} if self._confirmed and self._expected else {}


def _total(body: Any, path: str | None) -> int | None:
    if not path:
        return None
    value = get_path(body, path)
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiContractError(
            f"total at '{path}' is {value!r}, not a number. Fix: check the total path."
        ) from None


class OffsetPaginator(_SizedPaginator):
    """``?offset=N&limit=M``; stops on an empty or short page, or at ``total_path``."""

    kind = "offset"

    def __init__(
        self,
        limit: int = 100,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = None,
        *,
        start: int = 0,
    ) -> None:
        if int(limit) < 1:
            raise ApiConfigError("paginator.limit", f"must be >= 1, got {limit}.")
        self.limit = int(limit)
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = total_path
        self.first_offset = int(start)
        super().__init__()
        self._reset()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "limit": self.limit,
            "offset_param": self.offset_param,
            "limit_param": self.limit_param,
            "total_path": self.total_path,
        }

    def _requested_size(self) -> int | None:
        return self.limit

    def _request(self, endpoint: str, params: dict[str, Any], offset: int) -> PageRequest:
        sent = {**params, self.offset_param: offset, self.limit_param: self.limit}
        return PageRequest(endpoint, sent, {"offset": offset, **self._size_state()})

    def start(self, endpoint: str, params: dict[str, Any]) -> PageRequest:
        self._base = (endpoint, params)
        return self._request(endpoint, params, self.first_offset)

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        self._base = (endpoint, params)
        self._restore(state)
        return self._request(endpoint, params, int(state["offset"]))

    def adopt(self, request: PageRequest) -> PageRequest:
        params = dict(request.params or {})
        self._base = (request.endpoint, params)
        offset = int(params.get(self.offset_param, self.first_offset))
        return self._request(request.endpoint, params, offset)

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        count = len(records)
        if count == 0:
            return None
        after = int(request.state["offset"]) + count
        total = _total(body, self.total_path)
        if total is not None:
            if after >= total:
                return None
        elif self._short_page_is_last(count):
            return None
        return self._request(*self._base, after)

    def plan(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> list[PageRequest] | None:
        total = _total(body, self.total_path)
        count = len(records)
        if total is None or count == 0:
            return None
        self._expected, self._confirmed = count, True
        offsets = range(int(request.state["offset"]) + count, total, count)
        return [self._request(*self._base, offset) for offset in offsets]


class PageNumberPaginator(_SizedPaginator):
    """``?page=N[&size_param=page_size]``; stops on an empty or short page or ``total_pages``."""

    kind = "page"

    def __init__(
        self,
        page_param: str = "page",
        start: int = 1,
        page_size: int | None = None,
        size_param: str | None = None,
        total_pages_path: str | None = None,
    ) -> None:
        if page_size is not None and int(page_size) < 1:
            raise ApiConfigError("paginator.page_size", f"must be >= 1, got {page_size}.")
        self.page_param = page_param
        self.first_page = int(start)
        self.page_size = int(page_size) if page_size is not None else None
        self.size_param = size_param
        self.total_pages_path = total_pages_path
        super().__init__()
        self._reset()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "page_param": self.page_param,
            "start": self.first_page,
            "page_size": self.page_size,
            "size_param": self.size_param,
            "total_pages_path": self.total_pages_path,
        }

    def _requested_size(self) -> int | None:
        return self.page_size

    def _request(self, endpoint: str, params: dict[str, Any], page: int) -> PageRequest:
        sent = {**params, self.page_param: page}
        if self.size_param and self.page_size:
            sent[self.size_param] = self.page_size
        return PageRequest(endpoint, sent, {"page": page, **self._size_state()})

    def start(self, endpoint: str, params: dict[str, Any]) -> PageRequest:
        self._base = (endpoint, params)
        return self._request(endpoint, params, self.first_page)

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        self._base = (endpoint, params)
        self._restore(state)
        return self._request(endpoint, params, int(state["page"]))

    def adopt(self, request: PageRequest) -> PageRequest:
        params = dict(request.params or {})
        self._base = (request.endpoint, params)
        page = int(params.get(self.page_param, self.first_page))
        return self._request(request.endpoint, params, page)

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        count = len(records)
        if count == 0:
            return None
        page = int(request.state["page"])
        total_pages = _total(body, self.total_pages_path)
        if total_pages is not None:
            if page - self.first_page + 1 >= total_pages:
                return None
        elif self._short_page_is_last(count):
            return None
        return self._request(*self._base, page + 1)

    def plan(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> list[PageRequest] | None:
        total_pages = _total(body, self.total_pages_path)
        if total_pages is None or not records:
            return None
        page = int(request.state["page"])
        last = self.first_page + total_pages - 1
        return [self._request(*self._base, p) for p in range(page + 1, last + 1)]


class CursorPaginator(Paginator):
    """Cursor read from ``cursor_path`` in the body, sent back as ``cursor_param``.

    Stops when the cursor is missing or empty, when ``has_more_path`` is false, or on an
    empty page when there is no ``has_more_path`` (short pages do not stop it: Slack).
    Stripe: ``CursorPaginator("data.-1.id", "starting_after", "has_more")``.
    """

    kind = "cursor"

    def __init__(
        self, cursor_path: str, cursor_param: str = "cursor", has_more_path: str | None = None
    ) -> None:
        if not cursor_path:
            raise ApiConfigError(
                "paginator.cursor_path", "is empty.", "give the dotted path of the next cursor."
            )
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.has_more_path = has_more_path
        super().__init__()

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cursor_path": self.cursor_path,
            "cursor_param": self.cursor_param,
            "has_more_path": self.has_more_path,
        }

    def _request(self, endpoint: str, params: dict[str, Any], cursor: Any) -> PageRequest:
        sent = dict(params)
        if cursor is not None:
            sent[self.cursor_param] = cursor
        return PageRequest(endpoint, sent, {"cursor": cursor})

    def start(self, endpoint: str, params: dict[str, Any]) -> PageRequest:
        self._base = (endpoint, params)
        return self._request(endpoint, params, None)

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        self._base = (endpoint, params)
        cursor = state.get("cursor")
        if cursor is not None:
            self._check_loop(str(cursor), "cursor")
        return self._request(endpoint, params, cursor)

    def adopt(self, request: PageRequest) -> PageRequest:
        params = dict(request.params or {})
        cursor = params.pop(self.cursor_param, None)
        self._base = (request.endpoint, params)
        return self._request(request.endpoint, params, cursor)

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        if self.has_more_path is not None and not get_path(body, self.has_more_path):
            return None
        cursor = get_path(body, self.cursor_path)
        if cursor is None or cursor == "" or isinstance(cursor, (dict, list, bool)):
            return None
        if not records and self.has_more_path is None:
            return None
        self._check_loop(str(cursor), "cursor")
        return self._request(*self._base, cursor)


def parse_link_header(value: str | None) -> dict[str, str]:
    """RFC 8288 ``Link`` header -> ``{rel: target}`` (first target per relation type).

    Handles several links, quoted (commas and semicolons inside quotes) and unquoted
    parameters, space-separated relation types (``rel="next last"``) and
    case-insensitive relation names.
    """
    links: dict[str, str] = {}
    text = value or ""
    pos = 0
    while True:
        open_at = text.find("<", pos)
        close_at = text.find(">", open_at + 1)
        if open_at < 0 or close_at < 0:
            return links
        target = text[open_at + 1 : close_at].strip()
        params, pos = _link_params(text, close_at + 1)
        for rel in params.get("rel", "").split():
            links.setdefault(rel.lower(), target)


def _link_params(text: str, pos: int) -> tuple[dict[str, str], int]:
    """Parameters after one link target, up to the comma that ends the link."""
    params: dict[str, str] = {}
    current: list[str] = []
    quoted = False
    while pos < len(text):
        char = text[pos]
        if char == '"':
            quoted = not quoted
        elif not quoted and char in ";,":
            _add_param(params, "".join(current))
            current = []
            if char == ",":
                return params, pos + 1
            pos += 1
            continue
        current.append(char)
        pos += 1
    _add_param(params, "".join(current))
    return params, pos


def _add_param(params: dict[str, str], raw: str) -> None:
    name, _, value = raw.partition("=")
    name = name.strip().lower()
    if name and name not in params:
        params[name] = value.strip().strip('"')


class LinkHeaderPaginator(Paginator):
    """Follows the RFC 8288 ``Link`` header (GitHub); relative targets are resolved."""

    kind = "link"

    def __init__(self, rel: str = "next") -> None:
        self.rel = rel.lower()
        super().__init__()

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "rel": self.rel}

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        return _url_request(self, state)

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        target = parse_link_header(response.headers.get("Link")).get(self.rel)
        return _follow(self, response, target, f"'{self.rel}' link")


class NextUrlPaginator(Paginator):
    """Follows a next-page URL found at ``next_url_path`` in the body or in ``header``.

    Salesforce ``nextRecordsUrl`` (relative), MS Graph ``@odata.nextLink``, HubSpot
    ``paging.next.link``, Kinto's ``Next-Page`` header. A HAL ``{"href": ...}`` is accepted.
    """

    kind = "next_url"

    def __init__(self, next_url_path: str | None = None, header: str | None = None) -> None:
        if not next_url_path and not header:
            raise ApiConfigError(
                "paginator",
                "NextUrlPaginator needs next_url_path or header.",
                "e.g. NextUrlPaginator(next_url_path='paging.next.link') or header='Next-Page'.",
            )
        self.next_url_path = next_url_path
        self.header = header
        super().__init__()

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "next_url_path": self.next_url_path, "header": self.header}

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        return _url_request(self, state)

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        value = get_path(body, self.next_url_path) if self.next_url_path else None
        if isinstance(value, dict):
            value = value.get("href")
        if not value and self.header:
            value = response.headers.get(self.header, "").strip().strip("<>").strip()
        if value is not None and value != "" and not isinstance(value, str):
            where = self.next_url_path or self.header
            raise ApiContractError(f"next URL at '{where}' is a {type(value).__name__}")
        return _follow(self, response, value or None, "next URL")


def _url_request(paginator: Paginator, state: State) -> PageRequest:
    url = str(state["url"])
    paginator._check_loop(url, "next URL")
    return PageRequest(url, None, {"url": url})


def _follow(
    paginator: Paginator, response: requests.Response, target: str | None, what: str
) -> PageRequest | None:
    if not target:
        return None
    paginator._seen.add(hash(response.url))  # a link back to the page just read loops too
    url = resolve_next(response.url, target)
    paginator._check_loop(url, what)
    return PageRequest(url, None, {"url": url})


class SinglePagePaginator(Paginator):
    """One request, one page."""

    kind = "single"

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        return None


PAGINATORS: dict[str, type[Paginator]] = {
    cls.kind: cls
    for cls in (
        OffsetPaginator,
        PageNumberPaginator,
        CursorPaginator,
        LinkHeaderPaginator,
        NextUrlPaginator,
        SinglePagePaginator,
    )
}


def paginator_from_spec(spec: dict[str, Any]) -> Paginator:
    """Rebuild a paginator from :meth:`Paginator.spec` output."""
    args = {k: v for k, v in spec.items() if k != "kind"}
    cls = PAGINATORS.get(str(spec.get("kind")))
    if cls is None:
        raise ApiConfigError("paginator", f"unknown paginator kind {spec.get('kind')!r}.")
    return cls(**args)
