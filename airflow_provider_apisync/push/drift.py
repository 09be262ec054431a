"""Drift between a source of truth and a target, by record key and content hash.

Three passes keep memory at one small entry per *source* key (a 16-byte hash):
1. ``index(source)`` — key -> hash of the compared fields;
2. ``compare(target)`` — each target record is matched by key: ``different`` when the
   hashes differ, ``extra`` when the source has no such key, ``duplicate`` when the
   target holds the key twice; yields drift as it goes;
3. ``leftovers(source)`` — reads the source again: ``missing`` for keys the target did
   not have, plus the source side of every ``different`` record (the repush input).
Values are normalised before hashing (``1.0 == 1``; keys compared as strings) so a
round trip through JSON does not look like drift. Pure Python, no Airflow imports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.push.idempotency import canonical_json

MISSING, DIFFERENT, EXTRA, DUPLICATE = "missing", "different", "extra", "duplicate"
_ABSENT = {"$absent": True}
_SEEN = b""  # a matched source key (its hash is no longer needed)

Key = tuple[str, ...]


@dataclass
class Drift:
    """One finding.

    ``record``: the full source record (missing, different — what a repush sends);
    ``source``/``target``: the compared fields on each side (different), or the full
    target record (extra, duplicate); ``fields``: the compared fields that differ.
    """

    kind: str
    key: Key
    source: Any = None
    target: Any = None
    fields: list[str] | None = None
    record: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": list(self.key)}
        for name in ("fields", "source", "target", "record"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class DriftCounts:
    source: int = 0
    target: int = 0
    matched: int = 0
    missing: int = 0
    different: int = 0
    extra: int = 0
    duplicate: int = 0
    source_duplicates: int = 0
    source_without_key: int = 0
    target_without_key: int = 0
    samples: dict[str, list[list[str]]] = field(default_factory=dict)

    def note(self, drift: Drift, limit: int = 10) -> None:
        setattr(self, drift.kind, getattr(self, drift.kind) + 1)
        sample = self.samples.setdefault(drift.kind, [])
        if len(sample) < limit:
            sample.append(list(drift.key))

    @property
    def drift(self) -> int:
        return self.missing + self.different + self.extra + self.duplicate


def normal(value: Any) -> Any:
    """JSON value with integral floats as ints, recursively (``1.0`` and ``1`` agree)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    return value


def key_of(record: Any, fields: Sequence[str]) -> Key | None:
    """The record's key as strings, or None when a key field is missing."""
    if not isinstance(record, Mapping):
        return None
    values = []
    for name in fields:
        value = get_path(record, name)
        if value is None or value == "":
            return None
        values.append(str(normal(value)))
    return tuple(values)


class DriftFinder:
    """Compares a re-iterable source with one pass over the target (see module doc)."""

    def __init__(
        self,
        key_fields: Sequence[str],
        *,
        target_key_fields: Sequence[str] | None = None,
        compare_fields: Sequence[str] | None = None,
        ignore_fields: Iterable[str] = (),
    ) -> None:
        self.key_fields = tuple(key_fields)
        self.target_key_fields = tuple(target_key_fields or key_fields)
        self.compare_fields = tuple(compare_fields) if compare_fields else None
        self.ignore = set(ignore_fields) | set(self.key_fields)
        self.counts = DriftCounts()
        self._hashes: dict[Key, bytes] = {}
        self._different: dict[Key, Any] = {}
        self._duplicated: set[Key] = set()

    def project(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The compared fields of ``record`` (absent ones marked, so absence is drift)."""
        assert self.compare_fields is not None
        return {name: normal(get_path(record, name, _ABSENT)) for name in self.compare_fields}

    def digest(self, record: Mapping[str, Any]) -> bytes:
        return hashlib.sha256(canonical_json(self.project(record))).digest()[:16]

    # -- pass 1 -----------------------------------------------------------------------
    def index(self, source: Iterable[Any]) -> None:
        for record in source:
            self.counts.source += 1
            key = key_of(record, self.key_fields)
            if key is None:
                self.counts.source_without_key += 1
                continue
            if self.compare_fields is None:
                self.compare_fields = tuple(
                    sorted(name for name in record if name not in self.ignore)
                )
            if key in self._hashes:
                self.counts.source_duplicates += 1  # the last one wins, as with upserts
                self._duplicated.add(key)
            self._hashes[key] = self.digest(record)

    # -- pass 2 -----------------------------------------------------------------------
    def compare(self, target: Iterable[Any]) -> Iterator[Drift]:
        seen_extra: set[Key] = set()
        for record in target:
            self.counts.target += 1
            key = key_of(record, self.target_key_fields)
            if key is None:
                self.counts.target_without_key += 1
                continue
            expected = self._hashes.get(key)
            if expected is None:
                found = Drift(DUPLICATE if key in seen_extra else EXTRA, key, target=record)
                seen_extra.add(key)
                self.counts.note(found)
                yield found
            elif expected == _SEEN or key in self._different:
                found = Drift(DUPLICATE, key, target=record)
                self.counts.note(found)
                yield found
            elif expected == self.digest(record):
                self.counts.matched += 1
                self._hashes[key] = _SEEN
            else:
                self._different[key] = self.project(record)

    # -- pass 3 -----------------------------------------------------------------------
    def leftovers(self, source: Iterable[Any]) -> Iterator[Drift]:
        """A drift (with the full source ``record``) per missing or different key, once."""
        for record in source:
            key = key_of(record, self.key_fields)
            if key is None:
                continue
            marker = self._hashes.get(key)
            if marker is None or marker == _SEEN:
                continue
            if key in self._duplicated and self.digest(record) != marker:
                continue  # an earlier occurrence of a duplicated key: the last one counts
            self._hashes[key] = _SEEN
            if key in self._different:
                theirs = self._different.pop(key)
                ours = self.project(record)
                fields = [name for name in ours if ours[name] != theirs.get(name)]
                drift = Drift(DIFFERENT, key, ours, theirs, fields, record=record)
            else:
                drift = Drift(MISSING, key, record=record)
            self.counts.note(drift)
            yield drift
