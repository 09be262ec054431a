"""Run a DAG the moment GitHub reports a push: webhook -> asset event -> DAG run.

How to point GitHub at Airflow
------------------------------
1. Create the webhook source's connection (any secrets backend works), e.g.::

       airflow connections add apisync_webhook_github --conn-type apisync \\
           --conn-password "$GITHUB_WEBHOOK_SECRET" \\
           --conn-extra '{"webhook_scheme": "github"}'

2. In the repository: Settings -> Webhooks -> Add webhook.
   Payload URL: ``https://<your airflow api server>/apisync/webhooks/github``;
   Content type: ``application/json``; Secret: the same ``$GITHUB_WEBHOOK_SECRET``;
   events: "Just the push event" (or more: each event type is its own asset,
   ``apisync://github/<X-GitHub-Event>``).
3. Unpause this DAG. Every verified push records one event on
   ``Asset("apisync://github/push")`` and the scheduler starts a run right away; a replayed
   delivery (same ``X-GitHub-Delivery``) is acknowledged but triggers nothing.

The event ``extra`` holds ``payload_uri`` (the raw body in object storage), ``delivery_id``,
``event_type``, ``source``, ``size_bytes`` and ``received_at`` -- never the payload itself.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

# Airflow 3's airflow.sdk names, also on Airflow 2.11 (see docs: Supported Airflow versions)
from airflow_provider_apisync.compat import Asset, ObjectStoragePath, dag, task

GITHUB_PUSH = Asset("apisync://github/push")


@dag(
    schedule=[GITHUB_PUSH],
    start_date=datetime(2026, 1, 1),  # Airflow 2.11 requires one
    catchup=False,
    tags=["apisync", "webhooks", "example"],
)
def webhook_to_asset_example() -> None:
    @task
    def summarize_pushes(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One small summary per push that triggered this run (payload read from storage)."""
        events = triggering_asset_events.get(GITHUB_PUSH, []) if triggering_asset_events else []
        summaries = []
        for event in events:
            extra = event.extra or {}
            payload = json.loads(ObjectStoragePath(extra["payload_uri"]).read_bytes())
            summaries.append(
                {
                    "delivery_id": extra.get("delivery_id"),
                    "repository": (payload.get("repository") or {}).get("full_name"),
                    "ref": payload.get("ref"),
                    "commits": len(payload.get("commits") or []),
                }
            )
        print("apisync-webhook-pushes", json.dumps(summaries))
        return summaries

    summarize_pushes()


webhook_to_asset_example()
