"""Transforms importable by dotted path (``transform="records_transforms.keep_odd"``)."""

from __future__ import annotations

from typing import Any


def keep_odd(record: dict[str, Any]) -> dict[str, Any] | None:
    """Odd ids only, reduced to two fields (the cursor field ``updated_at`` is dropped)."""
    if record["id"] % 2 == 0:
        return None
    return {"id": record["id"], "email": record["email"].upper()}


def explode(record: dict[str, Any]) -> dict[str, Any]:
    if record["id"] == 13:
        raise KeyError("no_such_field")
    return record
