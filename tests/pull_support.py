"""Helpers for the pagination and pull tests: clients, contexts and in-memory stores."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from airflow_provider_apisync.client import ApiClient, config_from_connection
from airflow_provider_apisync.compat import OutletEventAccessors
from airflow_provider_apisync.testing import FakeApi

API_KEY = "test-api-key-0001"


def client_for(api: FakeApi, **extra: Any) -> ApiClient:
    """An API-key client for ``api`` with quick retries (tests inject faults)."""
    settings = {"auth_type": "api_key", "max_retry_wait": 0.02, **extra}
    return ApiClient(config_from_connection(host=api.url, password=API_KEY, extra=settings))


def ids_of(pages: Iterable[Any]) -> list[Any]:
    return [record["id"] for page in pages for record in page.records]


class MemoryStore:
    """Stands in for ``context["task_state_store"]`` / an asset state accessor.

    Values go through JSON like the real stores (which serialise to the metastore), so a
    non-JSON-safe checkpoint fails here too.
    """

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = json.dumps(value)
        self.writes += 1

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def make_context(
    *,
    dag_id: str = "pull_dag",
    task_id: str = "pull",
    run_id: str = "manual__2026-01-02T00:00:00+00:00",
    try_number: int = 1,
    task_state_store: MemoryStore | None = None,
    asset_state_store: MemoryStore | None = None,
    interval_start: datetime | None = None,
    interval_end: datetime | None = None,
) -> dict[str, Any]:
    """A context for direct ``execute()`` calls: what ApiPullOperator reads."""
    start = interval_start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    end = interval_end or start + timedelta(days=1)
    ti = SimpleNamespace(
        dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1, try_number=try_number
    )
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_id=run_id, dag_id=dag_id),
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": end,
        "ds": start.strftime("%Y-%m-%d"),
        "ts": start.isoformat(),
        "outlet_events": OutletEventAccessors(),
    }
    if task_state_store is not None:
        context["task_state_store"] = task_state_store
    if asset_state_store is not None:
        context["asset_state_store"] = asset_state_store
    return context


def read_output(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record of a pull, read back from its part files in manifest order."""
    from airflow_provider_apisync.compat import ObjectStoragePath
    from airflow_provider_apisync.recordio.jsonl import iter_jsonl

    records: list[dict[str, Any]] = []
    for uri in manifest["files"]:
        with ObjectStoragePath(uri).open("rb") as fileobj:
            records.extend(iter_jsonl(fileobj))
    return records


def offsets_fetched(api: FakeApi, path: str = "/contacts") -> list[int]:
    """``offset`` of every GET that got a 200, in order."""
    return [int(r.query.get("offset", 0)) for r in api.log("GET", path) if r.status == 200]
