"""Client configuration, and its validated construction from connection fields.

Pure Python: the hook hands over the Airflow connection's fields; every problem is an
:class:`ApiConfigError` naming the field and the fix.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_apisync import __version__
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.urls import is_absolute, parse_allowed_host, redact_url
from airflow_provider_apisync.connection_form import ALIASES, AUTH_TYPES, FIELDS, OAUTH2_CLIENT_AUTH

TOKEN_AUTH_METHODS = OAUTH2_CLIENT_AUTH
DEFAULT_TIMEOUT = (10.0, 60.0)
DEADLINE_FACTOR = 5
"""Without ``request_deadline``, one attempt may take this many read timeouts in total."""
DEFAULT_MAX_RESPONSE_MB = 256
DEFAULT_USER_AGENT = f"apisync/{__version__} (+airflow-provider-apisync)"
#: Connection ``extra`` keys a webhook source may use (see ``docs/webhooks.md``).
WEBHOOK_EXTRA_KEYS = frozenset(
    {
        "webhook_scheme",
        "signature_header",
        "signature_algorithm",
        "signature_prefix",
        "signature_encoding",
        "tolerance_seconds",
        "event_type",
        "event_type_header",
        "event_type_path",
        "delivery_id_header",
        "delivery_id_path",
        "max_body_bytes",
        "payload_folder",
        "dedupe_window_days",
    }
)
#: Every extra key apisync reads: the form's fields, their old names, the webhook keys.
KNOWN_EXTRA = {*WEBHOOK_EXTRA_KEYS, *(f.key for f in FIELDS), *ALIASES}
EXTRA_PREFIX = "extra__apisync__"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name
_CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie"}


@dataclass(frozen=True)
class AuthSettings:
    """What an auth strategy needs; secrets live here and nowhere else."""

    auth_type: str = "none"
    login: str | None = None
    secret: str | None = field(default=None, repr=False)
    api_key_header: str = "X-API-Key"
    api_key_query_param: str | None = None
    token_url: str | None = None
    scope: str | None = None
    audience: str | None = None
    token_auth_method: str = "client_secret_basic"
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RateBudget:
    """Client-side budget: at most ``requests`` per ``per_seconds``."""

    requests: int
    per_seconds: float


@dataclass(frozen=True)
class SharedStoreSettings:
    """The extra ``shared_store``: which Redis connection holds the fleet's shared state."""

    conn_id: str
    key_prefix: str = "apisync"


