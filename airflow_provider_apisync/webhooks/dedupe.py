"""De-duplication of webhook deliveries against the asset events already recorded.

The metadata DB is the record: a delivery counts as seen when an event of the same asset
carries its ``delivery_id`` in ``extra``. That survives restarts, is shared by every API
server worker and host, and cannot disagree with what DAGs were triggered by, because the
check and the insert run in one transaction while the asset row is locked (row lock on
Postgres/MySQL, SQLite's single-writer lock via a no-op update). Senders only retry a
delivery with the same event type, so checking the one asset is enough.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def lock_asset(session: Session, asset_id: int) -> None:
    """Serialise deliveries for one asset until the transaction ends."""
    from airflow.models.asset import AssetModel
    from airflow.utils.sqlalchemy import with_row_locks
    from sqlalchemy import select, update

    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: any write takes the database-wide writer lock, and
        # keeps it until commit, so concurrent check-then-insert cannot interleave.
        session.execute(
            update(AssetModel).where(AssetModel.id == asset_id).values(id=AssetModel.id)
        )
        return
    query = select(AssetModel.id).where(AssetModel.id == asset_id)
    session.execute(with_row_locks(query, session=session, key_share=False))


def find_delivery(
    session: Session,
    *,
    asset_id: int,
    delivery_id: str,
    window_days: float | None = None,
) -> int | None:
    """Id of an existing event of this asset for ``delivery_id``, or ``None``.

    ``window_days`` limits the search to recent events (the ``(asset_id, timestamp)`` index
    keeps that cheap for high-volume sources); ``None`` searches all retained events.
    """
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    from airflow_provider_apisync.compat import json_extra_equals

    query = select(AssetEvent.id).where(
        AssetEvent.asset_id == asset_id,
        json_extra_equals(AssetEvent.extra, "delivery_id", delivery_id),
    )
    if window_days is not None:
        since = datetime.now(timezone.utc) - timedelta(days=window_days)
        query = query.where(AssetEvent.timestamp >= since)
    return session.scalar(query.order_by(AssetEvent.id).limit(1))
