"""Paginator strategies: how to ask for the next page, and when to stop.

The protocol is in :mod:`.base`; public import path:
:mod:`airflow_provider_apisync.client.pagination`.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.paginators.base import PageRequest, Paginator, State
from airflow_provider_apisync.client.paginators.cursor import CursorPaginator
from airflow_provider_apisync.client.paginators.links import (
    LinkHeaderPaginator,
    NextUrlPaginator,
    SinglePagePaginator,
    parse_link_header,
)
from airflow_provider_apisync.client.paginators.sized import (
    OffsetPaginator,
    PageNumberPaginator,
    RangePaginator,
)

__all__ = [
    "PAGINATORS",
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "RangePaginator",
    "SinglePagePaginator",
    "State",
    "paginator_from_spec",
    "parse_link_header",
]

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
