"""API lifecycle signals: ``Sunset`` (RFC 8594) and ``Deprecation`` (RFC 9745) headers.

A client logs one warning per endpoint and signal for its lifetime (one task run), so a
deprecation shows up in every run's log without flooding a 10,000-page pull.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

log = logging.getLogger("airflow_provider_apisync.lifecycle")


def parse_http_date_or_epoch(value: str | None) -> datetime | None:
    """``@1688169599`` (RFC 9745 structured date), an HTTP-date, or None when malformed."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("@"):
        try:
            return datetime.fromtimestamp(int(text[1:]), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    if text.lower() == "true":  # draft-era "Deprecation: true": deprecated, no date
        return datetime.min.replace(tzinfo=timezone.utc)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _link(headers: Mapping[str, str], rel: str) -> str | None:
    for part in (headers.get("Link") or "").split(","):
        if f'rel="{rel}"' in part or f"rel={rel}" in part:
            return part.split(";")[0].strip().strip("<>")
    return None


class LifecycleWatcher:
    """Warns once per (endpoint path, signal); ``on_signal(kind)`` feeds a metric."""

    def __init__(self, on_signal: Callable[[str], None] | None = None) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._on_signal = on_signal
        self.signals: list[dict[str, str]] = []

    def observe(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        """Inspect a response's headers; cheap when neither header is present."""
        for kind, header in (("deprecation", "Deprecation"), ("sunset", "Sunset")):
            raw = headers.get(header)
            if raw is None:
                continue
            path = urlsplit(url).path
            with self._lock:
                if (path, kind) in self._seen:
                    continue
                self._seen.add((path, kind))
            when = parse_http_date_or_epoch(raw)
            date = "unknown date" if when is None or when.year == 1 else when.isoformat()
            link = _link(headers, kind)
            self.signals.append({"kind": kind, "endpoint": path, "date": date})
            log.warning(
                "API %s: %s %s announces %s date %s%s",
                kind,
                method,
                path,
                header,
                date,
                f" (see {link})" if link else "",
            )
            if self._on_signal:
                self._on_signal(kind)
