"""Turn the ``apisync-summary {json}`` lines a DAG run logged into a readable table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from demo.world.examples import task_summaries

# (header, how to read it from one task's summary)
COLUMNS: list[tuple[str, Any]] = [
    ("task", lambda s: s.get("task_id")),
    ("parents", lambda s: s.get("parents")),  # dependent pulls
    ("records", lambda s: _first(s, "records", "source")),
    ("pushed", lambda s: _pushed(s)),
    ("skipped", lambda s: _first(s, "skipped", "parents_skipped")),
    ("dead_letters", lambda s: _first(s, "failed", "dead_letters")),
    ("drift", lambda s: s.get("drift")),
    ("requests", lambda s: s.get("requests")),
    ("retries", lambda s: s.get("retries")),
    ("throttled", lambda s: s.get("throttled")),
    ("waited_s", lambda s: _first(s, "waited_s", "throttled_s")),
    ("secs", lambda s: s.get("duration_s")),
]
OUTPUTS = (("output", "uri"), ("dead letters", "dead_letter"), ("report", "report"))


def parse_summaries(output: str) -> list[dict[str, Any]]:
    """One summary per task, in the order the tasks finished."""
    return list(task_summaries(output).values())


def table(rows: Sequence[Mapping[str, Any]], indent: str = "    ") -> str:
    """A plain-text table (columns nobody filled are left out) plus output locations."""
    if not rows:
        return indent + "(no apisync-summary lines logged)"
    cells = [[_cell(get(row)) for _, get in COLUMNS] for row in rows]
    keep = [i for i in range(len(COLUMNS)) if i == 0 or any(r[i] != "-" for r in cells)]
    heads = [COLUMNS[i][0] for i in keep]
    body = [[r[i] for i in keep] for r in cells]
    widths = [max(len(h), *(len(r[n]) for r in body)) for n, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    for row in rows:
        for label, key in OUTPUTS:
            if row.get(key):
                lines.append(f"{row.get('task_id')} {label}: {row[key]}")
        if row.get("errors"):
            lines.append(f"{row.get('task_id')} errors after retries: {row['errors']}")
    return "\n".join(indent + line for line in lines)


def _first(summary: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if summary.get(key) is not None:
            return summary[key]
    return None


def _pushed(summary: Mapping[str, Any]) -> Any:
    repush = summary.get("repush")
    if isinstance(repush, Mapping):
        return repush.get("pushed")
    return summary.get("pushed")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
