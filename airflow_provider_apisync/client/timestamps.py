"""Parse the timestamps APIs put in their bodies: ISO 8601 (any zone) and epoch s/ms.

Pure Python (no Airflow). Every result is a timezone-aware UTC ``datetime``.

- ISO 8601, extended or basic: ``2026-01-01T12:00:00Z``, ``2026-01-01 12:00:00.123456+02:00``,
  ``20260101T120000+0200``, ``2026-01-01`` (midnight). Fractions past microseconds are cut.
  A value without a zone is taken as UTC.
- Epoch numbers (int, float or an all-digit string): > 1e12 is milliseconds, else seconds.
- RFC 2822 / HTTP-dates (``Wed, 25 Nov 2026 13:52:14 GMT``).
- ``datetime`` objects pass through (naive ones are taken as UTC).

Anything else raises :class:`TimestampError`, which names the value.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

EPOCH_MS_THRESHOLD = 1e12

_ISO = re.compile(
    r"""^\s*
    (?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})
    (?:[Tt\s](?P<h>\d{2})(?::?(?P<mi>\d{2})(?::?(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?)?)?
    \s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    \s*$""",
    re.VERBOSE,
)


class TimestampError(ValueError):
    """A value that is not a timestamp apisync understands; the message shows the value."""

    def __init__(self, value: Any, reason: str = "") -> None:
        self.value = value
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        message = f"{shown} is not a timestamp"
        if reason:
            message += f" ({reason})"
        message += "; expected ISO 8601 (e.g. 2026-01-01T12:00:00Z) or epoch seconds/milliseconds"
        super().__init__(message)


def parse_timestamp(value: Any) -> datetime:
    """``value`` as an aware UTC ``datetime``; raises :class:`TimestampError` otherwise."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, bool) or value is None:
        raise TimestampError(value)
    if isinstance(value, int | float):
        return from_epoch(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise TimestampError(value, "empty")
        if _looks_numeric(text):
            try:
                return from_epoch(float(text))
            except TimestampError:
                raise TimestampError(value, "epoch value out of range") from None
        match = _ISO.match(text)
        if match:
            return _from_match(match, value)
        try:
            return _utc(parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError):
            raise TimestampError(value) from None
    raise TimestampError(value, f"unsupported type {type(value).__name__}")


def from_epoch(number: float) -> datetime:
    """Epoch seconds, or milliseconds when the value is above 1e12 (year 33658 in seconds)."""
    if not math.isfinite(number):
        raise TimestampError(number, "not a finite number")
    seconds = number / 1000.0 if abs(number) > EPOCH_MS_THRESHOLD else float(number)
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise TimestampError(number, "epoch value out of range") from None


def isoformat(moment: datetime) -> str:
    """``2026-01-01T12:00:00.123456+00:00`` in UTC (stable for logs and XCom)."""
    return _utc(moment).isoformat()


def _looks_numeric(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?", text) is not None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _from_match(match: re.Match[str], original: Any) -> datetime:
    g = match.groupdict()
    fraction = (g["f"] or "0")[:6].ljust(6, "0")
    try:
        moment = datetime(
            int(g["y"]),
            int(g["mo"]),
            int(g["d"]),
            int(g["h"] or 0),
            int(g["mi"] or 0),
            int(g["s"] or 0),
            int(fraction),
            tzinfo=_zone(g["tz"]),
        )
    except ValueError as exc:
        raise TimestampError(original, str(exc)) from None
    return moment.astimezone(timezone.utc)


def _zone(text: str | None) -> timezone:
    if not text or text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad UTC offset {text}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
