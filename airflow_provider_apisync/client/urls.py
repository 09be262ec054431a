"""URL joining, path templates, origins, the host guard and secret redaction."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urljoin, urlsplit, urlunsplit

from airflow_provider_apisync.client.errors import ApiConfigError, ForeignHostError

DEFAULT_PORTS = {"http": 80, "https": 443}
SECRET_PARAM = re.compile(
    r"(key|token|secret|password|passwd|pwd|signature|sig|auth|credential|code)", re.I
)
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")
"""A ``{field}`` placeholder in an endpoint template; dotted paths (``{org.id}``) allowed."""
_MISSING = object()
_extra_secret_params: set[str] = set()
_extra_lock = threading.Lock()

Origin = tuple[str, str, int]


def register_secret_param(name: str) -> None:
    """Always redact query parameter ``name`` (e.g. an API key parameter named ``appid``).

    Process-wide on purpose: redaction may only ever hide more, never less.
    """
    with _extra_lock:
        _extra_secret_params.add(name.lower())


def is_secret_param(name: str) -> bool:
    """True when values of query parameter ``name`` must never be shown."""
    return bool(SECRET_PARAM.search(name)) or name.lower() in _extra_secret_params


def is_absolute(url: str) -> bool:
    """True for ``scheme://...`` URLs (a ``://`` inside the query does not count)."""
    return bool(_ABSOLUTE.match(url))


