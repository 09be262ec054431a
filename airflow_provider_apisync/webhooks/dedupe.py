"""De-duplication of webhook deliveries against the asset events already recorded.

The metadata DB is the record: a delivery was seen when an event of the same **source**
(any asset ``apisync://<source>/...``) carries its ``delivery_id`` *or* the SHA-256 of
its signed body (``body_sha256``) in ``extra``. Delivery id and event type are unsigned
headers at some senders (GitHub), so the body hash is what catches a captured delivery
replayed under a new id or another event type. That record survives restarts, is shared
by every API server worker and host, and cannot disagree with what DAGs were triggered by:
check and insert run in one transaction while the source is locked
(:func:`lock_source`).

The lookup uses no JSON-path operators (whose SQL differs between Airflow's JSON column
types and databases): it casts ``extra`` to text, narrows with ``LIKE '%"<value>"%'`` —
our values are plain ASCII, which every JSON serialiser writes verbatim between quotes —
and compares the candidates' parsed ``extra`` exactly in Python.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.orm import Session

#: How long a MySQL session waits for another worker's delivery of the same source.
LOCK_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Seen:
    """An earlier event of the source that shares the delivery id or the body."""

    event_id: int
    asset_id: int
    delivery_id: str | None
    body_sha256: str | None


def _lock_key(source: str) -> tuple[int, str]:
    digest = hashlib.sha256(f"apisync.webhooks:{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True), "apisync:" + digest.hex()[:48]


def lock_source(session: Session, source: str) -> None:
    """Serialise deliveries of one source until the transaction ends. Call it first.

    Postgres: ``pg_advisory_xact_lock`` (released at commit/rollback). MySQL: ``GET_LOCK``
    (released by :func:`unlock_source` after commit). SQLite: nothing here — it has one
    writer at a time; :func:`lock_sqlite_writer` takes that lock before the lookup.
    """
    from sqlalchemy import func, select

    dialect = session.get_bind().dialect.name
    key, name = _lock_key(source)
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(key)))
    elif dialect == "mysql":
        got = session.scalar(select(func.get_lock(name, LOCK_WAIT_SECONDS)))
        if got != 1:
            raise TimeoutError(f"webhook source {source!r} stayed locked {LOCK_WAIT_SECONDS} s")


def unlock_source(session: Session, source: str) -> None:
    """Release the MySQL lock of :func:`lock_source` (a no-op elsewhere)."""
    from sqlalchemy import func, select

    if session.get_bind().dialect.name == "mysql":
        session.execute(select(func.release_lock(_lock_key(source)[1])))


def lock_sqlite_writer(session: Session, asset_id: int) -> None:
    """SQLite: take the database-wide writer lock (kept until commit) with a no-op update."""
    from airflow.models.asset import AssetModel
    from sqlalchemy import update

    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(AssetModel).where(AssetModel.id == asset_id).values(id=AssetModel.id)
        )


def find_seen(
    session: Session,
    *,
    source_prefix: str,
    delivery_id: str,
    body_sha256: str,
    window_days: float | None = None,
) -> list[Seen]:
    """Earlier events of the source's assets with this delivery id or body, oldest first.

    ``source_prefix`` is ``apisync://<source>/``. ``window_days`` limits the search to
    recent events (the ``(asset_id, timestamp)`` index keeps that cheap for high-volume
    sources); ``None`` searches all retained events.
    """
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import Text, cast, or_, select

    text = cast(AssetEvent.extra, Text)
    assets = select(AssetModel.id).where(AssetModel.uri.startswith(source_prefix, autoescape=True))
    query = select(AssetEvent.id, AssetEvent.asset_id, AssetEvent.extra).where(
        AssetEvent.asset_id.in_(assets),
        or_(
            text.contains(f'"{delivery_id}"', autoescape=True),
            text.contains(f'"{body_sha256}"', autoescape=True),
        ),
    )
    if window_days is not None:
        since = datetime.now(timezone.utc) - timedelta(days=window_days)
        query = query.where(AssetEvent.timestamp >= since)
    return list(_exact(session.execute(query.order_by(AssetEvent.id)), delivery_id, body_sha256))


def _exact(rows: Any, delivery_id: str, body_sha256: str) -> Iterator[Seen]:
    for event_id, asset_id, extra in rows:
        if isinstance(extra, str | bytes):  # Airflow 3.0/3.1 text-backed JSON columns
            extra = json.loads(extra)
        if not isinstance(extra, dict):
            continue
        seen = Seen(
            int(event_id), int(asset_id), extra.get("delivery_id"), extra.get("body_sha256")
        )
        if seen.delivery_id == delivery_id or seen.body_sha256 == body_sha256:
            yield seen
