"""Every pagination style of API-FACTS.md on FakeApi's collections.

``GET /{collection}`` pages in the collection's style (``api.pagination.styles[name]``,
default ``offset``); ``GET /paged/{style}/{collection}`` picks the style per request, so
one seeded collection serves every paginator test:

==============  ===================================  ======================================
style           request                              response
==============  ===================================  ======================================
offset          ``offset``, ``limit``                ``data``, ``total``, ``offset``, ``limit``
page            ``page``, ``per_page``               ``data``, ``page``, ``total_pages``
cursor (Slack)  ``cursor``, ``limit``                ``data``, ``response_metadata.next_cursor``
stripe          ``starting_after``, ``limit``        ``data``, ``has_more``
zendesk         ``page[size]``, ``page[after]``      ``data``, ``meta.has_more/after_cursor``,
                                                     ``links.next``
link (GitHub)   ``page``, ``per_page``               list body, ``Link: <..>; rel="next"``
hubspot         ``after``, ``limit``                 ``results``, ``paging.next.after/link``
salesforce      ``limit`` (first page)               ``records``, ``nextRecordsUrl`` (relative),
                                                     ``done``, ``totalSize``
graph           ``$top``                             ``value``, ``@odata.nextLink``
header (Kinto)  ``_limit``                           ``data``, ``Next-Page`` header
single          --                                   ``data`` (everything)
loop            like cursor                          the same cursor forever (loop guard)
loop_link       like link                            ``rel="next"`` always page 2
foreign         like hubspot                         next link on another origin (host guard)
foreign_link    like link                            Link header on another origin
==============  ===================================  ======================================

Every style honours ``updated_since`` (>=), ``updated_after`` (>) and ``updated_before``
(<) filters on ``updated_at`` and caps page sizes at ``max_page_size`` silently (Jira).
``freeze(name, records)`` serves a read-only collection from pre-encoded bytes, so the
server is never the bottleneck of a benchmark.
"""

from __future__ import annotations

import base64
import binascii
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi

STYLES = (
    "offset",
    "page",
    "cursor",
    "stripe",
    "zendesk",
    "link",
    "hubspot",
    "salesforce",
    "graph",
    "header",
    "single",
    "loop",
    "loop_link",
    "foreign",
    "foreign_link",
)
FILTERS = {"updated_since": "ge", "updated_after": "gt", "updated_before": "lt"}
_encode = msgspec.json.Encoder().encode
_JSON = {"Content-Type": "application/json"}


def parse_ts(value: str) -> datetime:
    """ISO-8601 (``Z`` or offset; a bare date is midnight UTC) as an aware datetime."""
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _Rows:
    """Records of one request (after filters), encoded on demand."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def chunk(self, start: int, stop: int) -> bytes:
        """``rec,rec,...`` (no brackets) for records ``[start, stop)``."""
        return _encode(self.records[start:stop])[1:-1]

    def index_after(self, key: str) -> int | None:
        for i, record in enumerate(self.records):
            if str(record.get("id")) == key:
                return i + 1
        return None


class _FrozenRows:
    """A read-only collection kept as one buffer of encoded records plus offsets."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        buf = bytearray()
        self.offsets = array("q", [0])
        self.ids: list[str] = []
        for record in records:
            if len(self.offsets) > 1:
                buf += b","
            buf += _encode(record)
            self.offsets.append(len(buf) + 1)  # start of the next record, after its comma
            self.ids.append(str(record.get("id")))
        self.buffer = bytes(buf)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def chunk(self, start: int, stop: int) -> bytes:
        stop = min(stop, len(self))
        if start >= stop:
            return b""
        return self.buffer[self.offsets[start] : self.offsets[stop] - 1]

    def index_after(self, key: str) -> int | None:
        try:
            return self.ids.index(key) + 1
        except ValueError:
            return None


Rows = _Rows | _FrozenRows


def _token(index: int, size: int, page: int = 0) -> str:
    return base64.urlsafe_b64encode(f"{index}:{size}:{page}".encode()).decode().rstrip("=")


def _untoken(token: str) -> tuple[int, int, int]:
    padded = token + "=" * (-len(token) % 4)
    index, size, page = base64.urlsafe_b64decode(padded).decode().split(":")
    return int(index), int(size), int(page)


class BadRequest(Exception):
    """A 400 answer with a message."""


