"""The Airflow plugin that mounts the webhook app on the API server at ``/apisync``.

Declared twice, as official providers do: in provider info ``plugins`` (loaded when
``[core] lazy_discover_providers = False``) and as an ``airflow.plugins`` entry point
(loaded always). Airflow keeps the first one it sees and skips the other by name.
"""

from __future__ import annotations

try:  # Airflow >= 3.2: the task SDK's base class (core accepts it by name)
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - Airflow 3.0/3.1
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[no-redef,assignment]

from airflow_provider_apisync.webhooks.app import app

PLUGIN_NAME = "apisync_webhooks"
URL_PREFIX = "/apisync"


class ApiSyncWebhooksPlugin(AirflowPlugin):
    """``POST /apisync/webhooks/{source}``: signed deliveries become asset events."""

    name = PLUGIN_NAME
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "apisync webhooks"}]