@dataclass(frozen=True)
class ClientConfig:
    """Everything :class:`ApiClient` needs to talk to one system."""

    base_url: str
    auth: AuthSettings = field(default_factory=AuthSettings)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify: bool | str = True
    allowed_hosts: tuple[str, ...] = ()
    rate_limit: RateBudget | None = None
    max_retries: int = 5
    max_retry_wait: float = 60.0
    user_agent: str = DEFAULT_USER_AGENT
    correlation_header: str = "X-Request-ID"
    test_endpoint: str = ""
    """What ``test_connection`` GETs (relative to the base URL); empty = the base URL."""
    request_deadline: float | None = None
    """Total seconds one attempt may take, body included; None = 5 x the read timeout."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_MB * 1024 * 1024
    """Cap on one decoded (decompressed) response body (extra ``max_response_mb``)."""

    @property
    def deadline(self) -> float:
        """The total deadline of one attempt in seconds (see ``request_deadline``)."""
        return self.request_deadline or DEADLINE_FACTOR * self.timeout[1]

    shared_store: SharedStoreSettings | None = None
    """Share budget, quota news and OAuth2 tokens across workers (None: per process)."""
    log_requests: bool = False
    """Log one audit line per HTTP attempt at INFO (default: DEBUG, hidden in task logs)."""
    progress_every: float = 30.0
    """Seconds between INFO progress lines while requests flow; 0 turns them off."""


def config_from_connection(
    *,
    host: str | None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    port: int | None = None,
    extra: str | Mapping[str, Any] | None = None,
    conn_id: str = "apisync_default",
) -> ClientConfig:
    """Validate an ``apisync`` connection's fields and build a :class:`ClientConfig`.

    Every problem raises one :class:`ApiConfigError` naming the field, the connection and
    the fix; values of secret fields never appear in the message.
    """
    try:
        return _build(host, login, password, schema, port, extra)
    except ApiConfigError as exc:
        problem, _, fix = str(exc)[len(exc.field) + 2 :].partition(" Fix: ")
        problem = f"{problem.rstrip('.')} (connection '{conn_id}')."
        raise ApiConfigError(exc.field, problem, fix) from None


def _build(
    host: str | None,
    login: str | None,
    password: str | None,
    schema: str | None,
    port: int | None,
    extra: str | Mapping[str, Any] | None,
) -> ClientConfig:
    ex = _extra_dict(extra)
    base_url = _base_url(host, schema, port)
    auth_type = _choice(ex, "auth_type", AUTH_TYPES, _default_auth(login, password))
    auth = AuthSettings(
        auth_type=auth_type,
        login=login or None,
        secret=password or None,
        api_key_header=_header_name(ex, "key_header") or "X-API-Key",
        api_key_query_param=_str(ex, "key_query_param"),
        token_url=_str(ex, "oauth2_url"),
        scope=_scope(ex.get("scope")),
        audience=_str(ex, "audience"),
        token_auth_method=_choice(
            ex, "oauth2_client_auth", OAUTH2_CLIENT_AUTH, "client_secret_basic"
        ),
        refresh_token=_str(ex, "refresh_token"),
    )
    _check_auth(auth)
    return ClientConfig(
        base_url=base_url,
        auth=auth,
        headers=_headers(ex.get("headers")),
        timeout=_timeout(ex.get("timeout")),
        verify=_verify(ex.get("verify"), ex.get("ca_bundle")),
        allowed_hosts=_hosts(ex.get("allowed_hosts")),
        rate_limit=_rate_limit(ex.get("rate_limit")),
        max_retries=_int(ex, "max_retries", 5, minimum=0),
        max_retry_wait=_number(ex, "max_retry_wait", 60.0),
        user_agent=_line(ex, "user_agent") or DEFAULT_USER_AGENT,
        correlation_header=_header_name(ex, "correlation_header") or "X-Request-ID",
        test_endpoint=_str(ex, "test_endpoint") or "",
        request_deadline=_number(ex, "request_deadline", None),
        max_response_bytes=int(
            _number(ex, "max_response_mb", DEFAULT_MAX_RESPONSE_MB) * 1024 * 1024
        ),
        shared_store=_shared_store(ex.get("shared_store")),
        log_requests=_flag(ex, "log_requests"),
        progress_every=_progress_every(ex.get("progress_every", 30.0)),
    )


def _extra_dict(extra: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The extra as a dict; ``extra__apisync__x`` (form-widget style) is read as ``x``.

    Empty values count as unset (the UI stores untouched fields as "" or null). When both
    spellings are present the plain key wins; an old key name (``token_url`` ...) is read as
    its current name (``oauth2_url``) unless that is set too.
    """
    if extra is None or (isinstance(extra, str) and not extra.strip()):
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ApiConfigError(
                "extra",
                f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}).",
                'write a JSON object such as {"auth_type": "bearer"}.',
            ) from None
    if not isinstance(extra, Mapping):
        raise ApiConfigError(
            "extra",
            f"must be a JSON object, got {type(extra).__name__}.",
            'e.g. {"auth_type": "bearer"}.',
        )
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if value is None or value == "":
            continue
        short = str(key).removeprefix(EXTRA_PREFIX)
        if short != key and short in extra and extra[short] not in (None, ""):
            continue
        out[short] = value
    for old, new in ALIASES.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    return out


