"""Offset and page-number paging: sized pages, totals, capped page sizes, concurrency plans."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.client.paginators.base import PageRequest, Paginator, State
from airflow_provider_apisync.client.records import get_path


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

    # -- position handling shared by offset and page numbers ----------------------------
    state_key = ""  # "offset" or "page": where a page's position lives in its state

    def _first(self) -> int:
        raise NotImplementedError

    def _position_param(self) -> str:
        raise NotImplementedError

    def _request(self, endpoint: str, params: dict[str, Any], position: int) -> PageRequest:
        raise NotImplementedError

    def start(self, endpoint: str, params: dict[str, Any]) -> PageRequest:
        self._base = (endpoint, params)
        return self._request(endpoint, params, self._first())

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        self._base = (endpoint, params)
        self._restore(state)
        return self._request(endpoint, params, int(state[self.state_key]))

    def adopt(self, request: PageRequest) -> PageRequest:
        params = dict(request.params or {})
        self._base = (request.endpoint, params)
        position = int(params.get(self._position_param(), self._first()))
        return self._request(request.endpoint, params, position)


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

    state_key = "offset"

    def _first(self) -> int:
        return self.first_offset

    def _position_param(self) -> str:
        return self.offset_param

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

    state_key = "page"

    def _first(self) -> int:
        return self.first_page

    def _position_param(self) -> str:
        return self.page_param

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
