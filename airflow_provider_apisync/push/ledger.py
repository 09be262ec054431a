"""The push ledger (acknowledged writes) and the dead-letter files, in object storage.

Both live in a folder scoped to one task run (``<base>/<dag>/<task>/<run>[/map_<i>]``)
and are written as immutable JSONL *segments* — object stores cannot append — named
``t<try>-<seq>-<nonce>.jsonl``. A later try of the same task run reads every segment and
skips writes whose idempotency key is already there.

Ordering guarantee: dead letters are flushed before the ledger segment that mentions
them, so a rejected write is never marked done without its dead-letter line. A crash
that skips the final flush (SIGKILL, OOM) loses at most the entries since the last
flush; those writes are sent again, which idempotency keys or upserts make harmless.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from airflow_provider_apisync.recordio.jsonl import encode_lines, iter_lines

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath

log = logging.getLogger(__name__)

OK = "ok"
REJECTED = "rejected"
UNKNOWN = "unknown"
MANIFEST = "_manifest.json"
_decoder = msgspec.json.Decoder()


def _segment_name(try_number: int, seq: int) -> str:
    return f"t{try_number:03d}-{seq:06d}-{uuid.uuid4().hex[:8]}.jsonl"


def _segments(folder: ObjectStoragePath) -> list[ObjectStoragePath]:
    try:
        if not folder.exists():
            return []
        return sorted(
            (p for p in folder.iterdir() if p.name.endswith(".jsonl")), key=lambda p: p.name
        )
    except (FileNotFoundError, NotADirectoryError):
        return []


class Ledger:
    """Idempotency keys of writes a task run has settled (acknowledged, rejected, unknown).

    ``prior`` holds what earlier tries settled (loaded once); new entries are buffered
    and written as a segment every ``flush_every`` entries or ``flush_seconds``.
    """

    def __init__(
        self,
        folder: ObjectStoragePath,
        try_number: int = 1,
        *,
        flush_every: int = 500,
        flush_seconds: float = 5.0,
        before_flush: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.try_number = try_number
        self.flush_every = max(1, flush_every)
        self.flush_seconds = flush_seconds
        self.before_flush = before_flush
        self._clock = clock
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = clock()
        self._seq = 0
        self.prior: dict[str, tuple[str, int, int]] = {}  # key -> (outcome, records, rejected)
        self.segments_written = 0
        self.unreadable_lines = 0

    def load(self) -> Ledger:
        """Read every segment written by earlier tries (tolerates a torn last line)."""
        for path in _segments(self.folder):
            with path.open("rb") as fh:
                for line in iter_lines(fh):
                    if not line.strip():
                        continue
                    try:
                        entry = _decoder.decode(line)
                        self.prior[entry["k"]] = (entry["o"], entry.get("n", 1), entry.get("r", 0))
                    except (msgspec.DecodeError, KeyError, TypeError):
                        self.unreadable_lines += 1
        if self.unreadable_lines:
            log.warning(
                "ledger %s: %d unreadable line(s) ignored; those writes will be sent again",
                self.folder,
                self.unreadable_lines,
            )
        return self

    def settled(self, key: str) -> tuple[str, int, int] | None:
        """(outcome, records, rejected) when an earlier try settled ``key``, else None."""
        return self.prior.get(key)

    def record(
        self,
        key: str,
        outcome: str,
        *,
        records: int = 1,
        rejected: int = 0,
        status: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Buffer one settled write; flushes when the buffer or the clock says so."""
        self._buffer.append(
            {
                "k": key,
                "o": outcome,
                "n": records,
                "r": rejected,
                "s": status,
                "c": correlation_id,
                "t": self.try_number,
                "at": round(time.time(), 3),
            }
        )
        if (
            len(self._buffer) >= self.flush_every
            or self._clock() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write buffered entries as a new segment (dead letters first, via ``before_flush``)."""
        if self.before_flush is not None:
            self.before_flush()
        self._last_flush = self._clock()
        if not self._buffer:
            return
        self._seq += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / _segment_name(self.try_number, self._seq)).write_bytes(
            encode_lines(self._buffer)
        )
        self._buffer = []
        self.segments_written += 1


class DeadLetters:
    """Rejected records with their errors, as JSONL segments plus a ``_manifest.json``.

    The folder is a valid ``records`` input for a replay push (``records_field="record"``).
    """

    def __init__(self, folder: ObjectStoragePath, try_number: int = 1) -> None:
        self.folder = folder
        self.try_number = try_number
        self._buffer: list[dict[str, Any]] = []
        self._seq = 0
        self.written = 0

    def add(self, entry: dict[str, Any]) -> None:
        self._buffer.append(entry)

    def flush(self) -> None:
        if not self._buffer:
            return
        self._seq += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / _segment_name(self.try_number, self._seq)
        path.write_bytes(encode_lines(self._buffer))
        self.written += len(self._buffer)
        self._buffer = []

    def finish(self) -> tuple[str | None, list[str]]:
        """Flush, then (re)write the manifest over every try's files; (uri, files)."""
        self.flush()
        files = [p.name for p in _segments(self.folder)]
        if not files:
            return None, []
        records = 0
        for name in files:
            with (self.folder / name).open("rb") as fh:
                records += sum(1 for line in iter_lines(fh) if line.strip())
        manifest = {"uri": str(self.folder), "files": files, "records": records}
        (self.folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return str(self.folder), files
