"""Deprecation signals for ``FakeApi``: ``Deprecation`` (RFC 9745) and ``Sunset`` (RFC 8594)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi


def deprecate(
    api: FakeApi,
    path: str,
    *,
    deprecation: datetime | None = None,
    sunset: datetime | None = None,
    http_date_deprecation: bool = False,
    link: str | None = None,
) -> None:
    """Announce that ``path`` (below the prefix; prefix match) is deprecated and/or sunset.

    ``http_date_deprecation`` sends the HTTP-date form GitHub uses instead of ``@epoch``.
    """

    def finish(request: Request, response: Response) -> None:
        local = request.path[len(api.prefix) :] if request.path.startswith(api.prefix) else ""
        if not local.startswith(path) or response.status >= 400:
            return
        if deprecation is not None:
            response.headers["Deprecation"] = (
                format_datetime(deprecation, usegmt=True)
                if http_date_deprecation
                else f"@{int(deprecation.timestamp())}"
            )
        if sunset is not None:
            response.headers["Sunset"] = format_datetime(sunset, usegmt=True)
        if link:
            response.headers["Link"] = f'<{link}>; rel="deprecation"; type="text/html"'

    api.finishers.append(finish)
