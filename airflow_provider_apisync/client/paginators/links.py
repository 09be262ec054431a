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
