"""Cursor paging: a token read from the body, sent back as a request parameter."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.paginators.base import PageRequest, Paginator, State
from airflow_provider_apisync.client.records import get_path


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

    def init_request(self, request: PageRequest, state: State | None = None) -> None:
        super().init_request(request, state)
        self._params = dict(request.params or {})
        self.cursor = self._params.pop(self.cursor_param, None)
        if state:
            self.cursor = state.get("cursor")
            if self.cursor is not None:
                self._check_loop(str(self.cursor), "cursor")
        self.update_request(request)

    def update_state(self, response: requests.Response, body: Any, records: list[Any]) -> None:
        self.has_next_page = False
        if self.has_more_path is not None and not get_path(body, self.has_more_path):
            return
        cursor = get_path(body, self.cursor_path)
        if cursor is None or cursor == "" or isinstance(cursor, (dict, list, bool)):
            return
        if not records and self.has_more_path is None:
            return
        self._check_loop(str(cursor), "cursor")
        self.cursor, self.has_next_page = cursor, True

    def update_request(self, request: PageRequest) -> None:
        sent = dict(self._params)
        if self.cursor is not None:
            sent[self.cursor_param] = self.cursor
        request.params, request.state = sent, {"cursor": self.cursor}