def origin(url: str) -> Origin:
    """(scheme, host, port) with the scheme's default port filled in; port -1 if invalid."""
    try:
        parts = urlsplit(url)
        scheme = (parts.scheme or "").lower()
        host = (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return "", "", -1
    return scheme, host, port


def join_url(base_url: str, endpoint: str) -> str:
    """Append ``endpoint`` to the base URL's path; absolute URLs are returned as they are.

    ``https://h/v1`` + ``/items`` gives ``https://h/v1/items``: a leading slash never drops
    the base path prefix (unlike ``urljoin``), and ``//other.host/x`` stays on the base host.
    """
    if is_absolute(endpoint):
        return endpoint
    if not endpoint:
        return base_url
    return base_url.rstrip("/") + "/" + endpoint.lstrip("/")


class PathValueError(ApiConfigError):
    """A value cannot fill a ``{field}`` placeholder of an endpoint template.

    ``field`` names the placeholder. Raised for a missing or empty value, a container
    (object or list), and any value that would change the path's shape: ``.``/``..``
    (clients collapse them, so ``/contacts/..`` would hit the parent resource).
    """


def placeholders(endpoint: str) -> list[str]:
    """Field paths named by ``{field}`` placeholders in ``endpoint`` (dotted paths allowed)."""
    return PLACEHOLDER.findall(endpoint)


def expand_path(
    template: str,
    values: Mapping[str, Any],
    *,
    lookup: Callable[[Any, str, Any], Any] | None = None,
) -> str:
    """Fill ``template``'s ``{field}`` placeholders from ``values``; safe against the values.

    Each value is URL-quoted as one path segment (``/``, ``?``, ``#`` and ``%`` encoded),
    so a value can never add, remove or climb segments; values that are missing, empty,
    ``.``/``..``, objects or lists raise :class:`PathValueError` naming the field. The
    result is checked once more: same number of segments as the template, no dot
    segments. ``lookup(values, field, default)`` finds a field's value (default:
    ``records.get_path``, so dotted paths such as ``{org.id}`` work).
    """
    if lookup is None:
        from airflow_provider_apisync.client.records import get_path

        lookup = get_path
    find: Callable[[Any, str, Any], Any] = lookup

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = find(values, name, _MISSING)
        if value is _MISSING or value is None or value == "":
            raise PathValueError(name, "has no value.", f"give every record a '{name}'.")
        if isinstance(value, Mapping | list | tuple | set | bytes):
            raise PathValueError(
                name,
                f"is a {type(value).__name__}, not a single value.",
                "placeholders take strings or numbers.",
            )
        text = str(value)
        if text.strip() in (".", ".."):
            raise PathValueError(
                name,
                f"'{text}' is a dot segment: sent as a path it would address another resource.",
                "fix the value at the source; it is never sent.",
            )
        return quote(text, safe="")

    path = PLACEHOLDER.sub(fill, template)
    before, after = template.split("?", 1)[0], path.split("?", 1)[0]
    segments = after.split("/")
    if len(segments) != len(before.split("/")) or any(
        unquote_plus(part).strip() in (".", "..") for part in segments
    ):
        raise PathValueError(
            "endpoint",
            f"'{template}' expands to a path of another shape.",
            "check the template and the values filling it.",
        )
    return path


def strip_query_params(url: str, names: Iterable[str]) -> str:
    """``url`` without the query parameters ``names`` (case-sensitive, like servers)."""
    drop = set(names)
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [p for p in parts.query.split("&") if unquote_plus(p.partition("=")[0]) not in drop]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


def resolve_next(current_url: str, link: str) -> str:
    """Resolve a next-page or redirect target relative to the URL that returned it."""
    return urljoin(current_url, link)


def redact_url(url: str) -> str:
    """The URL with user info and the values of secret-looking query parameters hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if is_secret_param(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def path_of(url: str) -> str:
    """Path plus redacted query, for audit lines."""
    parts = urlsplit(redact_url(url))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def parse_allowed_host(entry: str) -> tuple[str | None, str, int | None]:
    """An ``allowed_hosts`` entry as ``(scheme, host, port)``; ``None`` = from the base URL.

    ``https://files.example:8443`` gives every part; ``files.example:8443`` and
    ``files.example`` leave the scheme (and port) to :class:`HostGuard`. Raises
    ``ValueError`` for anything else (paths, user info, wildcards, bad ports).
    """
    entry = entry.strip()
    if is_absolute(entry):
        parts = urlsplit(entry)
        scheme, host, full_port = origin(entry)
        if scheme not in DEFAULT_PORTS or not host or full_port < 0:
            raise ValueError(f"'{entry}' is not an http(s) origin")
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise ValueError(f"'{entry}' must be an origin without path, query or user info")
        return scheme, host, full_port
    probe = urlsplit("//" + entry)
    try:
        port = probe.port
    except ValueError:
        raise ValueError(f"'{entry}' has an invalid port") from None
    if not probe.hostname or probe.path or probe.query or probe.username or "*" in entry:
        raise ValueError(f"'{entry}' is not a host name (wildcards and paths are not supported)")
    return None, probe.hostname.lower(), port


class HostGuard:
    """Credentials go only to the base URL's origin plus ``allowed_hosts``.

    ``allowed_hosts`` entries are full origins (``https://files.example:8443``: exactly
    that) or host names with an optional port (``files.example``, ``files.example:8443``),
    which take the base URL's scheme and, without a port, that scheme's default port. An
    https base therefore never lets credentials fall back to plain http.
    """

    def __init__(self, base_url: str, allowed_hosts: Iterable[str] = ()) -> None:
        self.base_origin = origin(base_url)
        base_scheme = self.base_origin[0]
        self._origins: set[Origin] = {self.base_origin}
        for entry in allowed_hosts:
            if not entry.strip():
                continue
            scheme, host, port = parse_allowed_host(entry)
            scheme = scheme or base_scheme
            self._origins.add((scheme, host, port or DEFAULT_PORTS.get(scheme, 0)))

    @property
    def origins(self) -> frozenset[Origin]:
        """Every origin that may receive credentials."""
        return frozenset(self._origins)

    def allows(self, url: str) -> bool:
        scheme, host, port = origin(url)
        return bool(host) and port > 0 and (scheme, host, port) in self._origins

    def check(self, url: str) -> None:
        """Raise :class:`ForeignHostError` unless ``url`` may receive credentials."""
        if not self.allows(url):
            raise ForeignHostError(
                f"refusing to send credentials to {origin_str(url)}: only "
                f"{_fmt(self.base_origin)} and allowed_hosts may receive them. If this host "
                "is trusted, add it to the connection extra 'allowed_hosts'.",
                url=redact_url(url),
            )


def _fmt(o: Origin) -> str:
    return f"{o[0]}://{o[1]}:{o[2]}"


def origin_str(url: str) -> str:
    return _fmt(origin(url))
