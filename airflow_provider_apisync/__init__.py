"""apisync: an Apache Airflow provider for API-first integration.

Importing this package is cheap: it pulls in neither Airflow nor requests, so Airflow can
read :func:`get_provider_info` at start-up without side effects. It does refuse to load on
an Airflow older than :data:`MIN_AIRFLOW_VERSION` (read from the installed distribution's
metadata, as official providers check ``airflow.__version__``): one clear line instead of a
half-registered hook.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

__version__ = "0.1.0"

#: Oldest Airflow this provider supports (keep in sync with pyproject.toml).
MIN_AIRFLOW_VERSION = (2, 11, 0)


def _installed_airflow() -> tuple[int, ...] | None:
    """The installed Airflow's ``(major, minor, micro)``, or None when there is none."""
    for dist in ("apache-airflow-core", "apache-airflow"):
        try:
            found = re.match(r"(\d+)\.(\d+)\.?(\d*)", metadata.version(dist))
        except metadata.PackageNotFoundError:
            continue
        if found:
            return tuple(int(part or 0) for part in found.groups())
    return None


def _refuse_old_airflow() -> None:
    running = _installed_airflow()
    if running is not None and running < MIN_AIRFLOW_VERSION:
        raise RuntimeError(
            f"The package `airflow-provider-apisync:{__version__}` needs Apache Airflow "
            f"{'.'.join(map(str, MIN_AIRFLOW_VERSION))}+ (installed: "
            f"{'.'.join(map(str, running))}); upgrade Airflow or pin an older apisync."
        )


_refuse_old_airflow()

__all__ = ["__version__", "get_provider_info"]

_STR = {"type": ["string", "null"]}


