"""Record a verified delivery as an asset event, from inside the API server process.

The API server has the metadata DB, so this does what ``POST /api/v2/assets/events``
does internally — ``AssetManager.register_asset_change`` in a DB session — without
needing API credentials: the event is stored, DAGs scheduled on the asset are queued
(the scheduler starts them on its next loop) and asset listeners are notified. The raw
body goes to object storage under its SHA-256 (write-once); the event ``extra`` carries
only its URI, hash and identifiers.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.webhooks.dedupe import (
    Seen,
    find_seen,
    lock_source,
    lock_sqlite_writer,
    unlock_source,
)
from airflow_provider_apisync.webhooks.source import DeliveryError

if TYPE_CHECKING:
    from airflow.models.asset import AssetModel
    from sqlalchemy.orm import Session

    from airflow_provider_apisync.compat import ObjectStoragePath
    from airflow_provider_apisync.webhooks.source import WebhookSource

log = logging.getLogger(__name__)

URI_SCHEME = "apisync"


def webhook_asset_uri(source: str, event_type: str) -> str:
    """``apisync://<source>/<event type>``: what DAGs schedule on (``Asset(uri)``)."""
    return f"{URI_SCHEME}://{source}/{event_type}"


@dataclass(frozen=True)
class Outcome:
    """What happened to one verified delivery."""

    recorded: bool  # False: a duplicate of an already recorded delivery
    asset_uri: str
    event_id: int
    payload_uri: str | None


def payload_folder(source: WebhookSource) -> ObjectStoragePath:
    """Where bodies go: ``payload_folder`` or ``<[apisync] output_base>/webhooks``."""
    from airflow_provider_apisync.runtime.folders import default_base, storage_path

    if source.payload_folder:
        return storage_path(source.payload_folder, field="payload_folder") / source.name
    return default_base() / "webhooks" / source.name


def store_payload(source: WebhookSource, body_sha256: str, body: bytes) -> str:
    """Write the raw body to ``<folder>/<source>/<sha256 of the body>.json``; return its URI.

    Content-addressed, hence write-once: a name only ever holds the bytes it is the hash
    of, so no delivery (whatever id or event type it claims) can change what an earlier
    event points at. A complete copy is kept as is; one of another size (a write cut
    short by a crash, never referenced by an event) is rewritten.
    """
    folder = payload_folder(source)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{body_sha256}.json"
    if path.exists() and path.stat().st_size == len(body):
        return str(path)
    with path.open("wb") as fh:
        fh.write(body)
    return str(path)


def record_delivery(
    source: WebhookSource,
    *,
    event_type: str,
    delivery_id: str,
    body: bytes,
    received_at: datetime | None = None,
) -> Outcome:
    """Store the body and record one asset event, unless the source has seen it before.

    Seen before means an event of the same source with this delivery id or this body
    (:mod:`.dedupe`). The same body under the same event type is a duplicate (200);
    the same body under another event type, or the same delivery id with another body,
    is refused with 409 — nothing recorded, no DAG triggered. Check, body write and
    event insert happen while the source is locked, in one transaction: a failure leaves
    no event (the sender retries), two workers receiving the same delivery record it once.
    """
    from airflow.utils.session import create_session

    uri = webhook_asset_uri(source.name, event_type)
    body_sha256 = hashlib.sha256(body).hexdigest()
    received_at = received_at or datetime.now(timezone.utc)
    with create_session() as session:
        lock_source(session, source.name)
        try:
            asset = _get_or_create_asset(session, uri)
            lock_sqlite_writer(session, asset.id)
            seen = find_seen(
                session,
                source_prefix=webhook_asset_uri(source.name, ""),
                delivery_id=delivery_id,
                body_sha256=body_sha256,
                window_days=source.dedupe_window_days,
            )
            duplicate = _duplicate_of(seen, asset.id, delivery_id, body_sha256)
            if duplicate is not None:
                return Outcome(False, uri, duplicate.event_id, None)
            payload_uri = store_payload(source, body_sha256, body)
            extra = {
                "source": source.name,
                "event_type": event_type,
                "delivery_id": delivery_id,
                "body_sha256": body_sha256,
                "payload_uri": payload_uri,
                "size_bytes": len(body),
                "received_at": received_at.isoformat(),
                "producer": "apisync.webhooks",
            }
            event = _register(session, asset, extra)
            session.flush()
            event_id = int(event.id)
            session.commit()
        finally:
            unlock_source(session, source.name)
    return Outcome(True, uri, event_id, payload_uri)


def _duplicate_of(
    seen: list[Seen], asset_id: int, delivery_id: str, body_sha256: str
) -> Seen | None:
    """The earlier event this delivery repeats; ``None`` if new; 409 if it contradicts one."""
    for earlier in seen:
        # Events recorded before body hashes were kept match on the delivery id alone.
        if earlier.asset_id == asset_id and earlier.body_sha256 in (body_sha256, None):
            return earlier
    for earlier in seen:
        if earlier.delivery_id == delivery_id and earlier.body_sha256 != body_sha256:
            raise DeliveryError(
                409,
                "delivery_id_conflict",
                "this delivery id was recorded with another body; nothing recorded",
            )
    if seen:
        raise DeliveryError(
            409,
            "event_type_conflict",
            "this body was recorded under another event type; nothing recorded",
        )
    return None


def _get_or_create_asset(session: Session, uri: str) -> AssetModel:
    """The asset ``name == uri == apisync://...``; created (inactive) when no DAG declared it yet.

    Creating it keeps the event (and its payload reference) even before a consumer DAG
    exists; once a DAG declares ``Asset(uri)`` the DAG processor adopts the same row.
    """
    from airflow.models.asset import AssetModel
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    query = select(AssetModel).where(AssetModel.name == uri, AssetModel.uri == uri)
    asset = session.scalar(query)
    if asset is not None:
        return asset
    try:
        with session.begin_nested():
            asset = AssetModel(name=uri, uri=uri)
            session.add(asset)
        return asset
    except IntegrityError:  # another worker created it a moment ago
        existing = session.scalar(query)
        if existing is None:
            raise
        return existing


def _register(session: Session, asset: AssetModel, extra: dict[str, Any]) -> Any:
    from airflow.assets.manager import asset_manager

    kwargs: dict[str, Any] = {"asset": asset, "extra": extra, "session": session}
    if "source_is_api" in inspect.signature(asset_manager.register_asset_change).parameters:
        kwargs["source_is_api"] = True  # 3.2+: produced outside any DAG, like the REST API
    event = asset_manager.register_asset_change(**kwargs)
    if event is None:
        raise RuntimeError(f"asset manager did not record an event for {asset.uri}")
    return event
