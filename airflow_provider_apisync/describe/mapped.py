"""Dynamically mapped tasks (``Operator.partial(...).expand(...)``) seen as their operator.

A ``MappedOperator`` holds the operator class, the ``partial`` keyword arguments and the
``expand`` input instead of an operator instance. :class:`MappedView` answers the
extractors' attribute reads from those: a partial argument as given, an expanded one as
``(mapped: ...)``, anything else missing (so the extractor's default applies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_apisync.describe.values import plain

# Operator attribute -> constructor argument, where the operator renames it.
ALIASES = {"output_uri": "output", "key_fields": "record_key"}


def is_mapped(task: Any) -> bool:
    return hasattr(task, "operator_class") and hasattr(task, "partial_kwargs")


def expanded(task: Any) -> dict[str, Any]:
    """``expand(...)`` arguments by name (empty for ``expand_kwargs``)."""
    value = getattr(getattr(task, "expand_input", None), "value", None)
    return dict(value) if isinstance(value, Mapping) else {}


class MappedView:
    """Attribute access over a mapped task's partial and expanded arguments."""

    def __init__(self, task: Any) -> None:
        self._task = task
        self._partial = dict(getattr(task, "partial_kwargs", {}) or {})
        self._expanded = expanded(task)
        self.task_id = task.task_id
        self.dag_id = getattr(task, "dag_id", None)
        self.outlets = getattr(task, "outlets", None) or []
        self.inlets = getattr(task, "inlets", None) or []

    def __getattr__(self, name: str) -> Any:
        key = ALIASES.get(name, name)
        if key in self._expanded:
            return f"(mapped: {plain(self._expanded[key])})"
        if key in self._partial:
            return self._partial[key]
        raise AttributeError(name)


def mapped_note(task: Any) -> str:
    """``mapped over endpoint, query`` / ``mapped with expand_kwargs``."""
    names = sorted(expanded(task))
    if names:
        return "Dynamically mapped over " + ", ".join(f"`{n}`" for n in names) + "."
    return "Dynamically mapped (`expand_kwargs`)."
