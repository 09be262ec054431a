"""Seeded, thread-safe record collections with CRUD routes."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

BASE_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_records(name: str, count: int, start: int = 1) -> list[dict[str, Any]]:
    """Deterministic records ``{id, name, email, amount, updated_at}`` for ``name``."""
    out = []
    for i in range(start, start + count):
        out.append(
            {
                "id": i,
                "name": f"{name[:-1] if name.endswith('s') else name} {i}",
                "email": f"{name}{i}@example.test",
                "amount": round((i * 37) % 1000 + i / 100, 2),
                "status": ("open", "pending", "closed")[i % 3],
                "updated_at": iso(BASE_TIME + timedelta(minutes=i)),
            }
        )
    return out


class Collection:
    """Records kept in insertion order, indexed by ``key`` (default ``id``)."""

    def __init__(self, name: str, records: Iterable[dict[str, Any]] = (), key: str = "id"):
        self.name = name
        self.key = key
        self.lock = threading.RLock()
        self._items: dict[str, dict[str, Any]] = {}
        self._next_id = 1
        for record in records:
            self.put(record)

    def __len__(self) -> int:
        return len(self._items)

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._items.values())

    def get(self, key: Any) -> dict[str, Any] | None:
        with self.lock:
            return self._items.get(str(key))

    def put(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Insert or replace by key; returns (record, created)."""
        with self.lock:
            record = dict(record)
            if record.get(self.key) in (None, ""):
                record[self.key] = self._next_id
            key = str(record[self.key])
            if isinstance(record[self.key], int):
                self._next_id = max(self._next_id, record[self.key] + 1)
            created = key not in self._items
            record.setdefault("updated_at", iso(datetime.now(timezone.utc)))
            self._items[key] = record
            return record, created

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Insert as a new record: the server assigns the id (like most POST endpoints)."""
        with self.lock:
            record = {k: v for k, v in record.items() if k != self.key}
            record[self.key] = self._next_id
            record["updated_at"] = iso(datetime.now(timezone.utc))
            return self.put(record)[0]

    def patch(self, key: Any, changes: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            current = self._items.get(str(key))
            if current is None:
                return None
            current.update({k: v for k, v in changes.items() if k != self.key})
            current["updated_at"] = iso(datetime.now(timezone.utc))
            return current

    def delete(self, key: Any) -> bool:
        with self.lock:
            return self._items.pop(str(key), None) is not None
