"""Where a pull writes: JSONL part files in one folder, resumable after a crash.

Object stores have no append and no truncate, so resuming works on whole objects: parts
recorded as complete in a checkpoint are verified by size; the part that was open is
copied up to its checkpointed size into a fresh part (streaming, 1 MiB at a time) when
the storage shows its flushed bytes (local disk, NFS); when it does not (S3/GCS write
an object only on close), the caller falls back to the state at which that part began.
"""

from __future__ import annotations

import logging
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_apisync.recordio.jsonl import JsonlPartWriter, iter_jsonl

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath

log = logging.getLogger(__name__)

PART_GLOB = "part-*.jsonl"
QUARANTINE = "quarantine"
MANIFEST = "_manifest.json"
COPY_CHUNK = 1024 * 1024


def part_name(index: int) -> str:
    return f"part-{index:05d}.jsonl"


class PartSink:
    """JSONL parts under ``folder`` with checkpointable snapshots."""

    def __init__(self, folder: ObjectStoragePath, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.writer = self._writer(first_index=0)

    def _open(self, index: int) -> tuple[IO[bytes], str]:
        name = part_name(index)
        return (self.folder / name).open("wb"), name

    def _writer(
        self, first_index: int, parts: list[dict[str, Any]] | None = None
    ) -> JsonlPartWriter:
        return JsonlPartWriter(
            self._open, max_bytes=self.max_bytes, first_index=first_index, parts=parts
        )

    # -- writing ----------------------------------------------------------------------
    def write(self, records: list[Any]) -> int:
        return self.writer.write(records)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def will_roll(self) -> bool:
        return self.writer.will_roll()

    def snapshot(self) -> dict[str, Any]:
        """What a checkpoint needs: parts (the last may be open) and the next index."""
        return {"parts": [dict(p) for p in self.writer.parts], "next": self.writer.next_index}

    @property
    def parts(self) -> list[dict[str, Any]]:
        return self.writer.parts

    # -- resuming ---------------------------------------------------------------------
    def restore(self, snapshot: dict[str, Any]) -> str:
        """Adopt a checkpointed snapshot: ``"exact"``, ``"rollback"`` (the open part is
        lost: resume from where it began) or ``"lost"`` (complete parts are missing)."""
        parts = [dict(p) for p in snapshot.get("parts", [])]
        next_index = int(snapshot.get("next", len(parts)))
        if not parts:
            self.writer = self._writer(next_index)
            return "exact"
        *complete, last = parts
        for part in complete:
            if self._size(part["name"]) != int(part["bytes"]):
                log.warning("part %s is missing or changed: cannot resume", part["name"])
                return "lost"
        if (self._size(last["name"]) or 0) < int(last["bytes"]):
            log.warning("open part %s did not reach storage: rolling back to its start", last)
            self._delete(last["name"])
            self.writer = self._writer(next_index, complete)
            return "rollback"
        fresh, name = self._open(next_index)
        self._copy_prefix(last["name"], fresh, int(last["bytes"]))
        self._delete(last["name"])
        self.writer = self._writer(next_index + 1, complete)
        self.writer.continue_part(fresh, name, size=int(last["bytes"]), records=last["records"])
        return "exact"

    def _size(self, name: str) -> int | None:
        path = self.folder / name
        try:
            return int(path.stat().st_size) if path.exists() else None
        except (OSError, ValueError):
            return None

    def _copy_prefix(self, name: str, target: IO[bytes], size: int) -> None:
        left = size
        with (self.folder / name).open("rb") as source:
            while left > 0:
                chunk = source.read(min(COPY_CHUNK, left))
                if not chunk:
                    break
                target.write(chunk)
                left -= len(chunk)
        target.flush()

    def _delete(self, name: str) -> None:
        path = self.folder / name
        try:
            if path.exists():
                path.unlink()
        except OSError:
            log.warning("could not delete %s", name, exc_info=True)

    def reset(self) -> int:
        """Start over: a fresh writer at part 0 and no files left by an earlier try."""
        self.writer.close()
        self.writer = self._writer(first_index=0)
        return self.clean()

    def clean(self) -> int:
        """Remove parts, quarantine files and a manifest left by an earlier try."""
        removed = 0
        if not self.folder.exists():
            return 0
        stale = [*self.folder.glob(PART_GLOB), *(self.folder / QUARANTINE).glob("*.jsonl")]
        manifest = self.folder / MANIFEST
        if manifest.exists():
            stale.append(manifest)
        for path in stale:
            path.unlink()
            removed += 1
        if removed:
            log.info("removed %d files left in %s by an earlier try", removed, self.folder)
        return removed

    def read_records(self) -> Any:
        """Iterate the records of the complete parts (to rebuild de-duplication keys)."""
        for part in self.writer.parts:
            with (self.folder / part["name"]).open("rb") as fileobj:
                yield from iter_jsonl(fileobj, source=part["name"])
