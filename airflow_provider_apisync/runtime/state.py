"""Where pulls keep state: per-try checkpoints and per-task high-water marks.

Checkpoints (resume after a failed try) live in Airflow 3.3's ``task_state_store``:
its rows are keyed by (DAG run, task id, map index), so every try of a task instance
sees the same keys, and they survive the task's retries. Before 3.3 (or outside a
task) they fall back to ``_checkpoint.json`` next to the output files.

High-water marks (incremental pulls across runs) live in Airflow 3.3's
``asset_state_store`` of the task's first outlet asset, else in an Airflow Variable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_apisync.compat import AIRFLOW_V_3_3_PLUS, ObjectStoragePath, degraded

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "apisync.pull.checkpoint"
CHECKPOINT_FILE = "_checkpoint.json"


class CheckpointStore(Protocol):
    kind: str

    def load(self) -> dict[str, Any] | None: ...

    def save(self, value: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...


class TaskStateCheckpoint:
    """Checkpoint in ``context["task_state_store"]`` (Airflow >= 3.3)."""

    kind = "task_state_store"

    def __init__(self, accessor: Any, key: str = CHECKPOINT_KEY) -> None:
        self.accessor = accessor
        self.key = key

    def load(self) -> dict[str, Any] | None:
        value = self.accessor.get(self.key)
        return value if isinstance(value, dict) else None

    def save(self, value: dict[str, Any]) -> None:
        self.accessor.set(self.key, value)

    def clear(self) -> None:
        self.accessor.delete(self.key)


class FileCheckpoint:
    """Checkpoint as a small JSON object next to the output (works on any Airflow 3)."""

    kind = "file"

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            if not self.path.exists():
                return None
            value = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            log.warning("ignoring unreadable checkpoint %s", self.path, exc_info=True)
            return None
        return value if isinstance(value, dict) else None

    def save(self, value: dict[str, Any]) -> None:
        self.path.write_bytes(json.dumps(value, separators=(",", ":"), default=str).encode())

    def clear(self) -> None:
        if self.path.exists():
            self.path.unlink()


def checkpoint_store(context: Mapping[str, Any], folder: ObjectStoragePath) -> CheckpointStore:
    """The task state store when Airflow offers one, else a file in ``folder``."""
    accessor = context.get("task_state_store")
    if accessor is not None:
        return TaskStateCheckpoint(accessor)
    if not AIRFLOW_V_3_3_PLUS:
        degraded("task_state_store checkpoints", f"{CHECKPOINT_FILE} in the output", needs="3.3")
    return FileCheckpoint(folder / CHECKPOINT_FILE)


class HighWaterStore(Protocol):
    kind: str
    key: str

    def get(self) -> Any: ...

    def set(self, value: Any) -> None: ...


class AssetStateHighWater:
    """High-water mark in an asset's state store (Airflow >= 3.3)."""

    kind = "asset_state_store"

    def __init__(self, accessor: Any, key: str) -> None:
        self.accessor = accessor
        self.key = key

    def get(self) -> Any:
        stored = self.accessor.get(self.key)
        return stored.get("value") if isinstance(stored, dict) else None

    def set(self, value: Any) -> None:
        self.accessor.set(self.key, {"value": value})


class VariableHighWater:
    """High-water mark in an Airflow Variable (JSON ``{"value": ...}``)."""

    kind = "variable"

    def __init__(self, key: str) -> None:
        self.key = key

    def get(self) -> Any:
        from airflow_provider_apisync.compat import variable_get

        stored = variable_get(self.key, None, deserialize_json=True)
        return stored.get("value") if isinstance(stored, dict) else None

    def set(self, value: Any) -> None:
        from airflow_provider_apisync.compat import Variable

        Variable.set(self.key, {"value": value}, serialize_json=True)


def high_water_store(context: Mapping[str, Any], *, outlets: list[Any], key: str) -> HighWaterStore:
    """The first outlet asset's state store when available, else a Variable named ``key``."""
    stores = context.get("asset_state_store")
    if stores is not None:
        accessor = stores
        for outlet in outlets:
            try:
                accessor = stores[outlet]
                break
            except (KeyError, TypeError):
                continue
        if hasattr(accessor, "get") and hasattr(accessor, "set"):
            return AssetStateHighWater(accessor, key)
    if not AIRFLOW_V_3_3_PLUS:
        degraded("asset_state_store high-water marks", "an Airflow Variable", needs="3.3")
    return VariableHighWater(key.replace(":", "_"))
