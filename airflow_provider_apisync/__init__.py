"""apisync: an Apache Airflow provider for API-first integration.

Importing this package is cheap: it pulls in neither Airflow nor requests, so Airflow can
read :func:`get_provider_info` at start-up without side effects.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_apisync import connection_form

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


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
                "conn-fields": connection_form.conn_fields(),
                "ui-field-behaviour": connection_form.ui_field_behaviour(),
            }
        ],
    }
