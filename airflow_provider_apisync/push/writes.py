"""Records -> keyed writes: transform, key, endpoint, body and idempotency key per write.

``WriteBuilder`` turns a stream of records into :class:`Write` objects (one record, or
one batch of ``batch_size``) and :class:`Invalid` ones for records that cannot be sent.
Lazy and deterministic: the same input gives the same writes with the same keys, which
is what lets a retried task recognise what an earlier try already settled. Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.urls import PathValueError, expand_path
from airflow_provider_apisync.push.batching import batch_body, batched
from airflow_provider_apisync.push.idempotency import (
    canonical_json,
    derive_key,
    payload_hash,
    record_key_of,
)

METHODS = ("POST", "PUT", "PATCH", "DELETE")
ON_ERROR = ("dead_letter", "fail")
Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]


@dataclass(frozen=True)
class PushSpec:
    """What to send and how (validated by the operator)."""

    endpoint: str
    method: str
    key_fields: tuple[str, ...]
    batch_size: int = 1
    batch_body_key: str | None = None
    batch_results_path: str | None = "results"
    idempotency_header: str | None = "Idempotency-Key"
    idempotency_scope: str | None = None
    concurrency: int = 4
    on_error: str = "dead_letter"
    transform: Transform | None = None
    headers: Mapping[str, str] | None = None


@dataclass
class Write:
    """One request: a record (or a batch), its target, body and idempotency key."""

    records: list[dict[str, Any]]
    keys: list[list[Any]]
    endpoint: str
    body: bytes
    key: str


@dataclass
class Invalid:
    """A record that cannot be sent (transform failed, no key, not an object)."""

    record: Any
    problem: str
    key: str
    record_key: list[Any] | None = None


class WriteBuilder:
    """Builds writes for ``spec``; ``url_for`` resolves (and host-checks) an endpoint.

    ``records`` and ``filtered`` count what went in and what the transform dropped.
    In batch mode invalid records are yielded at once, ahead of the batch they would
    have joined, so batches hold valid records only.
    """

    def __init__(self, spec: PushSpec, url_for: Callable[[str], str]) -> None:
        self.spec = spec
        self.url_for = url_for
        self.records = 0
        self.filtered = 0

    def writes(self, records: Iterable[Any]) -> Iterator[Write | Invalid]:
        prepared = self._prepared(records)
        if self.spec.batch_size <= 1:
            yield from prepared
            return
        held: list[Invalid] = []

        def valid_only() -> Iterator[Write]:
            for item in prepared:
                if isinstance(item, Invalid):
                    held.append(item)
                else:
                    yield item

        for batch in batched(valid_only(), self.spec.batch_size):
            yield from held
            held.clear()
            yield self._batch(batch)
        yield from held

    def _prepared(self, records: Iterable[Any]) -> Iterator[Write | Invalid]:
        spec = self.spec
        for raw in records:
            self.records += 1
            record = raw
            if spec.transform is not None and isinstance(raw, dict):
                try:
                    record = spec.transform(raw)
                except Exception as exc:  # a user callable: its failure is the record's
                    yield self._invalid(raw, f"transform raised {type(exc).__name__}: {exc}")
                    continue
                if record is None:
                    self.filtered += 1
                    continue
            if not isinstance(record, dict):
                yield self._invalid(raw, f"a record must be a JSON object, got {_kind(record)}")
                continue
            try:
                keys = record_key_of(record, spec.key_fields)
            except KeyError as exc:
                yield self._invalid(raw, f"record has no value for key field {exc.args[0]!r}")
                continue
            try:
                endpoint = expand_path(spec.endpoint, record)
            except PathValueError as exc:
                problem = f"endpoint placeholder {{{exc.field}}} {str(exc)[len(exc.field) + 2 :]}"
                yield self._invalid(raw, problem, keys)
                continue
            key = derive_key(
                self.url_for(endpoint),
                spec.method,
                keys,
                payload_hash(record),
                scope=spec.idempotency_scope,
            )
            yield Write([record], [keys], endpoint, canonical_json(record), key)

    def _batch(self, writes: list[Write]) -> Write:
        spec = self.spec
        records = [w.records[0] for w in writes]
        keys = [w.keys[0] for w in writes]
        body = batch_body(records, spec.batch_body_key)
        key = derive_key(
            self.url_for(spec.endpoint),
            spec.method,
            keys,
            payload_hash(body),
            scope=spec.idempotency_scope,
        )
        return Write(records, keys, spec.endpoint, canonical_json(body), key)

    def _invalid(self, raw: Any, problem: str, record_key: list[Any] | None = None) -> Invalid:
        try:
            digest = payload_hash(raw)
        except (TypeError, ValueError):
            digest = payload_hash(repr(raw))
        key = derive_key(
            self.url_for(self.spec.endpoint),
            self.spec.method,
            "invalid",
            digest,
            scope=self.spec.idempotency_scope,
        )
        return Invalid(raw, problem, key, record_key)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    """``value`` when it is one of ``allowed``, else an error naming ``field``."""
    if value not in allowed:
        raise ApiConfigError(field, f"{value!r} is not one of {list(allowed)}.")
    return value


def positive_int(field: str, value: Any) -> int:
    """``value`` when it is an int >= 1 (not a bool), else an error naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiConfigError(field, f"{value!r} is not a positive integer.", "use 1 or more.")
    return value