def _field(label: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema or dict(_STR)}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (entry point target)."""
    integration = "API Sync"
    return {
        "package-name": "airflow-provider-apisync",
        "name": "API Sync",
        "description": "API-first integration: resilient hooks, paginated pulls, "
        "idempotent pushes and deferrable sensors for business-system APIs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://pypi.org/project/airflow-provider-apisync/",
                "tags": ["protocol"],
            }
        ],
        "hooks": [
            {
                "integration-name": integration,
                "python-modules": ["airflow_provider_apisync.hooks.apisync"],
            }
        ],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_apisync.operators.pull",
                    "airflow_provider_apisync.operators.push",
                    "airflow_provider_apisync.operators.reconcile",
                    "airflow_provider_apisync.operators.bulk",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_apisync.sensors.rate_limit",
                    "airflow_provider_apisync.sensors.freshness",
                ],
            }
        ],
        "config": _config(),
        "plugins": [
            {
                "name": "apisync_webhooks",
                "plugin-class": "airflow_provider_apisync.webhooks.plugin.ApiSyncWebhooksPlugin",
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_apisync.hooks.apisync.ApiSyncHook",
                "hook-name": "API Sync",
                "connection-type": "apisync",
                "conn-fields": _conn_fields(),
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Base URL",
                        "login": "User / client id",
                        "password": "Secret (API key, token, password or client secret)",
                    },
                    "placeholders": {
                        "host": "https://api.crm.example/v2",
                        "login": "basic: user name; OAuth2: client id; otherwise empty",
                        "password": "the secret for the chosen auth type",
                        "extra": '{"auth_type": "bearer"}',
                        "auth_type": "bearer",
                        "api_key_header": "X-API-Key",
                        "token_url": "https://auth.example/oauth/token",
                        "headers": '{"Stripe-Version": "2024-06-20"}',
                        "timeout": "[10, 60]",
                        "allowed_hosts": "files.crm.example, cdn.crm.example",
                        "rate_limit": '{"requests": 100, "per_seconds": 60}',
                        "test_endpoint": "/me",
                        "shared_store": '{"conn_id": "apisync_redis"}',
                    },
                },
            }
        ],
    }


def _config() -> dict[str, Any]:
    """The ``[apisync]`` section of ``airflow.cfg`` (shown by ``airflow config list``)."""
    return {
        "apisync": {
            "description": "Defaults of the API Sync provider.",
            "options": {
                "output_base": {
                    "description": "Base URI of every file apisync writes when a task gives "
                    "none: pull output, push ledgers and dead letters, reconcile reports, bulk "
                    "jobs, checkpoint files, webhook bodies. Empty: file://$AIRFLOW_HOME/apisync. "
                    "Distributed executors (Celery, Kubernetes, Edge ...) need shared storage "
                    "here, e.g. s3://bucket/apisync; a local path then fails the task at once.",
                    "version_added": "0.1.0",
                    "type": "string",
                    "example": "s3://my-bucket/apisync",
                    "default": "",
                }
            },
        }
    }


def _conn_fields() -> dict[str, Any]:
    auth_types = [
        "none",
        "api_key",
        "bearer",
        "basic",
        "oauth2_client_credentials",
        "oauth2_refresh_token",
    ]
    return {
        "auth_type": _field(
            "Auth type",
            "How requests authenticate; the password field holds the secret. Empty: basic "
            "with login and password, bearer with a password only, otherwise none.",
            {"type": ["string", "null"], "enum": [*auth_types, None]},
        ),
        "api_key_header": _field("API key header", "Header carrying the API key (X-API-Key)."),
        "api_key_query_param": _field(
            "API key query parameter", "Send the API key as this query parameter instead."
        ),
        "token_url": _field("OAuth2 token URL", "Token endpoint for OAuth2 auth types."),
        "scope": _field("OAuth2 scope", "Space-separated scopes to request."),
        "audience": _field("OAuth2 audience", "Audience parameter some servers require."),
        "token_auth_method": _field(
            "OAuth2 client authentication",
            "How the client secret reaches the token endpoint.",
            {
                "type": ["string", "null"],
                "enum": ["client_secret_basic", "client_secret_post", None],
            },
        ),
        "refresh_token": _field(
            "OAuth2 refresh token",
            "Long-lived refresh token for oauth2_refresh_token.",
            {"type": ["string", "null"], "format": "password"},
        ),
        "headers": _field("Static headers (JSON)", "e.g. API version pins."),
        "timeout": _field("Timeout", "Seconds: one number, or [connect, read]; default [10, 60]."),
        "verify": _field(
            "Verify TLS", "true, false, or a CA bundle path.", {"type": ["string", "null"]}
        ),
        "allowed_hosts": _field(
            "Allowed extra hosts",
            "Other hosts that may receive credentials (comma list of host, host:port or "
            "https://host:port); same scheme as the base URL unless given.",
        ),
        "rate_limit": _field("Client-side rate limit (JSON)", '{"requests": N, "per_seconds": S}'),
        "max_retries": _field(
            "Max retries", "Retries per request (default 5).", {"type": ["integer", "null"]}
        ),
        "max_retry_wait": _field(
            "Max retry wait (s)",
            "Cap on any single wait (default 60).",
            {"type": ["number", "null"]},
        ),
        "user_agent": _field("User agent", "Overrides the default apisync user agent."),
        "correlation_header": _field(
            "Correlation id header", "Header carrying each request's id (default X-Request-ID)."
        ),
        "test_endpoint": _field(
            "Test endpoint",
            "Path the Test button GETs (default: the base URL); pick one that needs auth.",
        ),
        "request_deadline": _field(
            "Request deadline (s)",
            "Total time one attempt may take, body included (default 5 x the read timeout).",
            {"type": ["number", "null"]},
        ),
        "max_response_mb": _field(
            "Max response size (MB)",
            "Cap on one decompressed response body (default 256).",
            {"type": ["number", "null"]},
        ),
        "shared_store": _field(
            "Shared store (JSON)",
            'Share the rate budget and OAuth2 tokens across all workers: {"conn_id": '
            '"apisync_redis"} names a redis connection (needs the [redis] extra); optional '
            '"key_prefix".',
        ),
    }
