"""State that outlives a try or a deferral: checkpoints, high-water marks, fingerprints.

Checkpoints (a pull's resume point, a bulk job's record, a sensor's start time) live in
Airflow 3.3's ``task_state_store``: its rows are keyed by (DAG run, task id, map index),
so every try and every resume after a deferral sees the same keys. Before 3.3 (or
outside a task) they fall back to a small JSON file next to the output files.

High-water marks (incremental pulls across runs) live in Airflow 3.3's
``asset_state_store`` of the task's first outlet asset, else in an Airflow Variable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_apisync.compat import AIRFLOW_V_3_3_PLUS, ObjectStoragePath, degraded

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "apisync.pull.checkpoint"
CHECKPOINT_FILE = "_checkpoint.json"


def fingerprint(*parts: Any) -> str:
    """Identity of a task's configuration: state stored by another one is never reused."""
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


def try_number(context: Mapping[str, Any]) -> int | None:
    """The task instance's try number, ``None`` outside a task."""
    number = getattr(context.get("ti"), "try_number", None)
    return number if isinstance(number, int) else None


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


def task_state(context: Mapping[str, Any], key: str) -> TaskStateCheckpoint | None:
    """``key`` in ``context["task_state_store"]``; ``None`` before Airflow 3.3."""
    accessor = context.get("task_state_store")
    return None if accessor is None else TaskStateCheckpoint(accessor, key)


def checkpoint_store(
    context: Mapping[str, Any],
    folder: ObjectStoragePath,
    *,
    key: str = CHECKPOINT_KEY,
    filename: str = CHECKPOINT_FILE,
    what: str = "checkpoints",
) -> CheckpointStore:
    """The task state store when Airflow offers one, else the file ``filename`` in ``folder``."""
    store = task_state(context, key)
    if store is not None:
        return store
    if not AIRFLOW_V_3_3_PLUS:
        degraded(f"task_state_store {what}", f"{filename} in the output", needs="3.3")
    return FileCheckpoint(folder / filename)


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
