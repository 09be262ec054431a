"""``paginator="auto"``: pick a paginator from the first response.

The page loop calls :func:`detect` on the first page and swaps the result in (as dlt does);
the detected paginator then takes over the request that fetched that page.

Rules, first match wins (documented in docs/pull.md):
1. a ``Link`` header with ``rel="next"`` -> :class:`LinkHeaderPaginator`;
2. a next-page URL in the body at a well-known path -> :class:`NextUrlPaginator`;
3. a next-page URL in a ``Next-Page`` header -> :class:`NextUrlPaginator`;
4. a well-known cursor field (Slack, Zendesk, HubSpot, Google ...) -> :class:`CursorPaginator`;
   ``has_more`` next to records with an ``id`` -> Stripe-style ``starting_after``;
5. offset or page parameters named in the request or echoed in the body ->
   :class:`OffsetPaginator` / :class:`PageNumberPaginator`;
6. otherwise one page -- unless the body reports a total larger than the page, which
   raises ``ApiConfigError`` rather than silently pulling a fraction of the data.
"""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.paginators import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePagePaginator,
    parse_link_header,
)
from airflow_provider_apisync.client.records import get_path, has_path

NEXT_URL_PATHS = (
    "@odata.nextLink",
    "nextRecordsUrl",
    "paging.next.link",
    "links.next",
    "_links.next",
    "pagination.next_url",
    "pagination.next",
    "meta.next",
    "next_page_url",
    "nextPageUrl",
    "next_url",
    "nextUrl",
    "next_link",
    "nextLink",
    "next",
)
NEXT_URL_HEADERS = ("Next-Page", "X-Next-Page-Url")
# (cursor path, request parameter, has_more path)
CURSOR_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("response_metadata.next_cursor", "cursor", None),  # Slack
    ("meta.after_cursor", "page[after]", "meta.has_more"),  # Zendesk
    ("paging.next.after", "after", None),  # HubSpot
    ("meta.next_cursor", "cursor", None),
    ("pagination.next_cursor", "cursor", None),
    ("next_cursor", "cursor", None),
    ("nextCursor", "cursor", None),
    ("nextPageToken", "pageToken", None),  # Google
    ("next_page_token", "page_token", None),
    ("continuationToken", "continuationToken", None),
)
OFFSET_PARAMS = ("offset", "startAt", "start", "skip", "$skip")
LIMIT_PARAMS = ("limit", "maxResults", "per_page", "page_size", "pageSize", "size", "$top")
TOTAL_PATHS = ("total", "total_count", "totalCount", "totalSize", "meta.total", "count")
TOTAL_PAGES_PATHS = ("total_pages", "totalPages", "meta.total_pages", "pagination.total_pages")


def _url_like(value: Any) -> bool:
    if isinstance(value, dict):
        value = value.get("href")
    return isinstance(value, str) and value.startswith(("http://", "https://", "/", "?"))


def _int_at(body: Any, path: str) -> int | None:
    value = get_path(body, path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def detect(
    response: requests.Response,
    body: Any,
    records: list[Any],
    records_path: str | None,
    params: dict[str, Any],
) -> tuple[Paginator, str]:
    """The paginator for this endpoint and a short reason for the log."""
    if "next" in parse_link_header(response.headers.get("Link")):
        return LinkHeaderPaginator(), "Link header with rel=next"
    if isinstance(body, dict):
        for path in NEXT_URL_PATHS:
            if _url_like(get_path(body, path)):
                return NextUrlPaginator(next_url_path=path), f"next URL at '{path}'"
    for header in NEXT_URL_HEADERS:
        if _url_like(response.headers.get(header, "").strip("<> ")):
            return NextUrlPaginator(header=header), f"next URL in header '{header}'"
    if isinstance(body, dict):
        for path, param, has_more in CURSOR_FIELDS:
            if get_path(body, path) not in (None, ""):
                return CursorPaginator(path, param, has_more), f"cursor at '{path}'"
        last_id = f"{records_path}.-1.id" if records_path else None
        if last_id and isinstance(body.get("has_more"), bool) and has_path(body, last_id):
            paginator = CursorPaginator(last_id, "starting_after", "has_more")
            return paginator, "has_more with record ids (Stripe style)"
    sized = _sized(body, records, params)
    if sized is not None:
        return sized
    for path in (*TOTAL_PATHS, *TOTAL_PAGES_PATHS):
        total = _int_at(body, path)
        if total is not None and (total > len(records) if path in TOTAL_PATHS else total > 1):
            raise ApiConfigError(
                "paginator",
                f"'auto' found no Link header, next URL or cursor in the first response, "
                f"but it reports {path}={total} with {len(records)} records on the page.",
                "pass an explicit paginator, e.g. OffsetPaginator(limit=100, "
                f"total_path='{path}') or PageNumberPaginator(total_pages_path=...).",
            )
    return SinglePagePaginator(), "no pagination hints: single page"


def _first(names: tuple[str, ...], params: dict[str, Any], body: Any) -> str | None:
    for name in names:
        if name in params or (isinstance(body, dict) and _int_at(body, name) is not None):
            return name
    return None


def _sized(body: Any, records: list[Any], params: dict[str, Any]) -> tuple[Paginator, str] | None:
    total_path = next((p for p in TOTAL_PATHS if _int_at(body, p) is not None), None)
    offset_name = _first(OFFSET_PARAMS, params, body)
    limit_name = _first(LIMIT_PARAMS, params, body)
    if offset_name:
        raw = params.get(limit_name) if limit_name else None
        if raw is None and limit_name:
            raw = _int_at(body, limit_name)
        limit = int(raw or len(records) or 100)
        start = int(params.get(offset_name, 0))
        paginator = OffsetPaginator(
            limit, offset_name, limit_name or "limit", total_path, start=start
        )
        return paginator, f"offset parameter '{offset_name}'"
    if "page" in params or (isinstance(body, dict) and _int_at(body, "page") is not None):
        size = params.get(limit_name) if limit_name else None
        pages_path = next((p for p in TOTAL_PAGES_PATHS if _int_at(body, p) is not None), None)
        start = int(params.get("page", 1))
        pages = PageNumberPaginator(
            "page", start, int(size) if size else None, limit_name if size else None, pages_path
        )
        return pages, "page parameter 'page'"
    return None
