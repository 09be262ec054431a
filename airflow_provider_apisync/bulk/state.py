"""What a bulk job remembers between polls, deferrals and task retries.

One small JSON record per task instance: the job id, where the job is in its life
(``phase``), the poll count, upload and download progress, and request counters. It lives
where the pull keeps its checkpoints (:func:`runtime.state.checkpoint_store`):
Airflow 3.3's ``task_state_store`` (scoped to the DAG run, task and map index, so every
try and every resume after a deferral sees it), else ``_job.json`` next to the output.
``airflow dags test`` drops ``defer()`` kwargs, so nothing relies on them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from airflow_provider_apisync.compat import ObjectStoragePath
from airflow_provider_apisync.runtime.state import CheckpointStore, checkpoint_store

log = logging.getLogger(__name__)

STATE_KEY = "apisync.bulk.job"
STATE_FILE = "_job.json"
VERSION = 1

#: ``phase`` values, in order.
CREATED = "created"  # the job exists; upload not finished (``uploaded_chunks`` so far)
UPLOADED = "uploaded"  # data uploaded (or none to upload); not yet marked complete
PROCESSING = "processing"  # the API is working on it: poll until a terminal state
DOWNLOADING = "downloading"  # succeeded: results being written (``download`` progress)
FAILED = "failed"  # ended in a failure state: a new try starts a new job


@dataclass
class JobRecord:
    """The persisted state of one bulk job (JSON-safe)."""

    fingerprint: str
    job_id: str | None = None
    phase: str = CREATED
    job_state: str | None = None
    created_state: str | None = None
    created_at: float = 0.0
    try_number: int | None = None
    try_started: float = 0.0
    reused: bool = False  # a later try took over the job of an earlier one
    polls: int = 0
    uploaded_chunks: int = 0
    uploaded_records: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    download: dict[str, Any] | None = None
    v: int = VERSION

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_store(context: Mapping[str, Any], folder: ObjectStoragePath) -> CheckpointStore:
    """``task_state_store`` when Airflow offers one (>= 3.3), else ``_job.json`` in ``folder``."""
    return checkpoint_store(
        context, folder, key=STATE_KEY, filename=STATE_FILE, what="bulk job state"
    )


def load_record(store: CheckpointStore, fingerprint: str) -> JobRecord | None:
    """The stored record of *this* job configuration, else None (a different or unreadable
    record is reported and ignored)."""
    try:
        saved = store.load()
    except Exception as exc:  # a store outage must not create a second job silently
        raise RuntimeError(f"cannot read the bulk job state from {store.kind}: {exc}") from exc
    if not saved:
        return None
    if saved.get("v") != VERSION or saved.get("fingerprint") != fingerprint:
        log.warning(
            "stored bulk job %s belongs to a different job configuration: ignoring it",
            saved.get("job_id"),
        )
        return None
    return JobRecord.from_dict(saved)
