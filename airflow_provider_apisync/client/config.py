"""Client configuration, and its validated construction from connection fields.

Pure Python: the hook hands over the Airflow connection's fields; every problem is an
:class:`ApiConfigError` naming the field and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_apisync import __version__
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.signatures import WEBHOOK_EXTRA_KEYS

AUTH_TYPES = (
    "none",
    "api_key",
    "bearer",
    "basic",
    "oauth2_client_credentials",
    "oauth2_refresh_token",
)
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_USER_AGENT = f"apisync/{__version__} (+airflow-provider-apisync)"
KNOWN_EXTRA = {
    *WEBHOOK_EXTRA_KEYS,
    "auth_type",
    "api_key_header",
    "api_key_query_param",
    "token_url",
    "scope",
    "audience",
    "token_auth_method",
    "refresh_token",
    "headers",
    "timeout",
    "verify",
    "allowed_hosts",
    "rate_limit",
    "max_retries",
    "max_retry_wait",
    "user_agent",
    "correlation_header",
}


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
    """Validate an ``apisync`` connection's fields and build a :class:`ClientConfig`."""
    ex = _extra_dict(extra, conn_id)
    base_url = _base_url(host, schema, port, conn_id)
    auth_type = _choice(ex, "auth_type", AUTH_TYPES, _default_auth(login, password))
    auth = AuthSettings(
        auth_type=auth_type,
        login=login or None,
        secret=password or None,
        api_key_header=_str(ex, "api_key_header") or "X-API-Key",
        api_key_query_param=_str(ex, "api_key_query_param"),
        token_url=_str(ex, "token_url"),
        scope=_scope(ex.get("scope")),
        audience=_str(ex, "audience"),
        token_auth_method=_choice(
            ex, "token_auth_method", TOKEN_AUTH_METHODS, "client_secret_basic"
        ),
        refresh_token=_str(ex, "refresh_token"),
    )
    _check_auth(auth, conn_id)
    return ClientConfig(
        base_url=base_url,
        auth=auth,
        headers=_headers(ex.get("headers")),
        timeout=_timeout(ex.get("timeout")),
        verify=_verify(ex.get("verify")),
        allowed_hosts=_hosts(ex.get("allowed_hosts")),
        rate_limit=_rate_limit(ex.get("rate_limit")),
        max_retries=_int(ex, "max_retries", 5, minimum=0),
        max_retry_wait=_number(ex, "max_retry_wait", 60.0),
        user_agent=_str(ex, "user_agent") or DEFAULT_USER_AGENT,
        correlation_header=_str(ex, "correlation_header") or "X-Request-ID",
    )


def _extra_dict(extra: str | Mapping[str, Any] | None, conn_id: str) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ApiConfigError(
                "extra",
                f"connection '{conn_id}' extra is not valid JSON ({exc.msg} at char {exc.pos}).",
                'write a JSON object such as {"auth_type": "bearer"}.',
            ) from None
    if not isinstance(extra, Mapping):
        raise ApiConfigError("extra", "must be a JSON object.", 'e.g. {"auth_type": "bearer"}.')
    out: dict[str, Any] = {}
    for key, value in extra.items():
        short = key.removeprefix("extra__apisync__")
        if value is None or value == "":
            continue
        out[short] = value
    return out


def _base_url(host: str | None, schema: str | None, port: int | None, conn_id: str) -> str:
    if not host:
        raise ApiConfigError(
            "host",
            f"connection '{conn_id}' has no host.",
            "set the base URL, e.g. https://api.crm.example/v2.",
        )
    host = host.strip()
    if "://" not in host:
        scheme = (schema or "https").strip().lower()
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https"):
        raise ApiConfigError(
            "host",
            f"scheme '{parts.scheme}' is not supported.",
            "use an http:// or https:// base URL.",
        )
    if not parts.hostname:
        raise ApiConfigError("host", f"'{host}' has no host name.", "e.g. https://api.example.")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


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
        raise ApiConfigError(key, f"must be a string, got {type(value).__name__}.")
    return value.strip() or None