def _base_url(host: str | None, schema: str | None, port: int | None) -> str:
    fix = "set host to the base URL, e.g. https://api.crm.example/v2."
    if not host or not host.strip():
        raise ApiConfigError("host", "is empty.", fix)
    host = host.strip()
    if not is_absolute(host):
        scheme = (schema or "https").strip().lower()
        if scheme not in ("http", "https"):
            raise ApiConfigError(
                "schema",
                f"'{schema}' is not a URL scheme (the schema field holds http or https).",
                "clear it and put the full base URL, scheme included, in host.",
            )
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    if parts.scheme.lower() not in ("http", "https"):
        raise ApiConfigError(
            "host", f"scheme '{parts.scheme}' is not supported.", "use an http:// or https:// URL."
        )
    if not parts.hostname:
        raise ApiConfigError("host", f"'{redact_url(host)}' has no host name.", fix)
    if parts.username or parts.password:
        raise ApiConfigError(
            "host",
            "must not contain credentials (user:password@).",
            "put them in the login and password fields.",
        )
    if parts.query or parts.fragment:
        raise ApiConfigError(
            "host",
            "must not contain a query string or fragment.",
            "put static parameters in the request, or headers in extra.headers.",
        )
    try:
        url_port = parts.port
    except ValueError:
        raise ApiConfigError("host", "has an invalid port.", fix) from None
    netloc = parts.netloc
    scheme = parts.scheme.lower()
    if port:  # 0 and empty mean unset
        if not 0 < int(port) < 65536:
            raise ApiConfigError("port", f"{port} is not a TCP port.", "use 1-65535 or clear it.")
        default = 443 if scheme == "https" else 80
        if url_port is not None and url_port != int(port):
            raise ApiConfigError(
                "port",
                f"{port} differs from the port {url_port} in the base URL.",
                f"set port to {url_port} or clear it.",
            )
        if url_port is None and int(port) != default:
            netloc = f"{netloc}:{int(port)}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _default_auth(login: str | None, password: str | None) -> str:
    if login and password:
        return "basic"
    return "bearer" if password else "none"


