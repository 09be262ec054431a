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

from airflow_provider_apisync.client.config import ClientConfig
from airflow_provider_apisync.client.errors import ApiConfigError
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
    """Public settings of a validated configuration (no secret is read)."""
    auth = config.auth
    facts: list[tuple[str, str]] = [
        ("Base URL", code(safe_url(config.base_url))),
        ("Auth", _auth_text(config)),
    ]
    if auth.auth_type.startswith("oauth2"):
        facts.append(("Scopes", code(auth.scope) if auth.scope else "none requested"))
        if auth.audience:
            facts.append(("Audience", code(auth.audience)))
        if auth.token_url:
            facts.append(("Token URL host", code(origin_str(auth.token_url))))
    if config.headers:
        facts.append(("Static headers", ", ".join(safe_headers(config.headers))))
    budget = config.rate_limit
    facts.append(
        (
            "Client-side rate limit",
            f"{budget.requests} requests per {duration(budget.per_seconds)}"
            if budget
            else "none (server quotas only)",
        )
    )
    facts.append(
        (
            "Client retries",
            f"`max_retries` {config.max_retries}, `max_retry_wait` "
            f"{duration(config.max_retry_wait)}",
        )
    )
    connect, read = config.timeout
    facts.append(("Timeouts", f"connect {duration(connect)}, read {duration(read)}"))
    verify = config.verify
    facts.append(
        (
            "TLS verification",
            "on"
            if verify is True
            else "**off**"
            if verify is False
            else f"CA bundle {code(verify)}",
        )
    )
    if config.allowed_hosts:
        facts.append(("Also allowed hosts", codes(sorted(config.allowed_hosts))))
    facts.append(("Correlation header", code(config.correlation_header)))
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
