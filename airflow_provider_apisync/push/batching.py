"""Shaping writes: batches, request bodies and per-item results.

Pure functions used by the push engine; endpoints are filled by
:func:`airflow_provider_apisync.client.urls.expand_path`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_provider_apisync.client.records import get_path

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def batch_body(records: list[dict[str, Any]], body_key: str | None) -> Any:
    """The request body of a batch: ``{body_key: records}``, or the bare list."""
    return {body_key: records} if body_key else records


@dataclass(frozen=True)
class ItemResult:
    """The server's verdict on one item of a batch."""

    index: int
    ok: bool
    status: int | None = None
    error: Any = None


def item_results(body: Any, count: int, results_path: str | None) -> list[ItemResult] | None:
    """Per-item results of a batch response, or None when the body has none.

    Understands the common shapes: a list (at ``results_path``) aligned with the request
    or carrying ``index``; an item fails when its ``status`` is >= 400, ``success`` is
    false, or it carries ``error``/``errors``. Items the server did not mention were
    accepted with the batch's 2xx answer.
    """
    if not results_path:
        return None
    results = get_path(body, results_path)
    if not isinstance(results, list):
        return None
    out: dict[int, ItemResult] = {}
    for position, item in enumerate(results):
        if not isinstance(item, Mapping):
            continue
        index = item.get("index", position)
        if not isinstance(index, int) or not 0 <= index < count:
            continue
        status = item.get("status")
        status = status if isinstance(status, int) and not isinstance(status, bool) else None
        error = item.get("errors") or item.get("error")
        failed = (status is not None and status >= 400) or item.get("success") is False
        out[index] = ItemResult(index, not (failed or error), status, error)
    return [out.get(i, ItemResult(i, True)) for i in range(count)]
