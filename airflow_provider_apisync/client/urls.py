"""URL joining, origins, the host guard and secret redaction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from airflow_provider_apisync.client.errors import ForeignHostError

DEFAULT_PORTS = {"http": 80, "https": 443}
SECRET_PARAM = re.compile(
    r"(key|token|secret|password|passwd|pwd|signature|sig|auth|credential|code)", re.I
)

Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = -1
    return scheme, host, port


def join_url(base_url: str, endpoint: str) -> str:
    """Append ``endpoint`` to the base URL's path; absolute URLs are returned as they are.

    ``https://h/v1`` + ``/items`` gives ``https://h/v1/items``: a leading slash never drops
    the base path prefix (unlike ``urljoin``).
    """
    if "://" in endpoint:
        return endpoint
    if not endpoint:
        return base_url
    return base_url.rstrip("/") + "/" + endpoint.lstrip("/")


def resolve_next(current_url: str, link: str) -> str:
    """Resolve a next-page or redirect target relative to the URL that returned it."""
    return urljoin(current_url, link)


def redact_url(url: str) -> str:
    """The URL with user info and the values of secret-looking query parameters hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def path_of(url: str) -> str:
    """Path plus redacted query, for audit lines."""
    parts = urlsplit(redact_url(url))
    return parts.path + (f"?{parts.query}" if parts.query else "")


class HostGuard:
    """Credentials go only to the base URL's origin plus ``allowed_hosts``.

    ``allowed_hosts`` entries may be bare host names (any port, same scheme family) or
    full origins such as ``https://files.example:8443``.
    """

    def __init__(self, base_url: str, allowed_hosts: Iterable[str] = ()) -> None:
        self.base_origin = origin(base_url)
        self._origins: set[Origin] = {self.base_origin}
        self._hosts: set[str] = set()
        for entry in allowed_hosts:
            entry = entry.strip()
            if not entry:
                continue
            if "://" in entry:
                self._origins.add(origin(entry))
            else:
                self._hosts.add(entry.lower())

    def allows(self, url: str) -> bool:
        scheme, host, port = origin(url)
        if (scheme, host, port) in self._origins:
            return True
        return host in self._hosts and scheme in ("http", "https")

    def check(self, url: str) -> None:
        """Raise :class:`ForeignHostError` unless ``url`` may receive credentials."""
        if not self.allows(url):
            scheme, host, port = self.base_origin
            raise ForeignHostError(
                f"refusing to send credentials to {origin_str(url)}: only "
                f"{scheme}://{host}:{port} and allowed_hosts may receive them. If this host "
                "is trusted, add it to the connection extra 'allowed_hosts'.",
                url=redact_url(url),
            )


def origin_str(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"
