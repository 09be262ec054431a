"""The ``transform`` argument of pulls and pushes: a callable or an importable dotted path.

Checked when the DAG is parsed (:func:`check_transform`), imported when the task runs
(:func:`resolve_transform`), so a DAG file need not import the transform's module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError


def check_transform(value: Any) -> Any:
    """``value`` unchanged (a callable, None) or stripped (a dotted path); else an error."""
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ApiConfigError(
        "transform",
        f"{value!r} is neither a callable nor a dotted path.",
        'pass a function, or "package.module.function".',
    )


def resolve_transform(value: Any) -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
    """A callable, or one imported from ``pkg.mod.func`` / ``pkg.mod:func``."""
    if value is None or callable(value):
        return value
    module_name, sep, attr = value.partition(":")
    if not sep:
        module_name, _, attr = value.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ApiConfigError(
            "transform",
            f"cannot import {value!r} ({exc}).",
            "use an importable dotted path such as 'my_dags.transforms.to_crm'.",
        ) from None
    if not callable(func):
        raise ApiConfigError("transform", f"{value!r} is not callable.")
    return func  # type: ignore[no-any-return]
