"""The end-of-task summary in the task log: a short human table, then one machine line.

Every apisync task (and any ``@task`` that calls :func:`log_summary`) ends its log with::

    apisync summary — upsert_customers
      records        144
      written        142 pushed
      failed         2 (2 rejected by the API)
      requests       165 (21 retries)
      throttled      125 requests waited 3.2 s
      duration       4.5 s
      dead letters   file:///…/dead_letter
    apisync-summary {"task_id": "upsert_customers", "pushed": 142, ...}

The table is for people (first line ``apisync summary — <task_id>``, one row per log
record, only the rows that say something); the last line is for machines: the marker
``apisync-summary`` and the whole summary as one JSON object (what ``make demo`` and log
scrapers parse). Pure Python: usable from any task with any ``logging.Logger``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["HUMAN_HEADER", "SUMMARY_MARKER", "log_summary", "summary_table"]

SUMMARY_MARKER = "apisync-summary"
"""Prefix of the machine-readable line: ``apisync-summary {json}``."""
HUMAN_HEADER = "apisync summary — {task_id}"
"""First line of the human table."""

LABEL_WIDTH = 14
FAILURES = (("rejected", "rejected by the API"), ("invalid", "invalid, not sent"))


def log_summary(log: Any, task_id: str, summary: Mapping[str, Any]) -> None:
    """Log the human table (INFO, one record per row), then ``apisync-summary {json}``."""
    for line in summary_table(task_id, summary):
        log.info("%s", line)
    log.info("%s %s", SUMMARY_MARKER, json.dumps({"task_id": task_id, **summary}, default=str))


def summary_table(task_id: str, summary: Mapping[str, Any]) -> list[str]:
    """The human lines: the header, then ``  label  value`` rows (empty rows left out)."""
    s = dict(summary)
    used: set[str] = {"task_id"}
    rows: list[tuple[str, str]] = []
    for label, keys, render in ROWS:
        if s.get(keys[0]) in (None, "", [], {}):  # the first key decides; the rest are detail
            continue
        used.update(keys)
        text = render(s)
        if text:
            rows.append((label, text))
    for key, value in s.items():  # whatever else a custom task summarised
        if key in used or key in HIDDEN or isinstance(value, dict | list) or value in (None, ""):
            continue
        rows.append((key.replace("_", " "), _fmt(value)))
    header = HUMAN_HEADER.format(task_id=task_id)
    return [header, *(f"  {label.ljust(LABEL_WIDTH)} {text}" for label, text in rows)]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _records(s: Mapping[str, Any]) -> str:
    text = str(s.get("records", "-"))
    if s.get("pages") is not None:
        text += f" in {_plural(s['pages'], 'page')}"
    extras = [
        f"{s[k]} {label}"
        for k, label in (
            ("duplicates", "duplicates dropped"),
            ("filtered", "filtered out"),
            ("quarantined", "quarantined"),
        )
        if s.get(k)
    ]
    if s.get("truncated"):
        extras.append("stopped by max_pages/max_records")
    return text + (f" ({', '.join(extras)})" if extras else "")


def _written(s: Mapping[str, Any]) -> str:
    text = f"{s.get('pushed', 0)} pushed"
    if s.get("skipped"):
        text += f", {s['skipped']} skipped (already written by an earlier try)"
    return text


def _failed(s: Mapping[str, Any]) -> str:
    """``failed`` is the total; rejected/invalid/unknown are its parts, never added to it."""
    failed = s.get("failed") or 0
    if not failed:
        return ""
    parts = [f"{s[k]} {label}" for k, label in FAILURES if s.get(k)]
    if s.get("unknown"):
        parts.append(f"{s['unknown']} unconfirmed (connection lost)")
    earlier = failed - sum(s.get(k) or 0 for k in ("rejected", "invalid", "unknown"))
    if earlier > 0:
        parts.append(f"{earlier} by earlier tries")
    return f"{failed} ({', '.join(parts)})" if parts else str(failed)


def _drift(s: Mapping[str, Any]) -> str:
    if not s.get("drift"):
        return f"none ({s.get('matched', 0)} matched)" if "matched" in s else "none"
    parts = [f"{s[k]} {k}" for k in ("missing", "different", "extra", "duplicate") if s.get(k)]
    return f"{s['drift']} ({', '.join(parts)})"


def _requests(s: Mapping[str, Any]) -> str:
    text = str(s.get("requests", 0))
    extras = []
    if s.get("retries"):
        extras.append(_plural(s["retries"], "retry").replace("retrys", "retries"))
    errors = s.get("errors")
    if isinstance(errors, Mapping) and errors:
        extras.append("failed: " + ", ".join(f"{v} {k}" for k, v in errors.items()))
    return text + (f" ({', '.join(extras)})" if extras else "")


def _throttled(s: Mapping[str, Any]) -> str:
    if not s.get("throttled"):
        return ""
    text = f"{_plural(s['throttled'], 'request')} waited"
    if s.get("throttled_s") is not None:
        text += f" {float(s['throttled_s']):.1f} s in all"
    return text


def _seconds(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda s: f"{float(s[key]):.1f} s" if s.get(key) is not None else ""


def _value(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda s: _fmt(s[key]) if s.get(key) not in (None, "") else ""


# (label, keys the row consumes — the first one must be set —, how to render it)
ROWS: list[tuple[str, tuple[str, ...], Callable[[Mapping[str, Any]], str]]] = [
    ("endpoint", ("endpoint",), _value("endpoint")),
    ("records", ("records", "pages", "duplicates", "filtered", "quarantined", "truncated"),
     _records),
    ("written", ("pushed", "skipped"), _written),
    ("failed", ("failed", "rejected", "invalid", "unknown"), _failed),
    ("source", ("source",), _value("source")),
    ("target", ("target",), _value("target")),
    ("drift", ("drift", "matched", "missing", "different", "extra", "duplicate"), _drift),
    ("high-water", ("high_water_mark",), _value("high_water_mark")),
    ("resumed at", ("resumed_from_page",), lambda s: f"page {s['resumed_from_page']}"),
    ("requests", ("requests", "retries", "errors", "attempts"), _requests),
    ("throttled", ("throttled", "throttled_s"), _throttled),
    ("waited", ("waited_s",), _seconds("waited_s")),
    ("duration", ("duration_s",), _seconds("duration_s")),
    ("output", ("uri",), _value("uri")),
    ("dead letters", ("dead_letter",), _value("dead_letter")),
    ("report", ("report",), _value("report")),
]  # fmt: skip

# Detail that stays in the machine line only (too long or too technical for the table).
HIDDEN = {
    "files", "parts", "ledger", "dead_letter_files", "quarantine_files", "checkpoint",
    "rate_limited", "avg_latency_ms", "max_latency_ms", "statuses", "stop_reason",
    "samples", "compare_fields", "source_duplicates", "source_without_key",
    "target_without_key", "repush",
}  # fmt: skip
