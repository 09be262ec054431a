"""High-water-mark incremental pulls: ``Incremental(cursor_field, param, ...)``.

Each run sends ``param = high_water_mark - lookback`` (or ``initial_value`` on the first
run; nothing at all when both are empty: a full pull), tracks the largest
``cursor_field`` among the records it wrote, and stores that as the new mark only after
the manifest is written. Values may be ISO-8601 timestamps (compared as instants, so
``Z`` and ``+00:00`` mix), numbers, or other strings (compared as text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.records import get_path


def parse_instant(value: Any) -> datetime | None:
    """An aware datetime for datetimes and ISO-8601 strings; None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, str) or len(value) < 10 or not value[:4].isdigit():
        return None
    text = value.strip().replace(" ", "T")
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _sort_key(value: Any) -> tuple[int, Any] | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return (0, value)
    instant = parse_instant(value)
    if instant is not None:
        return (1, instant)
    return (2, value) if isinstance(value, str) else None


def _format_like(instant: datetime, template: Any) -> Any:
    """Render ``instant`` the way ``template`` was written (``Z`` suffix, precision)."""
    if isinstance(template, datetime):
        return instant
    text = instant.astimezone(timezone.utc).isoformat()
    if isinstance(template, str) and template.endswith(("Z", "z")):
        text = text.replace("+00:00", "Z")
    return text


@dataclass
class Incremental:
    """Pull only what changed since the last successful run.

    :param cursor_field: dotted path of the record field that grows with changes
        (``updated_at``, ``modified``, ``sequence``).
    :param param: request parameter that filters on it (``updated_since``, ``since``).
    :param initial_value: sent on the first run (templated); None = full first pull.
    :param lookback: subtracted from the mark (``timedelta`` for timestamps, a number for
        numeric cursors) to catch late-arriving updates; those records are pulled again.
    """

    cursor_field: str
    param: str
    initial_value: Any = None
    lookback: timedelta | int | float | None = None

    template_fields: ClassVar[tuple[str, ...]] = ("initial_value",)

    def __post_init__(self) -> None:
        for name in ("cursor_field", "param"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ApiConfigError(f"incremental.{name}", "must be a non-empty string.")
        if self.lookback is not None and (
            isinstance(self.lookback, bool)
            or not isinstance(self.lookback, timedelta | int | float)
        ):
            raise ApiConfigError(
                "incremental.lookback",
                f"must be a timedelta or a number, got {self.lookback!r}.",
                "e.g. lookback=timedelta(minutes=10).",
            )

    def request_value(self, mark: Any) -> Any:
        """The parameter value for this run, or None to send no filter."""
        base = mark if mark is not None else self.initial_value
        if base is None or base == "":
            return None
        if not self.lookback or mark is None:
            return base
        instant = parse_instant(base)
        if isinstance(self.lookback, timedelta):
            if instant is None:
                raise ApiConfigError(
                    "incremental.lookback",
                    f"is a timedelta but the high-water mark {base!r} is not a timestamp.",
                    "use a numeric lookback for numeric cursors.",
                )
            return _format_like(instant - self.lookback, base)
        if isinstance(base, (int, float)) and not isinstance(base, bool):
            return base - self.lookback
        raise ApiConfigError(
            "incremental.lookback",
            f"is a number but the high-water mark {base!r} is not.",
            "use lookback=timedelta(...) for timestamp cursors.",
        )

    def tracker(self, start: Any = None) -> HighWaterTracker:
        return HighWaterTracker(self.cursor_field, start)


class HighWaterTracker:
    """The largest cursor value seen so far, kept in its original representation."""

    def __init__(self, cursor_field: str, start: Any = None) -> None:
        self.cursor_field = cursor_field
        self.value: Any = None
        self._key: tuple[int, Any] | None = None
        self.missing = 0
        if start is not None:
            self.offer(start)

    def offer(self, value: Any) -> None:
        key = _sort_key(value)
        if key is None:
            self.missing += 1
            return
        if self._key is None or (key[0] == self._key[0] and key[1] > self._key[1]):
            self._key, self.value = key, value
        elif key[0] != self._key[0]:
            self.missing += 1  # mixed kinds (a number among timestamps): not comparable

    def observe(self, records: list[Any]) -> None:
        field = self.cursor_field
        simple = "." not in field
        for record in records:
            if simple and isinstance(record, dict):
                self.offer(record.get(field))
            else:
                self.offer(get_path(record, field))
