"""JSON Lines encoding and decoding with msgspec: streaming, bounded memory.

Pure Python over binary file objects, so the Airflow layer can hand in
``ObjectStoragePath.open("wb")`` for local disk, S3, GCS alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import msgspec

from airflow_provider_apisync.client.errors import ApiContractError

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode_lines(records: Iterable[Any]) -> bytes:
    """Records as JSONL bytes (one compact JSON document per line), in one C call."""
    return _encoder.encode_lines(records if isinstance(records, list) else list(records))


def iter_lines(fileobj: IO[bytes] | Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a binary file object (or any iterable of lines).

    Some file wrappers (Airflow 3.0's ``ObjectStoragePath.open()`` on local disk) forward
    ``readline`` to the real file but are not iterable themselves: those are read through
    ``readline``. The check is on the type, as ``iter()`` does, not on the instance.
    """
    if hasattr(type(fileobj), "__iter__"):
        return iter(fileobj)
    return iter(fileobj.readline, b"")  # type: ignore[union-attr]


def iter_jsonl(fileobj: IO[bytes] | Iterable[bytes], *, source: str = "input") -> Iterator[Any]:
    """Decode a JSONL stream line by line; a bad line raises naming ``source`` and the line."""
    for number, line in enumerate(iter_lines(fileobj), start=1):
        if not line.strip():
            continue
        try:
            yield _decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise ApiContractError(f"{source} line {number} is not valid JSON: {exc}") from None


class JsonlPartWriter:
    """Writes records to numbered part files, starting a new part past ``max_bytes``.

    ``open_part(index)`` returns a fresh binary file object and its name; parts are closed
    as soon as they are full so a crash loses at most the part being written.
    ``parts`` lists parts already complete (a resumed run); ``flush()`` pushes the open
    part to storage so a checkpoint can trust ``parts[-1]["bytes"]``.
    """

    def __init__(
        self,
        open_part: Callable[[int], tuple[IO[bytes], str]],
        *,
        max_bytes: int = 128 * 1024 * 1024,
        first_index: int = 0,
        parts: list[dict[str, Any]] | None = None,
    ) -> None:
        self._open_part = open_part
        self.max_bytes = max_bytes
        self._index = first_index
        self._file: IO[bytes] | None = None
        self._size = 0
        self.parts: list[dict[str, Any]] = [dict(p) for p in parts or []]
        self.records = sum(int(p["records"]) for p in self.parts)

    @property
    def next_index(self) -> int:
        """The index the next new part will get."""
        return self._index

    def will_roll(self) -> bool:
        """True when the next ``write`` starts a new part."""
        return self._file is None or self._size >= self.max_bytes

    def continue_part(self, fileobj: IO[bytes], name: str, *, size: int, records: int) -> None:
        """Keep appending to an open part that already holds ``size`` bytes (resume)."""
        self.close()
        self._file = fileobj
        self._size = size
        self.parts.append({"name": name, "records": records, "bytes": size})
        self.records += records

    def flush(self) -> None:
        """Push buffered bytes of the open part to storage."""
        if self._file is not None:
            self._file.flush()

    def write(self, records: Iterable[Any]) -> int:
        """Append records; returns how many were written."""
        if not isinstance(records, list):
            records = list(records)
        if not records:
            return 0
        data = encode_lines(records)
        count = len(records)
        if self._file is None or self._size >= self.max_bytes:
            self._roll()
        assert self._file is not None
        self._file.write(data)
        self._size += len(data)
        self.parts[-1]["records"] += count
        self.parts[-1]["bytes"] = self._size
        self.records += count
        return count

    def _roll(self) -> None:
        self.close()
        self._file, name = self._open_part(self._index)
        self._index += 1
        self._size = 0
        self.parts.append({"name": name, "records": 0, "bytes": 0})

    def close(self) -> None:
        """Close the current part (flushes it to storage)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> JsonlPartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
