"""Schedules and assets in words: timetables, asset conditions, inlets and outlets.

Cron strings and ``timedelta`` schedules are described from the DAG's ``schedule``
argument, not from the timetable class the local Airflow configuration turned them into
(``[scheduler] create_cron_data_intervals`` / ``create_delta_data_intervals``), so a page
is the same wherever it is generated; the data interval is stated for Airflow's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow_provider_apisync.describe.values import duration

EMPTY = "data interval empty (start = end = run time)"


def schedule_info(dag: Any) -> tuple[str, tuple[str, ...], bool]:
    """The schedule in words, the assets that trigger runs, and whether runs get an empty
    data interval (with Airflow's default configuration)."""
    raw = getattr(dag, "schedule", None)
    timetable = getattr(dag, "timetable", None)
    if isinstance(raw, str) and raw not in ("@once", "@continuous"):
        expression = getattr(timetable, "expression", None) or raw
        shown = f"`{raw}`" if expression == raw else f"`{raw}` (`{expression}`)"
        zone = getattr(getattr(dag, "timezone", None), "name", None) or "UTC"
        return (
            f"cron {shown} ({zone}); {EMPTY} with Airflow's default "
            "`[scheduler] create_cron_data_intervals = False`, else from the previous tick",
            (),
            True,
        )
    if isinstance(raw, timedelta):
        return (
            f"every {duration(raw)}; {EMPTY} with Airflow's default "
            "`[scheduler] create_delta_data_intervals = False`, else the "
            f"{duration(raw)} before the run",
            (),
            True,
        )
    kind = type(timetable).__name__
    condition = getattr(timetable, "asset_condition", None)
    if condition is not None and "Asset" in kind:
        words = asset_condition(condition)
        assets = tuple(sorted(set(_leaf_assets(condition))))
        if "OrTime" in kind:
            inner = getattr(timetable, "timetable", None)
            text = f"on asset events: {words}, or on its timetable ({_timed(inner)})"
            return text, assets, False
        return f"on asset events: {words}", assets, False
    return _timed(timetable), (), _empty(timetable)


def _empty(timetable: Any) -> bool:
    kind = type(timetable).__name__
    if kind == "NullTimetable":
        return True
    return "Trigger" in kind and not getattr(timetable, "interval", None)


def asset_names(items: Iterable[Any]) -> tuple[str, ...]:
    """Readable, sorted names of assets (and aliases) among inlets/outlets."""
    names = []
    for item in items:
        label = asset_label(item)
        if label:
            names.append(label)
    return tuple(sorted(set(names)))


def asset_label(item: Any) -> str | None:
    """``uri`` of an Asset (``name`` when it differs), ``alias:name``; None for non-assets."""
    kind = type(item).__name__
    name = getattr(item, "name", None)
    uri = getattr(item, "uri", None)
    if kind == "AssetAlias":
        return f"alias:{name}"
    if uri is not None:
        return uri if name in (None, uri) else f"{name} ({uri})"
    if name is not None and kind.startswith("Asset"):
        return str(name)
    return None


def _timed(timetable: Any) -> str:
    kind = type(timetable).__name__
    if timetable is None or kind == "NullTimetable":
        return "none: manual or API-triggered runs only"
    if kind == "OnceTimetable":
        return "once (`@once`)"
    if kind == "ContinuousTimetable":
        return "continuous (`@continuous`): a new run as soon as the last one ends"
    expression = getattr(timetable, "expression", None) or getattr(timetable, "_expression", None)
    zone = getattr(timetable, "timezone", None) or getattr(timetable, "_timezone", None)
    zone_name = getattr(zone, "name", None) or (str(zone) if zone else "")
    if expression:
        interval = getattr(timetable, "interval", None)
        text = f"cron `{expression}`" + (f" ({zone_name})" if zone_name else "")
        if "Trigger" in kind and not interval:
            text += f"; {EMPTY}"
        elif "Trigger" in kind:
            text += f"; each run covers the {duration(interval)} before it"
        else:
            text += "; each run covers the interval since the previous tick"
        return text
    delta = getattr(timetable, "delta", None) or getattr(timetable, "_delta", None)
    if delta is not None:
        empty = "Trigger" in kind and not getattr(timetable, "interval", None)
        return f"every {duration(delta)}" + (f"; {EMPTY}" if empty else "")
    description = getattr(timetable, "description", None) or getattr(timetable, "summary", None)
    return str(description or kind)


def asset_condition(condition: Any) -> str:
    """``a``, ``all of (a, b)``, ``any of (a, all of (b, c))``."""
    label = asset_label(condition)
    kind = type(condition).__name__
    objects = getattr(condition, "objects", None)
    if objects is None:
        return f"`{label or kind}`"
    parts = [asset_condition(o) for o in objects]
    if len(parts) == 1:
        return parts[0]
    joiner = "any of" if "Any" in kind else "all of"
    return f"{joiner} ({', '.join(parts)})"


def _leaf_assets(condition: Any) -> Iterable[str]:
    objects = getattr(condition, "objects", None)
    if objects is None:
        label = asset_label(condition)
        if label:
            yield label
        return
    for item in objects:
        yield from _leaf_assets(item)
