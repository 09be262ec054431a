"""The systems a DAG talks to: one ``apisync`` connection each, described without secrets.

By default nothing is resolved: a page names the connection id and says its details are
resolved at run time, so the committed pages are the same on every machine whatever
``AIRFLOW_CONN_*`` variables or secrets backends it has. With ``connections=True`` each
connection is read the way a task reads it (:meth:`ApiSyncHook.load_config`: env vars,
then the configured secrets backends) and its public settings are shown. Passwords, API
keys, client secrets and refresh tokens are never read from the config, and header values
are shown only for version pins and content negotiation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_apisync.client.config import ClientConfig, RateBudget
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.fields import FIELDS
from airflow_provider_apisync.client.urls import origin_str
from airflow_provider_apisync.describe.policy import config_default, default_timeout
from airflow_provider_apisync.describe.values import code, codes, duration, safe_headers, safe_url

RUN_TIME = "resolved at run time"
_USERINFO = re.compile(r"://[^/@\s]+@")


@dataclass(frozen=True)
class SystemDoc:
    """One connection: resolved settings (label, Markdown value) or why there are none."""

    conn_id: str
    resolved: bool
    facts: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=())
    problem: str | None = None


Resolver = Callable[[str], SystemDoc]


def unresolved(conn_id: str) -> SystemDoc:
    """Connection-less mode: the id only."""
    return SystemDoc(conn_id, resolved=False)


def resolve(conn_id: str) -> SystemDoc:
    """Read ``conn_id`` as a task would and describe its public settings."""
    from airflow_provider_apisync.hooks.apisync import ApiSyncHook

    try:
        config = ApiSyncHook(conn_id).load_config()
    except ApiConfigError as exc:
        return SystemDoc(conn_id, False, problem=f"invalid: {_USERINFO.sub('://***@', str(exc))}")
    except Exception as exc:  # not found, backend unavailable: say which, show nothing else
        return SystemDoc(conn_id, False, problem=f"not available here ({type(exc).__name__})")
    return describe_config(conn_id, config)


def describe_config(conn_id: str, config: ClientConfig) -> SystemDoc:
    """Public settings of a validated configuration (no secret is read).

    One fact per connection field that the auth type uses, in the form's order (the table in
    ``client/fields.py``); secret fields have no entry in :data:`_FACTS`, so never show.
    """
    auth = config.auth
    facts = [("Base URL", code(safe_url(config.base_url)))]
    for f in FIELDS:
        fact = _FACTS[f.key](config) if f.key in _FACTS else None
        if fact and (not f.uses or auth.auth_type in f.uses):
            facts.append(fact)
    notes = []
    if auth.auth_type == "oauth2_refresh_token":
        notes.append(
            "Rotated refresh tokens are written back to the shared store (encrypted) for the "
            "next run and every worker."
            if config.shared_store
            else "Rotated refresh tokens are kept for the task run only (set `shared_store` to "
            "keep them across runs and workers)."
        )
    return SystemDoc(conn_id, True, tuple(facts), tuple(notes))


def _tls(verify: bool | str) -> str:
    return "on" if verify is True else "**off**" if verify is False else f"CA bundle {code(verify)}"


def _budget(budget: RateBudget | None) -> str:
    if budget is None:
        return "none (server quotas only)"
    return f"{budget.requests} requests per {duration(budget.per_seconds)}"


#: How a describe page shows a connection field: (label, Markdown value), or None to skip.
_FACTS: dict[str, Callable[[ClientConfig], tuple[str, str] | None]] = {
    "auth_type": lambda c: ("Auth", _auth_text(c)),
    "oauth2_url": lambda c: (
        ("Token URL host", code(origin_str(t))) if (t := c.auth.token_url) else None
    ),
    "scope": lambda c: ("Scopes", code(c.auth.scope) if c.auth.scope else "none requested"),
    "audience": lambda c: ("Audience", code(c.auth.audience)) if c.auth.audience else None,
    "verify": lambda c: ("TLS verification", _tls(c.verify)),
    "timeout": lambda c: (
        "Timeouts",
        f"connect {duration(c.timeout[0])}, read {duration(c.timeout[1])}",
    ),
    "headers": lambda c: (
        ("Static headers", ", ".join(safe_headers(c.headers))) if c.headers else None
    ),
    "allowed_hosts": lambda c: (
        ("Also allowed hosts", codes(sorted(c.allowed_hosts))) if c.allowed_hosts else None
    ),
    "rate_limit": lambda c: ("Client-side rate limit", _budget(c.rate_limit)),
    "max_retries": lambda c: (
        "Client retries",
        f"`max_retries` {c.max_retries}, `max_retry_wait` {duration(c.max_retry_wait)}",
    ),
    "correlation_header": lambda c: ("Correlation header", code(c.correlation_header)),
}


def _auth_text(config: ClientConfig) -> str:
    auth = config.auth
    kind = code(auth.auth_type)
    if auth.auth_type == "api_key":
        if auth.api_key_query_param:
            return f"{kind}, key in query parameter {code(auth.api_key_query_param)}"
        return f"{kind}, key in header {code(auth.api_key_header)}"
    if auth.auth_type == "bearer":
        return f"{kind}, token in the `Authorization` header"
    if auth.auth_type == "basic":
        return f"{kind}, user and password"
    if auth.auth_type.startswith("oauth2"):
        return f"{kind}, token endpoint auth {code(auth.token_auth_method)}"
    return kind


def defaults_text() -> str:
    """What an unresolved connection gets when its extra does not override it."""
    connect, read = default_timeout()
    return (
        f"unless a connection's extra says otherwise: `max_retries` "
        f"{config_default('max_retries')}, `max_retry_wait` "
        f"{duration(config_default('max_retry_wait'))}, timeouts {duration(connect)} connect / "
        f"{duration(read)} read, no client-side `rate_limit`, correlation header "
        f"{code(config_default('correlation_header'))}"
    )
