"""The push engine: records -> keyed writes -> concurrent requests -> settled outcomes.

Every write (one record, or one batch) gets a deterministic idempotency key. Writes an
earlier try already settled (the ledger) are skipped; the rest are sent by a thread pool
holding at most ``concurrency`` writes in flight, so memory stays bounded by
``concurrency x batch_size`` records whatever the input size. Outcomes are settled in the
calling thread (ledger, dead letters, counters), so no state is shared between workers
except the client, whose rate budget and pacing are thread-safe.

Outcome of a failed write:
- ``rejected`` — a 4xx other than 401/408/409/425/429: the record is wrong; dead-lettered.
- ``unknown`` — the connection broke after the request may have reached the server and
  the write is not safe to replay (POST/PATCH without idempotency key): dead-lettered as
  ``unknown`` and NOT resent, neither now nor by a task retry (reconcile to resolve).
- ``abort`` — retryable trouble that outlived the client's retries (5xx, 429, timeouts):
  the push stops and the error is raised so an Airflow task retry resumes it.
- ``fatal`` — 401 or a configuration problem: stop and fail the task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_apisync.client import ApiClient, ApiClientError, ApiError, ApiTransportError
from airflow_provider_apisync.client.errors import ApiContractError, ForeignHostError
from airflow_provider_apisync.client.records import decode_json
from airflow_provider_apisync.client.response_actions import (
    ActionClient,
    ResponseActionError,
    ResponseActions,
)
from airflow_provider_apisync.client.retry import IDEMPOTENT_METHODS, RETRY_STATUSES
from airflow_provider_apisync.push.batching import ItemResult, item_results
from airflow_provider_apisync.push.idempotency import canonical_json
from airflow_provider_apisync.push.ledger import OK, REJECTED, UNKNOWN, DeadLetters, Ledger
from airflow_provider_apisync.push.reasons import key_text, short_reason
from airflow_provider_apisync.push.writes import Invalid, PushSpec, Write, WriteBuilder

log = logging.getLogger(__name__)

ERROR_LIMIT = 2000  # characters of an item error kept in a dead letter


@dataclass
class Sent:
    """What came back for one write."""

    write: Write
    error: ApiError | None = None
    status: int | None = None
    correlation_id: str | None = None
    items: list[ItemResult] | None = None
    action: str | None = None  # a response action rule matched: skip | dead_letter | fail


@dataclass
class PushCounts:
    """Counters of one try; ``failed`` includes what earlier tries rejected."""

    records: int = 0
    pushed: int = 0
    skipped: int = 0
    failed: int = 0
    rejected: int = 0
    invalid: int = 0
    unknown: int = 0
    filtered: int = 0
    writes: int = 0
    stop_reason: str | None = None
    stop_error: BaseException | None = field(default=None, repr=False)

    @property
    def attempted(self) -> int:
        return self.pushed + self.skipped + self.failed

    def describe(self) -> str:
        """``144 records: 142 pushed, 2 failed (2 rejected)`` — failures counted once."""
        parts = [f"{self.pushed} pushed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (settled by an earlier try)")
        if self.failed:
            parts.append(f"{self.failed} failed ({failure_breakdown(vars(self))})")
        if self.filtered:
            parts.append(f"{self.filtered} filtered by the transform")
        text = f"{self.records} records: " + ", ".join(parts)
        return text + (f"; stopped: {self.stop_reason}" if self.stop_reason else "")


def failure_breakdown(counts: Any) -> str:
    """What ``failed`` is made of: ``2 rejected, 1 invalid`` (earlier tries' as such)."""
    kinds = [(counts.get(k) or 0, label) for k, label in FAILURE_KINDS]
    parts = [f"{n} {label}" for n, label in kinds if n]
    earlier = (counts.get("failed") or 0) - sum(n for n, _ in kinds)
    if earlier > 0:
        parts.append(f"{earlier} by earlier tries")
    return ", ".join(parts) or "none"


FAILURE_KINDS = (
    ("rejected", "rejected by the API"),
    ("invalid", "invalid, not sent"),
    ("unknown", "unconfirmed"),
)


def classify(error: ApiError, replay_safe: bool) -> str:
    """``rejected`` | ``unknown`` | ``abort`` | ``fatal`` for a failed write (see module doc)."""
    if isinstance(error, ForeignHostError) or error.status == 401:
        return "fatal"
    if isinstance(error, ApiTransportError):
        return "abort" if replay_safe or error.never_sent else "unknown"
    status = error.status
    if status is None:
        return "abort" if error.retryable else "fatal"
    if status in RETRY_STATUSES or status == 409 or status >= 500:
        return "abort"
    if 400 <= status < 500:
        return "rejected"
    return "fatal"


class PushRunner:
    """Runs one push try; see the module docstring for the guarantees."""

    def __init__(
        self,
        client: ApiClient,
        spec: PushSpec,
        ledger: Ledger,
        dead_letters: DeadLetters,
        *,
        try_number: int = 1,
        actions: ResponseActions | None = None,
    ) -> None:
        self.client = client
        self.actions = actions if actions is not None else ResponseActions()
        self._sender: Any = ActionClient(client, self.actions) if self.actions else client
        self.spec = spec
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.try_number = try_number
        self.counts = PushCounts()
        self.builder = WriteBuilder(spec, client.url_for)
        self._headers = {"Content-Type": "application/json", **(spec.headers or {})}
        self._replay_safe = spec.method in IDEMPOTENT_METHODS or bool(spec.idempotency_header)

    # -- driving ----------------------------------------------------------------------
    def run(self, records: Iterable[Any]) -> PushCounts:
        """Push ``records``; the ledger is flushed whatever happens."""
        started = time.monotonic()
        try:
            self._run(records)
        finally:
            self.counts.records = self.builder.records
            self.counts.filtered = self.builder.filtered
            self.ledger.flush()
            log.info(
                "push settled %d write(s) in %.1fs: %s",
                self.counts.writes,
                time.monotonic() - started,
                self.counts.describe(),
            )
        return self.counts

    def _run(self, records: Iterable[Any]) -> None:
        limit = self.spec.concurrency
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="apisync-push") as pool:
            pending: set[Future[Sent]] = set()
            for unit in self.builder.writes(records):
                if self.counts.stop_reason:
                    break
                if isinstance(unit, Invalid):
                    self._settle_invalid(unit)
                    continue
                settled = self.ledger.settled(unit.key)
                if settled is not None:
                    self._skip(unit, *settled)
                    continue
                pending.add(pool.submit(self._send, unit))
                if len(pending) >= limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._settle(future.result())
            for future in pending:
                self._settle(future.result())

    # -- sending (worker threads) -----------------------------------------------------
    def _send(self, write: Write) -> Sent:
        spec = self.spec
        try:
            resp = self._sender.request(
                spec.method,
                write.endpoint,
                data=write.body,
                headers=self._headers,
                idempotency_key=write.key if spec.idempotency_header else None,
                idempotency_header=spec.idempotency_header or "Idempotency-Key",
            )
        except ApiError as exc:
            return Sent(write, error=exc, status=exc.status, correlation_id=exc.correlation_id)
        except ResponseActionError as exc:
            error = exc.error or ApiClientError(
                str(exc), status=exc.status, method=spec.method, url=exc.url, body=exc.body
            )
            cid = error.correlation_id
            return Sent(
                write, error=error, status=exc.status, correlation_id=cid, action=exc.action
            )
        correlation_id = resp.request.headers.get(self.client.config.correlation_header)
        items = None
        if spec.batch_size > 1:
            try:
                items = item_results(decode_json(resp), len(write.records), spec.batch_results_path)
            except ApiContractError:
                log.warning(
                    "batch answer is not JSON: all %d items count as accepted", len(write.records)
                )
        return Sent(write, status=resp.status_code, correlation_id=str(correlation_id), items=items)

    # -- settling (calling thread) ----------------------------------------------------
    def _settle(self, sent: Sent) -> None:
        write = sent.write
        counts = self.counts
        if sent.error is None:
            counts.writes += 1
            failed_items = [i for i in (sent.items or []) if not i.ok]
            for item in failed_items:
                self._dead_letter(
                    write.records[item.index],
                    write.keys[item.index],
                    REJECTED,
                    sent,
                    status=item.status,
                    category="item",
                    error=_short_error(item.error),
                )
            counts.pushed += len(write.records) - len(failed_items)
            counts.rejected += len(failed_items)
            counts.failed += len(failed_items)
            self.ledger.record(
                write.key,
                OK,
                records=len(write.records),
                rejected=len(failed_items),
                status=sent.status,
                correlation_id=sent.correlation_id,
            )
            if failed_items and self.spec.on_error == "fail":
                self._stop("rejected", None)
            return
        error = sent.error
        kind = classify(error, self._replay_safe)
        if sent.action is not None:  # a response-action rule decided
            kind = {"skip": OK, "dead_letter": REJECTED}.get(sent.action, "fatal")
        if kind == OK:
            self._settle_skipped(sent)
            return
        if kind in ("abort", "fatal"):
            self._stop(kind, error)
            return
        counts.writes += 1
        for record, key in zip(write.records, write.keys, strict=True):
            self._dead_letter(
                record,
                key,
                kind,
                sent,
                status=error.status,
                category=error.category if kind == REJECTED else "ack_unknown",
                error=error.body or error.message,
            )
        n = len(write.records)
        counts.failed += n
        if kind == REJECTED:
            counts.rejected += n
        else:
            counts.unknown += n
        self.ledger.record(
            write.key,
            REJECTED if kind == REJECTED else UNKNOWN,
            records=n,
            rejected=n,
            status=error.status,
            correlation_id=error.correlation_id,
        )
        if self.spec.on_error == "fail":
            self._stop(kind, error)

    def _settle_skipped(self, sent: Sent) -> None:
        """A ``skip`` rule matched (e.g. 409 "already exists"): settled, not resent."""
        n = len(sent.write.records)
        self.counts.writes += 1
        self.counts.skipped += n
        self.ledger.record(
            sent.write.key, OK, records=n, rejected=0, status=sent.status,
            correlation_id=sent.correlation_id,
        )  # fmt: skip

    def _settle_invalid(self, item: Invalid) -> None:
        settled = self.ledger.settled(item.key)
        if settled is not None:
            self.counts.failed += 1
            return
        self.counts.invalid += 1
        self.counts.failed += 1
        self.dead_letters.add(
            self._letter(
                item.record, item.record_key, "invalid", None, "invalid_record", item.problem
            )
        )
        log.warning(
            "dead letter: record %s not sent (invalid): %s",
            key_text(item.record_key),
            short_reason(item.problem),
        )
        self.ledger.record(item.key, REJECTED, records=1, rejected=1)
        if self.spec.on_error == "fail":
            self._stop("rejected", None)

    def _skip(self, write: Write, outcome: str, records: int, rejected: int) -> None:
        if outcome == OK:
            self.counts.skipped += len(write.records) - rejected
            self.counts.failed += rejected
        else:
            self.counts.failed += len(write.records)

    def _dead_letter(
        self,
        record: dict[str, Any],
        record_key: list[Any],
        outcome: str,
        sent: Sent,
        *,
        status: int | None,
        category: str,
        error: Any,
    ) -> None:
        letter = self._letter(record, record_key, outcome, status, category, error)
        letter["idempotency_key"] = sent.write.key
        letter["correlation_id"] = sent.correlation_id
        letter["endpoint"] = sent.write.endpoint
        self.dead_letters.add(letter)
        verdict = "refused" if outcome == REJECTED else "not confirmed (acknowledgement lost)"
        log.warning(
            "dead letter: record %s %s by %s %s: %s %s (idempotency_key=%s correlation_id=%s)",
            key_text(record_key),
            verdict,
            self.spec.method,
            sent.write.endpoint,
            status if status is not None else category,
            short_reason(error),
            sent.write.key,
            sent.correlation_id,
        )

    def _letter(
        self,
        record: Any,
        record_key: list[Any] | None,
        outcome: str,
        status: int | None,
        category: str,
        error: Any,
    ) -> dict[str, Any]:
        return {
            "outcome": outcome,
            "record_key": record_key,
            "status": status,
            "category": category,
            "error": error,
            "method": self.spec.method,
            "endpoint": self.spec.endpoint,
            "try_number": self.try_number,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "record": record,
        }

    def _stop(self, reason: str, error: BaseException | None) -> None:
        if self.counts.stop_reason is None:
            self.counts.stop_reason = reason
            self.counts.stop_error = error


def _short_error(error: Any) -> Any:
    """Item errors are kept as JSON when small, else as truncated text."""
    if error is None:
        return None
    text = canonical_json(error).decode("utf-8", errors="replace")
    if len(text) <= ERROR_LIMIT:
        return error
    return text[:ERROR_LIMIT] + f"... [{len(text) - ERROR_LIMIT} more chars]"