def _scope(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    if isinstance(value, str):
        return value.strip() or None
    raise ApiConfigError("scope", "must be a string or a list of strings.")


def _json_value(key: str, value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiConfigError(key, f"is not valid JSON ({exc.msg}).") from None
    return value


def _headers(value: Any) -> dict[str, str]:
    value = _json_value("headers", value)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in value.items()
    ):
        raise ApiConfigError(
            "headers",
            "must be a JSON object of header name to value.",
            'e.g. {"Stripe-Version": "2024-06-20"}.',
        )
    return {k: str(v) for k, v in value.items()}


def _timeout(value: Any) -> tuple[float, float]:
    value = _json_value("timeout", value)
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError
            connect, read = float(value[0]), float(value[1])
        else:
            connect = read = float(value)
    except (TypeError, ValueError):
        raise ApiConfigError(
            "timeout",
            f"'{value}' is not a number of seconds or a [connect, read] pair.",
            "e.g. 30 or [10, 60].",
        ) from None
    if connect <= 0 or read <= 0:
        raise ApiConfigError("timeout", "must be positive: requests never run without one.")
    return connect, read


def _verify(value: Any) -> bool | str:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        return value.strip()
    raise ApiConfigError("verify", "must be true, false or a CA bundle path.")


def _hosts(value: Any) -> tuple[str, ...]:
    value = _json_value("allowed_hosts", value)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(h.strip() for h in value.split(",") if h.strip())
    if isinstance(value, list | tuple) and all(isinstance(h, str) for h in value):
        return tuple(h.strip() for h in value if h.strip())
    raise ApiConfigError("allowed_hosts", "must be a comma-separated string or a list of hosts.")


def _rate_limit(value: Any) -> RateBudget | None:
    value = _json_value("rate_limit", value)
    if value is None:
        return None
    fix = 'e.g. {"requests": 100, "per_seconds": 60}.'
    if not isinstance(value, Mapping) or "requests" not in value:
        raise ApiConfigError(
            "rate_limit", "must be an object with 'requests' and 'per_seconds'.", fix
        )
    try:
        budget = RateBudget(int(value["requests"]), float(value.get("per_seconds", 1)))
    except (TypeError, ValueError):
        raise ApiConfigError(
            "rate_limit", "'requests' and 'per_seconds' must be numbers.", fix
        ) from None
    if budget.requests <= 0 or budget.per_seconds <= 0:
        raise ApiConfigError("rate_limit", "'requests' and 'per_seconds' must be positive.", fix)
    return budget


def _int(ex: Mapping[str, Any], key: str, default: int, minimum: int = 0) -> int:
    value = ex.get(key, default)
    try:
        number = int(value)
        if number != float(value) or number < minimum:
            raise ValueError
    except (TypeError, ValueError):
        raise ApiConfigError(key, f"'{value}' is not a whole number >= {minimum}.") from None
    return number


def _number(ex: Mapping[str, Any], key: str, default: float) -> float:
    value = ex.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiConfigError(key, f"'{value}' is not a number of seconds.") from None
    if number <= 0:
        raise ApiConfigError(key, "must be positive.")
    return number


def _check_auth(auth: AuthSettings, conn_id: str) -> None:
    kind = auth.auth_type
    if kind in ("api_key", "bearer") and not auth.secret:
        raise ApiConfigError(
            "password",
            f"auth_type '{kind}' needs the secret in the connection password.",
            f"put the {'API key' if kind == 'api_key' else 'token'} in the password field.",
        )
    if kind == "basic" and not (auth.login and auth.secret):
        raise ApiConfigError("login", "auth_type 'basic' needs both login and password.")
    if kind.startswith("oauth2"):
        if not auth.token_url:
            raise ApiConfigError(
                "token_url",
                f"auth_type '{kind}' needs the token endpoint.",
                'add "token_url": "https://auth.example/oauth/token" to extra.',
            )
        scheme = urlsplit(auth.token_url).scheme
        if scheme not in ("http", "https"):
            raise ApiConfigError("token_url", f"scheme '{scheme}' is not http or https.")
    if kind == "oauth2_client_credentials" and not (auth.login and auth.secret):
        raise ApiConfigError(
            "login", "oauth2_client_credentials needs the client id (login) and secret (password)."
        )
    if kind == "oauth2_refresh_token" and not auth.refresh_token:
        raise ApiConfigError(
            "refresh_token",
            "auth_type 'oauth2_refresh_token' needs a refresh token.",
            'add "refresh_token" to extra (it is masked in the UI).',
        )
    if auth.api_key_query_param and kind != "api_key":
        raise ApiConfigError("api_key_query_param", "only applies to auth_type 'api_key'.")


def unknown_extra_keys(extra: Mapping[str, Any]) -> list[str]:
    """Keys that apisync does not know (probably typos); the hook warns about them."""
    return sorted(k for k in extra if k.removeprefix("extra__apisync__") not in KNOWN_EXTRA)
