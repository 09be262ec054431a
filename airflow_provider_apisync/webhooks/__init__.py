"""Signed webhook deliveries -> Airflow asset events (near-real-time sync).

The provider's plugin mounts :mod:`.app` on the Airflow API server at
``/apisync/webhooks/{source}``; see ``docs/webhooks.md``. Importing this package is cheap.
"""

from __future__ import annotations

from airflow_provider_apisync.webhooks.events import webhook_asset_uri
from airflow_provider_apisync.webhooks.source import CONN_ID_PREFIX, conn_id_for

__all__ = ["CONN_ID_PREFIX", "conn_id_for", "webhook_asset_uri"]