@dataclass
class Pagination:
    """Pagination settings and handlers of one :class:`FakeApi`."""

    api: FakeApi
    default_style: str = "offset"
    styles: dict[str, str] = field(default_factory=dict)
    default_page_size: int = 100
    max_page_size: int = 1000
    relative_links: bool = False  # link styles: relative references instead of absolute URLs
    short_pages: bool = False  # cursor style: every other page half full (Slack)
    include_total: bool = True
    foreign_origin: str = "http://foreign.invalid"
    frozen: dict[str, _FrozenRows] = field(default_factory=dict)

    def freeze(self, name: str, records: Iterable[dict[str, Any]] | None = None) -> int:
        """Serve ``name`` read-only from pre-encoded bytes (``records`` or its current rows)."""
        source = records if records is not None else self.api.collection(name).all()
        self.frozen[name] = _FrozenRows(source)
        return len(self.frozen[name])

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        name = request.params["collection"]
        style = request.params.get("style") or self.styles.get(name, self.default_style)
        if style not in STYLES:
            return Response.error(404, f"unknown pagination style {style}", styles=list(STYLES))
        try:
            rows = self._rows(name, request)
            if rows is None:
                return Response.error(404, f"unknown collection {name}")
            return getattr(self, f"style_{style}")(request, rows)
        except BadRequest as exc:
            return Response.error(400, str(exc))

    def serve(self, request: Request, name: str, records: list[dict[str, Any]]) -> Response:
        """Page ``records`` (e.g. the children of one parent) in collection ``name``'s style,
        with the same filters as a collection listing."""
        style = self.styles.get(name, self.default_style)
        try:
            return getattr(self, f"style_{style}")(request, self._filtered(records, request))
        except BadRequest as exc:
            return Response.error(400, str(exc))

    def _rows(self, name: str, request: Request) -> Rows | None:
        filters = {k: v for k, v in request.query.items() if k in FILTERS}
        if name in self.frozen:
            if filters:
                raise BadRequest(f"filters are not supported on frozen collection {name}")
            return self.frozen[name]
        coll = self.api.collections.get(name)
        if coll is None:
            return None
        return self._filtered(coll.all(), request)

    def _filtered(self, records: list[dict[str, Any]], request: Request) -> _Rows:
        filters = {k: v for k, v in request.query.items() if k in FILTERS}
        for param, value in filters.items():
            try:
                bound = parse_ts(value)
            except ValueError:
                raise BadRequest(f"{param} must be an ISO-8601 timestamp, got {value!r}") from None
            op = FILTERS[param]
            records = [r for r in records if _compare(r.get("updated_at"), op, bound)]
        return _Rows(records)

    def _size(self, request: Request, param: str, default: int | None = None) -> int:
        raw = request.query.get(param)
        try:
            size = int(raw) if raw not in (None, "") else (default or self.default_page_size)
        except ValueError:
            raise BadRequest(f"{param} must be an integer, got {raw!r}") from None
        if size < 1:
            raise BadRequest(f"{param} must be >= 1")
        return min(size, self.max_page_size)

    def _int(self, request: Request, param: str, default: int) -> int:
        raw = request.query.get(param)
        try:
            return int(raw) if raw not in (None, "") else default
        except ValueError:
            raise BadRequest(f"{param} must be an integer, got {raw!r}") from None

    def _cursor(self, request: Request, param: str, default_size: int) -> tuple[int, int, int]:
        token = request.query.get(param)
        if not token:
            return 0, default_size, 0
        try:
            return _untoken(token)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"invalid cursor {token!r}") from None

    def _url(self, request: Request, query: dict[str, Any], origin: str | None = None) -> str:
        return (origin or self.api.origin) + request.path + "?" + urlencode(query)

    # -- styles -----------------------------------------------------------------------
    def style_offset(self, request: Request, rows: Rows) -> Response:
        offset = max(self._int(request, "offset", 0), 0)
        size = self._size(request, "limit")
        extra: dict[str, Any] = {"offset": offset, "limit": size}
        if self.include_total:
            extra["total"] = len(rows)
        return _body("data", rows.chunk(offset, offset + size), extra)

    def style_page(self, request: Request, rows: Rows) -> Response:
        page = max(self._int(request, "page", 1), 1)
        size = self._size(request, "per_page")
        start = (page - 1) * size
        extra: dict[str, Any] = {"page": page, "per_page": size}
        if self.include_total:
            extra["total_pages"] = math.ceil(len(rows) / size)
            extra["total"] = len(rows)
        return _body("data", rows.chunk(start, start + size), extra)

    def _cursor_page(self, request: Request, rows: Rows) -> tuple[bytes, str]:
        index, size, page = self._cursor(request, "cursor", 0)
        if not request.query.get("cursor"):
            size = self._size(request, "limit")
        take = max(size // 2, 1) if self.short_pages and page % 2 == 1 else size
        stop = min(index + take, len(rows))
        following = _token(stop, size, page + 1) if stop < len(rows) else ""
        return rows.chunk(index, stop), following

    def style_cursor(self, request: Request, rows: Rows) -> Response:
        chunk, following = self._cursor_page(request, rows)
        return _body("data", chunk, {"response_metadata": {"next_cursor": following}})

    def style_loop(self, request: Request, rows: Rows) -> Response:
        size = self._size(request, "limit")
        return _body("data", rows.chunk(0, size), {"response_metadata": {"next_cursor": "again"}})

    def style_stripe(self, request: Request, rows: Rows) -> Response:
        size = self._size(request, "limit")
        after = request.query.get("starting_after")
        start = 0
        if after:
            found = rows.index_after(after)
            if found is None:
                raise BadRequest(f"no such object: starting_after={after}")
            start = found
        stop = min(start + size, len(rows))
        extra = {"object": "list", "url": request.path, "has_more": stop < len(rows)}
        return _body("data", rows.chunk(start, stop), extra)

    def style_zendesk(self, request: Request, rows: Rows) -> Response:
        size = self._size(request, "page[size]")
        index, _, _ = self._cursor(request, "page[after]", size)
        stop = min(index + size, len(rows))
        more = stop < len(rows)
        after = _token(stop, size) if more else None
        nxt = self._url(request, {"page[size]": size, "page[after]": after}) if more else None
        meta = {"has_more": more, "after_cursor": after, "before_cursor": None}
        return _body("data", rows.chunk(index, stop), {"meta": meta, "links": {"next": nxt}})

    def _link_page(self, request: Request, rows: Rows, origin: str | None = None) -> Response:
        page = max(self._int(request, "page", 1), 1)
        size = self._size(request, "per_page", 30)
        start = (page - 1) * size
        last = max(math.ceil(len(rows) / size), 1)
        links = []
        if page < last:
            links.append((self._link(request, page + 1, size, origin), "next"))
            links.append((self._link(request, last, size, origin), "last"))
        if page > 1:
            links.append((self._link(request, 1, size, origin), "first"))
            links.append((self._link(request, page - 1, size, origin), "prev"))
        headers = dict(_JSON)
        if links:
            headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links)
        return Response(200, b"[" + rows.chunk(start, start + size) + b"]", headers)

    def _link(self, request: Request, page: int, size: int, origin: str | None) -> str:
        query = {"per_page": size, "page": page}
        if self.relative_links and origin is None:
            return request.path.rsplit("/", 1)[-1] + "?" + urlencode(query)
        return self._url(request, query, origin)

    style_link = _link_page

    def style_loop_link(self, request: Request, rows: Rows) -> Response:
        size = self._size(request, "per_page", 30)
        response = self._link_page(request, rows)
        response.headers["Link"] = f'<{self._link(request, 2, size, None)}>; rel="next"'
        return response

    def style_foreign_link(self, request: Request, rows: Rows) -> Response:
        return self._link_page(request, rows, origin=self.foreign_origin)

    def _hubspot_page(self, request: Request, rows: Rows, origin: str | None = None) -> Response:
        size = self._size(request, "limit")
        start = self._int(request, "after", 0)
        stop = min(start + size, len(rows))
        extra: dict[str, Any] = {}
        if stop < len(rows):
            link = self._url(request, {"limit": size, "after": stop}, origin)
            extra["paging"] = {"next": {"after": str(stop), "link": link}}
        return _body("results", rows.chunk(start, stop), extra)

    style_hubspot = _hubspot_page

    def style_foreign(self, request: Request, rows: Rows) -> Response:
        return self._hubspot_page(request, rows, origin=self.foreign_origin)

    def style_salesforce(self, request: Request, rows: Rows) -> Response:
        index, size, _ = self._cursor(request, "locator", 0)
        if not request.query.get("locator"):
            size = self._size(request, "limit")
        stop = min(index + size, len(rows))
        done = stop >= len(rows)
        extra: dict[str, Any] = {"totalSize": len(rows), "done": done}
        if not done:
            extra["nextRecordsUrl"] = (
                request.path + "?" + urlencode({"locator": _token(stop, size)})
            )
        return _body("records", rows.chunk(index, stop), extra)

    def style_graph(self, request: Request, rows: Rows) -> Response:
        size = self._size(request, "$top")
        index, _, _ = self._cursor(request, "$skiptoken", size)
        stop = min(index + size, len(rows))
        extra: dict[str, Any] = {"@odata.context": "fake"}
        if stop < len(rows):
            query = {"$top": size, "$skiptoken": _token(stop, size)}
            extra["@odata.nextLink"] = self._url(request, query)
        return _body("value", rows.chunk(index, stop), extra)

    def style_header(self, request: Request, rows: Rows) -> Response:
        size = self._size(request, "_limit")
        index, _, _ = self._cursor(request, "_token", size)
        stop = min(index + size, len(rows))
        response = _body("data", rows.chunk(index, stop), {})
        if stop < len(rows):
            query = {"_limit": size, "_token": _token(stop, size)}
            response.headers["Next-Page"] = self._url(request, query)
        return response

    def style_single(self, request: Request, rows: Rows) -> Response:
        return _body("data", rows.chunk(0, len(rows)), {})


def _compare(value: Any, op: str, bound: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        stamp = parse_ts(value)
    except ValueError:
        return False
    if op == "ge":
        return stamp >= bound
    if op == "gt":
        return stamp > bound
    return stamp < bound


def _body(key: str, chunk: bytes, extra: dict[str, Any]) -> Response:
    """``{"<key>": [chunk], **extra}`` without decoding the pre-encoded records."""
    body = b'{"' + key.encode() + b'":[' + chunk + b"]"
    if extra:
        body += b"," + _encode(extra)[1:-1]
    return Response(200, body + b"}", dict(_JSON))
