"""Link-following paging: RFC 8288 ``Link`` headers, next URLs in bodies or headers."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.client.paginators.base import PageRequest, Paginator, State
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.client.urls import resolve_next


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


class _UrlPaginator(Paginator):
    """Follows absolute next URLs; every one is checked for loops (and by the host guard)."""

    what = "next URL"

    def _target(self, response: requests.Response, body: Any) -> str | None:
        raise NotImplementedError

    def init_request(self, request: PageRequest, state: State | None = None) -> None:
        super().init_request(request, state)
        if state:
            self.url = str(state["url"])
            self._check_loop(self.url, "next URL")
            self.update_request(request)

    def update_state(self, response: requests.Response, body: Any, records: list[Any]) -> None:
        target = self._target(response, body)
        self.has_next_page = bool(target)
        if target:
            self._seen.add(hash(response.url))  # a link back to the page just read loops too
            self.url = resolve_next(response.url, target)
            self._check_loop(self.url, self.what)

    def update_request(self, request: PageRequest) -> None:
        request.endpoint, request.params, request.state = self.url, None, {"url": self.url}


class LinkHeaderPaginator(_UrlPaginator):
    """Follows the RFC 8288 ``Link`` header (GitHub); relative targets are resolved."""

    kind = "link"

    def __init__(self, rel: str = "next") -> None:
        self.rel = rel.lower()
        self.what = f"'{self.rel}' link"
        super().__init__()

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "rel": self.rel}

    def _target(self, response: requests.Response, body: Any) -> str | None:
        return parse_link_header(response.headers.get("Link")).get(self.rel)


class NextUrlPaginator(_UrlPaginator):
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

    def _target(self, response: requests.Response, body: Any) -> str | None:
        value = get_path(body, self.next_url_path) if self.next_url_path else None
        if isinstance(value, dict):
            value = value.get("href")
        if not value and self.header:
            value = response.headers.get(self.header, "").strip().strip("<>").strip()
        if value is not None and value != "" and not isinstance(value, str):
            where = self.next_url_path or self.header
            raise ApiContractError(f"next URL at '{where}' is a {type(value).__name__}")
        return value or None


class SinglePagePaginator(Paginator):
    """One request, one page."""

    kind = "single"

    def update_state(self, response: requests.Response, body: Any, records: list[Any]) -> None:
        self.has_next_page = False
