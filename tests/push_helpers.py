"""Helpers for push/reconcile tests: a task context for direct ``execute()`` calls."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_KEY = "test-api-key-0001"
FAST = {"auth_type": "api_key", "max_retries": 8, "max_retry_wait": 0.02}
"""Connection extra for fault tests: many quick retries (waits capped at 20 ms)."""


@dataclass
class TaskInstanceStub:
    """The task-instance attributes the operators read (ids, try number, XCom push)."""

    dag_id: str = "push_dag"
    task_id: str = "push"
    run_id: str = field(default_factory=lambda: f"manual__{uuid.uuid4().hex[:12]}")
    try_number: int = 1
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def task_context(**ti_fields: Any) -> dict[str, Any]:
    """A context dict as Airflow hands it to ``execute`` (only what operators use)."""
    ti = TaskInstanceStub(**ti_fields)
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "task_state_store": None}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read_jsonl_folder(folder: Path) -> list[dict[str, Any]]:
    """Every line of every .jsonl file in ``folder`` (sorted by name)."""
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return out


def people(count: int, start: int = 1) -> list[dict[str, Any]]:
    """Records with a business key ``ext_id`` (the target assigns its own ``id``)."""
    return [
        {"ext_id": f"P{i:05d}", "name": f"Person {i}", "email": f"p{i}@example.test", "score": i}
        for i in range(start, start + count)
    ]


def business_keys(api: Any, collection: str, field_name: str = "ext_id") -> list[Any]:
    """The business keys a FakeApi collection holds (duplicates kept)."""
    return [r.get(field_name) for r in api.collections[collection].all()]


def sent_keys(api: Any, method: str, path_prefix: str, field_name: str = "ext_id") -> list[Any]:
    """Business keys in the bodies of logged requests (one per request; batches expanded)."""
    out: list[Any] = []
    for request in api.log(method):
        if not request.path.startswith(api.prefix + path_prefix):
            continue
        body = request.json()
        items = body.get("records", []) if isinstance(body, dict) and "records" in body else [body]
        out.extend(item.get(field_name) for item in items if isinstance(item, dict))
    return out


def even_scores_only(record: dict[str, Any]) -> dict[str, Any] | None:
    """A transform (imported by dotted path in tests): drops odd scores, tags the rest."""
    if record["score"] % 2:
        return None
    return {**record, "tier": "even"}
