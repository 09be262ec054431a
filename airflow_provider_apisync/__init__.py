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


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (entry point target)."""
    from airflow_provider_apisync.client import fields  # the connection form's table

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
                "conn-fields": fields.conn_fields(),
                "ui-field-behaviour": fields.ui_field_behaviour(),
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