def _choice(ex: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = ex.get(key, default)
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise ApiConfigError(
            key, f"'{value}' is not one of {', '.join(allowed)}.", f"set {key} to one of them."
        )
    return value.strip().lower()


def _str(ex: Mapping[str, Any], key: str) -> str | None:
    value = ex.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiConfigError(
            key, f"must be a string, got {type(value).__name__}.", "quote the value in extra."
        )
    return value.strip() or None


def _line(ex: Mapping[str, Any], key: str) -> str | None:
    value = _str(ex, key)
    if value is not None and ("\r" in value or "\n" in value):
        raise ApiConfigError(key, "must be a single line (no CR or LF).", "remove line breaks.")
    return value


def _header_name(ex: Mapping[str, Any], key: str) -> str | None:
    value = _str(ex, key)
    if value is not None and not _TOKEN.match(value):
        raise ApiConfigError(key, f"'{value}' is not a valid HTTP header name.", "e.g. X-API-Key.")
    return value


def _scope(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    if isinstance(value, str):
        return value.strip() or None
    raise ApiConfigError(
        "scope", "must be a string or a list of strings.", 'e.g. "crm.read crm.write".'
    )


_EXAMPLES = {
    "headers": '{"Stripe-Version": "2024-06-20"}',
    "timeout": "[10, 60]",
    "allowed_hosts": '["files.example", "https://cdn.example:8443"]',
    "rate_limit": '{"requests": 100, "per_seconds": 60}',
    "shared_store": '{"conn_id": "apisync_redis"}',
}


def _json_value(key: str, value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiConfigError(
                key, f"is not valid JSON ({exc.msg}).", f"e.g. {_EXAMPLES.get(key, '{}')}."
            ) from None
    return value


def _headers(value: Any) -> dict[str, str]:
    value = _json_value("headers", value)
    if value is None:
        return {}
    fix = 'e.g. {"Stripe-Version": "2024-06-20"}.'
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise ApiConfigError("headers", "must be a JSON object of header name to value.", fix)
    out = {k.strip(): str(v).strip() for k, v in value.items()}
    for name, text in out.items():
        if not _TOKEN.match(name) or "\r" in text or "\n" in text:
            raise ApiConfigError("headers", f"'{name}' is not a valid header.", fix)
        if name.lower() in _CREDENTIAL_HEADERS:
            raise ApiConfigError(
                "headers",
                f"'{name}' carries credentials, and extra is not a secret field.",
                "use auth_type (bearer, basic, api_key ...) with the secret in the password.",
            )
    return out


def _timeout(value: Any) -> tuple[float, float]:
    value = _json_value("timeout", value)
    if value is None:
        return DEFAULT_TIMEOUT
    bad = ApiConfigError(
        "timeout",
        f"'{value}' is not a positive number of seconds or a [connect, read] pair.",
        "e.g. 30 or [10, 60]; requests never run without a timeout.",
    )
    items = value if isinstance(value, list | tuple) else [value, value]
    if len(items) != 2:
        raise bad
    try:
        connect, read = (_seconds(v) for v in items)
    except (TypeError, ValueError):
        raise bad from None
    return connect, read


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError
    return number


def _verify(value: Any, ca_bundle: Any = None) -> bool | str:
    """``verify`` (a boolean; "true"/"false" or a CA path as text) and ``ca_bundle``."""
    if ca_bundle is not None:
        if not isinstance(ca_bundle, str):
            raise ApiConfigError("ca_bundle", "must be a file path.", "e.g. /etc/ssl/corp-ca.pem.")
        if value is False or (isinstance(value, str) and value.strip().lower() in _FALSE):
            raise ApiConfigError(
                "ca_bundle",
                "is set while verify is false.",
                "clear ca_bundle, or turn verify on to check the server against it.",
            )
        return _ca_path("ca_bundle", ca_bundle)
    if value is None or isinstance(value, bool):
        return True if value is None else value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in _FALSE:
            return False
        return _ca_path("verify", value)
    raise ApiConfigError("verify", "must be true, false or a CA bundle path.")


_FALSE = ("false", "0", "no", "off")


def _ca_path(key: str, value: str) -> str:
    path = value.strip()
    if not os.path.exists(path):
        raise ApiConfigError(
            key,
            f"CA bundle '{path}' does not exist on this machine.",
            "use the path of a PEM bundle present on every worker.",
        )
    return path


def _hosts(value: Any) -> tuple[str, ...]:
    value = _json_value("allowed_hosts", value)
    if value is None:
        return ()
    if isinstance(value, str):
        hosts = tuple(h.strip() for h in value.split(",") if h.strip())
    elif isinstance(value, list | tuple) and all(isinstance(h, str) for h in value):
        hosts = tuple(h.strip() for h in value if h.strip())
    else:
        raise ApiConfigError(
            "allowed_hosts", "must be a comma-separated string or a list of hosts."
        )
    for entry in hosts:
        try:
            parse_allowed_host(entry)
        except ValueError as exc:
            raise ApiConfigError(
                "allowed_hosts",
                f"{exc}.",
                "use host names (files.example), host:port, or origins (https://files.example:8443).",
            ) from None
    return hosts


def _rate_limit(value: Any) -> RateBudget | None:
    value = _json_value("rate_limit", value)
    if value is None:
        return None
    fix = 'e.g. {"requests": 100, "per_seconds": 60}.'
    if not isinstance(value, Mapping) or "requests" not in value:
        raise ApiConfigError(
            "rate_limit", "must be an object with 'requests' and 'per_seconds'.", fix
        )
    unknown = sorted(set(value) - {"requests", "per_seconds"})
    if unknown:
        raise ApiConfigError("rate_limit", f"has unknown keys {unknown}.", fix)
    try:
        requests = _seconds(value["requests"])
        per_seconds = _seconds(value.get("per_seconds", 1))
        if requests != int(requests):
            raise ValueError
    except (TypeError, ValueError):
        raise ApiConfigError(
            "rate_limit",
            "'requests' must be a positive whole number and 'per_seconds' a positive number.",
            fix,
        ) from None
    return RateBudget(int(requests), per_seconds)


_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _shared_store(value: Any) -> SharedStoreSettings | None:
    value = _json_value("shared_store", value)
    if value is None:
        return None
    fix = 'e.g. {"conn_id": "apisync_redis"} naming an Airflow connection of type redis.'
    if not isinstance(value, Mapping):
        raise ApiConfigError("shared_store", "must be an object with 'conn_id'.", fix)
    unknown = sorted(set(value) - {"conn_id", "key_prefix"})
    if unknown:
        raise ApiConfigError("shared_store", f"has unknown keys {unknown}.", fix)
    conn_id = value.get("conn_id")
    if not isinstance(conn_id, str) or not conn_id.strip():
        raise ApiConfigError("shared_store", "needs 'conn_id', the Redis connection id.", fix)
    prefix = value.get("key_prefix", "apisync")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ApiConfigError(
            "shared_store",
            f"key_prefix {prefix!r} must be 1-64 letters, digits or _ . : -.",
            'e.g. "key_prefix": "apisync_prod".',
        )
    return SharedStoreSettings(conn_id.strip(), prefix)


def _int(ex: Mapping[str, Any], key: str, default: int, minimum: int = 0) -> int:
    value = ex.get(key, default)
    try:
        if isinstance(value, bool):
            raise TypeError
        number = int(value)
        if number != float(value) or number < minimum:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ApiConfigError(
            key, f"'{value}' is not a whole number >= {minimum}.", f"e.g. {default}."
        ) from None
    return number


def _flag(ex: Mapping[str, Any], key: str) -> bool:
    value = ex.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ApiConfigError(key, f"'{value}' is not a boolean.", "use true or false.")


def _progress_every(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not seconds >= 0:
        raise ApiConfigError(
            "progress_every",
            f"'{value}' is not a number of seconds.",
            "e.g. 30 (0 turns progress lines off).",
        )
    return seconds


def _number(ex: Mapping[str, Any], key: str, default: float | None) -> Any:
    value = ex.get(key, default)
    if value is None:
        return None
    try:
        return _seconds(value)
    except (TypeError, ValueError):
        example = f"e.g. {default:g}." if default is not None else "e.g. 300."
        unit = "megabytes" if key.endswith("_mb") else "seconds"
        raise ApiConfigError(
            key, f"'{value}' is not a positive number of {unit}.", example
        ) from None


def _check_auth(auth: AuthSettings) -> None:
    kind = auth.auth_type
    if kind in ("api_key", "bearer") and not auth.secret:
        what = "API key" if kind == "api_key" else "token"
        raise ApiConfigError(
            "password",
            f"auth_type '{kind}' needs the {what} in the password field, which is empty.",
            f"put the {what} in the connection password.",
        )
    if kind == "basic":
        for name, value in (("login", auth.login), ("password", auth.secret)):
            if not value:
                raise ApiConfigError(
                    name, f"auth_type 'basic' needs a {name}, which is empty.", f"set the {name}."
                )
    if kind.startswith("oauth2"):
        _check_token_url(auth.token_url, kind)
    if kind == "oauth2_client_credentials":
        for name, value, what in (
            ("login", auth.login, "client id"),
            ("password", auth.secret, "client secret"),
        ):
            if not value:
                raise ApiConfigError(
                    name,
                    f"auth_type '{kind}' needs the {what} in the {name} field, which is empty.",
                    f"put the {what} in the connection {name}.",
                )
    if kind == "oauth2_refresh_token" and not auth.refresh_token:
        raise ApiConfigError(
            "refresh_token",
            f"auth_type '{kind}' needs a refresh token in extra, which has none.",
            'add "refresh_token": "..." to extra (it is masked in the UI and in logs).',
        )
    if auth.api_key_query_param and kind != "api_key":
        raise ApiConfigError(
            "key_query_param",
            f"only applies to auth_type 'api_key', not '{kind}'.",
            "remove it or set auth_type to api_key.",
        )


def _check_token_url(token_url: str | None, kind: str) -> None:
    example = 'add "oauth2_url": "https://auth.example/oauth/token" to extra.'
    if not token_url:
        raise ApiConfigError("oauth2_url", f"auth_type '{kind}' needs the token endpoint.", example)
    parts = urlsplit(token_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiConfigError(
            "oauth2_url", f"'{redact_url(token_url)}' is not an absolute http(s) URL.", example
        )


def unknown_extra_keys(extra: Mapping[str, Any]) -> list[str]:
    """Keys that apisync does not know (probably typos); the hook warns about them."""
    return sorted(k for k in extra if str(k).removeprefix(EXTRA_PREFIX) not in KNOWN_EXTRA)
