"""One pull: stream pages to JSONL parts, checkpoint after each page, resume after a crash.

Kept apart from the operator so the streaming and resume logic reads top to bottom:
``PullJob.run()`` restores a checkpoint (or cleans the folder), walks the pages,
writes each page's records (after contract checks and de-duplication), flushes, saves a
checkpoint, and finally writes ``_manifest.json``. Memory holds one page (``concurrency``
pages when fetching concurrently), plus one key per record when ``primary_key`` is set.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.client import ApiClient
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.pagination import (
    Page,
    Paginator,
    paginate,
    paginator_spec,
    safe_state,
)
from airflow_provider_apisync.client.records import record_key
from airflow_provider_apisync.pull.contracts import RecordContract
from airflow_provider_apisync.pull.incremental import HighWaterTracker
from airflow_provider_apisync.pull.output import MANIFEST, QUARANTINE, PartSink
from airflow_provider_apisync.recordio.jsonl import encode_lines

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath
    from airflow_provider_apisync.runtime.state import CheckpointStore

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


def transform_name(transform: Callable[[Any], Any] | None) -> str | None:
    """``module.function`` of a transform (part of the pull's identity), None without one."""
    if transform is None:
        return None
    module = getattr(transform, "__module__", "") or ""
    return f"{module}.{getattr(transform, '__qualname__', type(transform).__name__)}"


@dataclass
class PullSpec:
    """What to pull (already rendered) and how."""

    endpoint: str
    params: dict[str, Any]
    headers: dict[str, str] | None
    paginator: Paginator | None  # resolve_paginator()'s result: None = auto
    records_path: str | None = None
    primary_key: tuple[str, ...] = ()
    concurrency: int = 1
    max_pages: int | None = None
    max_records: int | None = None
    part_size: int = 64 * 1024 * 1024
    checkpoint_every: int = 1
    transform: Callable[[Any], Any] | None = None

    def identity(self) -> list[Any]:
        """What makes two tries the same pull (a checkpoint of another pull is not resumed)."""
        return [
            self.endpoint,
            self.params,
            sorted(self.headers or {}),
            paginator_spec(self.paginator),
            self.records_path,
            self.primary_key,
            self.max_pages,
            self.max_records,
            transform_name(self.transform),
        ]


@dataclass
class Progress:
    """Counters and the next-request state; saved in every checkpoint."""

    state: dict[str, Any] | None = None
    done: bool = False
    pages: int = 0
    records: int = 0
    duplicates: int = 0
    filtered: int = 0
    quarantined: int = 0
    quarantine_files: list[str] = field(default_factory=list)
    high_water_mark: Any = None
    requests: int = 0  # of earlier tries
    retries: int = 0
    throttled: int = 0
    truncated: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class PullJob:
    """Runs one pull into ``folder``; returns the manifest."""

    progress_type: type[Progress] = Progress  # subclasses keep more counters

    def __init__(
        self,
        client: ApiClient,
        spec: PullSpec,
        folder: ObjectStoragePath,
        checkpoints: CheckpointStore,
        *,
        fingerprint: str,
        contract: RecordContract,
        tracker: HighWaterTracker | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.folder = folder
        self.checkpoints = checkpoints
        self.fingerprint = fingerprint
        self.contract = contract
        self.tracker = tracker
        self.sink = PartSink(folder, max_bytes=spec.part_size)
        self.progress = self.progress_type()
        self.part_start: dict[str, Any] | None = None
        self.seen: set[Any] | None = set() if spec.primary_key else None
        self.resumed_from_page: int | None = None
        self.completed: dict[str, Any] | None = None

    # -- the run ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self._restore()
        if self.completed is not None:
            log.info("output in %s is already complete: nothing to fetch", self.folder)
            return self.completed
        if not self.progress.done:
            self._walk()
        self.sink.close()
        self._drop_stale_quarantine()
        manifest = self._manifest(time.monotonic() - started)
        (self.folder / MANIFEST).write_bytes(json.dumps(manifest, indent=1).encode())
        self.checkpoints.save(
            {"v": CHECKPOINT_VERSION, "fingerprint": self.fingerprint, "complete": True,
             "manifest": manifest}
        )  # fmt: skip
        return manifest

    def _walk(self) -> None:
        spec, progress = self.spec, self.progress
        max_pages = spec.max_pages - progress.pages if spec.max_pages else None
        max_records = spec.max_records - progress.records if spec.max_records else None
        if (max_pages is not None and max_pages < 1) or (
            max_records is not None and max_records < 1
        ):
            progress.done = True
            return
        pages = paginate(
            self.client,
            spec.endpoint,
            paginator=spec.paginator,
            records_path=spec.records_path,
            params=spec.params,
            headers=spec.headers,
            max_pages=max_pages,
            max_records=max_records,
            concurrency=spec.concurrency,
            state=progress.state,
        )
        handled = 0
        try:
            for page in pages:
                self._handle(page)
                handled += 1
        finally:
            pages.close()
        progress.pages += pages.fetched - handled  # empty pages count as fetched pages
        progress.truncated = pages.truncated
        progress.done = True
        if not pages.truncated:
            progress.state = None
        self._save()

    def _handle(self, page: Page) -> None:
        progress = self.progress
        number = progress.pages + 1
        self._write_page(page.records, number)
        progress.state = page.state
        progress.done = page.state is None
        if progress.done or number % self.spec.checkpoint_every == 0:
            self._save()

    def _write_page(self, records: list[Any], number: int) -> None:
        """Page ``number``'s records through contract, de-duplication, the high-water mark
        and the transform into the part files; counts the page and what was written."""
        progress = self.progress
        if self.contract.active:
            records = self._check(records, number)
        if self.seen is not None:
            records = self._dedupe(records)
        if self.tracker is not None and records:
            self.tracker.observe(records)  # the API's records: the cursor field is theirs
            progress.high_water_mark = self.tracker.value
        if self.spec.transform is not None:
            records = self._transform(records, number)
        if records:
            if self.sink.will_roll():
                self.part_start = self._snapshot()
            self.sink.write(records)
        progress.pages = number
        progress.records += len(records)

    def _check(self, records: list[Any], number: int) -> list[Any]:
        good, bad = self.contract.split(records)
        if not bad:
            return good
        if self.contract.on_violation == "fail":
            raise self.contract.fail(*bad[0], where=f"page {number}")
        name = f"{QUARANTINE}/page-{number:06d}.jsonl"
        rows = [
            {"page": number, "record": record, "violations": [v.to_dict() for v in found]}
            for record, found in bad
        ]
        (self.folder / QUARANTINE).mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(encode_lines(rows))
        log.warning(
            "quarantined %d records of page %d, e.g. %s",
            len(bad),
            number,
            self.contract.describe(*bad[0], where=f"page {number}"),
        )
        self.progress.quarantined += len(bad)
        if name not in self.progress.quarantine_files:
            self.progress.quarantine_files.append(name)
        return good

    def _transform(self, records: list[Any], number: int) -> list[Any]:
        transform = self.spec.transform
        assert transform is not None
        out = []
        for index, record in enumerate(records):
            try:
                value = transform(record)
            except Exception as exc:
                raise ApiConfigError(
                    "transform",
                    f"{transform_name(transform)} raised {type(exc).__name__}: {exc} "
                    f"on record {index + 1} of page {number}.",
                    "fix the function (return None to drop a record).",
                ) from exc
            if value is None:
                self.progress.filtered += 1
            else:
                out.append(value)
        return out

    def _dedupe(self, records: list[Any]) -> list[Any]:
        assert self.seen is not None
        kept = []
        for record in records:
            key = record_key(record, self.spec.primary_key)
            if key in self.seen:
                self.progress.duplicates += 1
                continue
            self.seen.add(key)
            kept.append(record)
        return kept

    # -- checkpoints ------------------------------------------------------------------
    def _counters(self) -> dict[str, int]:
        stats = self.client.stats
        return {
            "requests": self.progress.requests + stats.requests,
            "retries": self.progress.retries + stats.retries,
            "throttled": self.progress.throttled + stats.throttled,
        }

    def _snapshot(self) -> dict[str, Any]:
        progress = {**vars(self.progress), **self._counters()}
        progress["quarantine_files"] = list(self.progress.quarantine_files)
        return {"progress": progress, "output": self.sink.snapshot()}

    def _save(self) -> None:
        self.sink.flush()
        self.checkpoints.save(
            {
                "v": CHECKPOINT_VERSION,
                "fingerprint": self.fingerprint,
                **self._snapshot(),
                "part_start": self.part_start,
            }
        )

    def _restore(self) -> None:
        saved = self.checkpoints.load()
        if not saved:
            self.sink.reset()
            return
        if saved.get("fingerprint") != self.fingerprint or saved.get("v") != CHECKPOINT_VERSION:
            log.warning("checkpoint belongs to a different pull configuration: starting over")
            self.sink.reset()
            return
        if saved.get("complete"):
            if (self.folder / MANIFEST).exists():
                self.completed = saved["manifest"]
                return
            saved = {}
        status = self.sink.restore(saved["output"]) if saved else "lost"
        point = saved
        if status == "rollback" and saved.get("part_start"):
            point = saved["part_start"]
        elif status != "exact":
            log.warning("the output of the earlier try is gone: starting over")
            self.sink.reset()
            return
        self.progress = self.progress_type.from_dict(point["progress"])
        self.part_start = saved.get("part_start") if point is saved else None
        self.resumed_from_page = self.progress.pages
        log.info(
            "resuming from checkpoint (%s, %s): %d pages and %d records kept, next request %s",
            self.checkpoints.kind,
            status,
            self.progress.pages,
            self.progress.records,
            safe_state(self.progress.state),
        )
        if self.tracker is not None and self.progress.high_water_mark is not None:
            self.tracker.offer(self.progress.high_water_mark)
        if self.seen is not None:
            for record in self.sink.read_records():
                self.seen.add(record_key(record, self.spec.primary_key))

    def _drop_stale_quarantine(self) -> None:
        """Quarantine files of pages re-read after a rollback that no longer apply."""
        folder = self.folder / QUARANTINE
        if not folder.exists():
            return
        keep = {name.rsplit("/", 1)[-1] for name in self.progress.quarantine_files}
        for path in folder.glob("*.jsonl"):
            if path.name not in keep:
                path.unlink()

    # -- the result -------------------------------------------------------------------
    def _manifest(self, duration: float) -> dict[str, Any]:
        progress = self.progress
        base = str(self.folder).rstrip("/")
        counters = self._counters()
        return {
            "uri": base,
            "files": [f"{base}/{p['name']}" for p in self.sink.parts],
            "parts": [dict(p) for p in self.sink.parts],
            "records": progress.records,
            "pages": progress.pages,
            **counters,
            "high_water_mark": progress.high_water_mark,
            "duration_s": round(duration, 3),
            "endpoint": self.spec.endpoint,
            "truncated": progress.truncated,
            "duplicates": progress.duplicates,
            "filtered": progress.filtered,
            "quarantined": progress.quarantined,
            "quarantine_files": [f"{base}/{name}" for name in progress.quarantine_files],
            "resumed_from_page": self.resumed_from_page,
            "checkpoint": self.checkpoints.kind,
        }
