"""Offset and page-number paging: one ``RangePaginator`` with two faces (as in dlt).

A numeric position is sent as a query parameter: an offset advances by the records of a
page, a page number by one. The walk stops on an empty page, at the total the body reports
(``total_path``/``total_pages_path``), else on a short page -- except the first short page:
servers cap page sizes silently (Jira ``maxResults``), so it is confirmed with one more
request and its length becomes the expected size. With a total, the first page plans every
remaining request, so pages can be fetched concurrently.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.client.paginators.base import PageRequest, Paginator, State
from airflow_provider_apisync.client.records import get_path


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


class RangePaginator(Paginator):
    """``param=position`` (and ``size_param=size``); the state key is ``state_key``.

    ``by_records``: the position advances by the page's length (offsets), else by one
    (page numbers). ``total_path`` reads the total in the same unit as the position,
    counted from ``first``.
    """

    state_key: ClassVar[str] = "position"

    def __init__(
        self,
        param: str,
        first: int,
        *,
        by_records: bool,
        size: int | None = None,
        size_param: str | None = None,
        total: str | None = None,
    ) -> None:
        super().__init__()
        self._param, self._first, self._by_records = param, first, by_records
        self._size, self._size_param, self._total_path = size, size_param, total

    def init_request(self, request: PageRequest, state: State | None = None) -> None:
        super().init_request(request, state)
        self._params = dict(request.params or {})
        self._expected, self._confirmed = self._size, False
        self.position = self._first
        if state:
            self.position = int(state[self.state_key])
            if state.get("size"):
                self._expected, self._confirmed = int(state["size"]), True
        self.update_request(request)

    def update_state(self, response: requests.Response, body: Any, records: list[Any]) -> None:
        count = len(records)
        self.position += count if self._by_records else 1
        total = _total(body, self._total_path) if count else None
        if count == 0:
            self.has_next_page = False
        elif total is not None:
            self.has_next_page = self.position < total + self._base
        else:
            self.has_next_page = not self._short_page_is_last(count)

    def update_request(self, request: PageRequest) -> None:
        request.params = self._request_params(self.position)
        request.state = self._state(self.position)

    def plan(self, request: PageRequest, body: Any, records: list[Any]) -> list[PageRequest] | None:
        total = _total(body, self._total_path)
        count = len(records)
        if total is None or count == 0:
            return None
        self._expected, self._confirmed = count, True
        step = count if self._by_records else 1
        positions = range(self.position + step, total + self._base, step)
        return [
            PageRequest(request.endpoint, self._request_params(p), self._state(p))
            for p in positions
        ]

    @property
    def _base(self) -> int:
        """Offsets count from 0 whatever the first offset; page numbers from the first page."""
        return 0 if self._by_records else self._first

    def _request_params(self, position: int) -> dict[str, Any]:
        sent = {**self._params, self._param: position}
        if self._size_param and self._size:
            sent[self._size_param] = self._size
        return sent

    def _state(self, position: int) -> State:
        size = {"size": self._expected} if self._confirmed and self._expected else {}
        return {self.state_key: position, **size}

    def _short_page_is_last(self, count: int) -> bool:
        if self._expected is None or (count < self._expected and not self._confirmed):
            self._expected = count
            self._confirmed = True
            return False
        self._confirmed = True
        self._expected = max(self._expected, count)
        return count < self._expected


class OffsetPaginator(RangePaginator):
    """``?offset=N&limit=M``; stops on an empty or short page, or at ``total_path``."""

    kind = "offset"
    state_key = "offset"

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
        super().__init__(
            offset_param,
            self.first_offset,
            by_records=True,
            size=self.limit,
            size_param=limit_param,
            total=total_path,
        )

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "limit": self.limit,
            "offset_param": self.offset_param,
            "limit_param": self.limit_param,
            "total_path": self.total_path,
        }


class PageNumberPaginator(RangePaginator):
    """``?page=N[&size_param=page_size]``; stops on an empty or short page or ``total_pages``."""

    kind = "page"
    state_key = "page"

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
        super().__init__(
            page_param,
            self.first_page,
            by_records=False,
            size=self.page_size,
            size_param=size_param,
            total=total_pages_path,
        )

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "page_param": self.page_param,
            "start": self.first_page,
            "page_size": self.page_size,
            "size_param": self.size_param,
            "total_pages_path": self.total_pages_path,
        }
