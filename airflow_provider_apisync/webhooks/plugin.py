"""The Airflow plugin that mounts the webhook app on the API server at ``/apisync``.

Declared twice, as official providers do: in provider info ``plugins`` (loaded when
``[core] lazy_discover_providers = False``) and as an ``airflow.plugins`` entry point
(loaded always). Airflow keeps the first one it sees and skips the other by name.

Webhooks need Airflow 3's FastAPI API server. On Airflow 2.11 the plugin still loads (so
``airflow plugins`` lists it) but mounts nothing and says so once when Airflow loads it.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_apisync.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION_STR, AirflowPlugin

PLUGIN_NAME = "apisync_webhooks"
URL_PREFIX = "/apisync"

log = logging.getLogger("airflow_provider_apisync.webhooks")


def _fastapi_apps() -> list[dict[str, Any]]:
    if not AIRFLOW_V_3_0_PLUS:
        return []
    from airflow_provider_apisync.webhooks.app import app

    return [{"app": app, "url_prefix": URL_PREFIX, "name": "apisync webhooks"}]


class ApiSyncWebhooksPlugin(AirflowPlugin):
    """``POST /apisync/webhooks/{source}``: signed deliveries become asset events."""

    name = PLUGIN_NAME
    fastapi_apps = _fastapi_apps()

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        """Warn at start-up where webhooks cannot be served (Airflow 2 has no API server)."""
        if not AIRFLOW_V_3_0_PLUS:
            log.warning(
                "apisync webhooks need Airflow >= 3.0 (FastAPI API server); "
                "not mounted on Airflow %s — upgrade Airflow to receive webhooks",
                AIRFLOW_VERSION_STR,
            )
