"""Dependent pull (fan-out): for each parent record, paginate a child endpoint.

``FanoutJob`` is a :class:`PullJob` whose walk goes over *parents* (any records input a
push accepts: a pull's manifest/XCom, a JSONL URI, a list) instead of one endpoint:

- the child endpoint's ``{field}`` placeholders are filled from each parent with the
  ``client.urls.expand_path`` (values percent-encoded); a parent without the field, or
  whose value would make a dot segment (``.``/``..``), is dead-lettered, never sent;
- up to ``concurrency`` parents are fetched at once by worker threads sharing one
  client, so the connection's rate budget and the server's announced quota pace all
  of them together;
- output is written in parent order: the oldest parent in flight streams its pages to
  the part files while later ones wait with at most ``QUEUE_PAGES`` pages buffered each,
  so memory is ``concurrency x (QUEUE_PAGES + 1)`` pages whatever the number of parents;
- a checkpoint holds how many parents are done and the next page of the current one:
  a task retry re-reads the parents input, skips the completed ones without a request,
  and continues the current parent at its next page. It is saved when a request fails
  (so a retry loses nothing), and on the way after completed parents and pages, at most
  once per ``CHECKPOINT_INTERVAL_S`` (a write per parent would cost more than the
  parent's requests); a killed worker redoes at most that second of work;
- response actions decide per answer: ``skip`` a parent (e.g. 404: deleted since the
  parent pull), ``dead_letter`` it (kept with the error in ``dead_letter/``), ``retry``,
  ``rate_limited`` or ``fail``; all counted in the manifest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.client import ApiClient
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.pagination import paginate
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.client.response_actions import (
    ActionClient,
    ResponseActionError,
    ResponseActions,
)
from airflow_provider_apisync.client.urls import expand_path, placeholders
from airflow_provider_apisync.pull.contracts import RecordContract
from airflow_provider_apisync.pull.incremental import HighWaterTracker
from airflow_provider_apisync.pull.job import Progress, PullJob, PullSpec
from airflow_provider_apisync.pull.output import PartSink
from airflow_provider_apisync.recordio.source import records_source

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath
    from airflow_provider_apisync.runtime.state import CheckpointStore

log = logging.getLogger(__name__)

QUEUE_PAGES = 2  # pages a waiting parent may buffer
CHECKPOINT_INTERVAL_S = 1.0  # at most one routine checkpoint a second (each costs a write)
DEAD_LETTER = "dead_letter"
PROGRESS_EVERY_S = 30.0
_MISSING = object()
_PAGINATION_LOGGER = "airflow_provider_apisync.client.pagination"
_THREAD_PREFIX = "apisync-parent"


def parent_fields(value: Any) -> dict[str, str]:
    """``include_from_parent`` as {output field: parent path}.

    A list of paths names each copy ``_parent_<path>`` (dots become ``_``): ``["id"]``
    adds ``_parent_id`` to every child record; a dict chooses the names:
    ``{"ticket_id": "id"}``.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        pairs = dict(value)
    elif isinstance(value, list | tuple):
        pairs = {"_parent_" + str(path).replace(".", "_"): path for path in value}
    else:
        raise ApiConfigError(
            "include_from_parent",
            f"a {type(value).__name__} is not a field list.",
            'use ["id"] or {"ticket_id": "id"}.',
        )
    for name, path in pairs.items():
        if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
            raise ApiConfigError(
                "include_from_parent", f"{name!r}: {path!r} is not a field name and path."
            )
    return pairs


def child_endpoint(template: str, parent: Any) -> str:
    """The child endpoint for ``parent``; ``ValueError`` says why it cannot be built.

    Placeholders are filled by the ``client.urls.expand_path`` (one implementation of
    quoting and refusals for the whole provider); the dot-segment check on the result
    guards what percent-encoding cannot: ``..`` is a valid segment that climbs a level.
    """
    if not isinstance(parent, Mapping):
        raise ValueError(f"a parent must be a JSON object, got {type(parent).__name__}")
    try:
        endpoint = expand_path(template, parent)
    except KeyError as exc:
        raise ValueError(f"endpoint placeholder {{{exc.args[0]}}} has no value") from None
    path = endpoint.split("?", 1)[0]
    fixed = set(template.split("?", 1)[0].split("/"))
    for segment in path.split("/"):
        if segment in (".", "..") and segment not in fixed:
            raise ValueError(f"a placeholder value makes the dot segment {segment!r}")
    return endpoint


@dataclass
class FanoutProgress(Progress):
    """Pull counters plus the fan-out's position: parents done, current parent's page."""

    parents_done: int = 0  # parents completed, in input order (a retry skips these)
    parents_empty: int = 0
    parents_skipped: int = 0
    parents_dead_lettered: int = 0
    parent_pages: int = 0  # pages of the current parent already written
    actions: dict[str, int] = field(default_factory=dict)
    dead_letter_output: dict[str, Any] | None = None


@dataclass
class _Slot:
    """One parent in flight: its index, record, endpoint (or why none) and page queue."""

    index: int
    parent: Any
    endpoint: str | None
    problem: str | None
    pages: queue.Queue[tuple[str, Any, Any]] = field(
        default_factory=lambda: queue.Queue(QUEUE_PAGES)
    )
    future: Future[None] | None = None
    records_path: str | None = None
    written: int = 0  # pages written by this try


class _QuietWorkers(logging.Filter):
    """Per-parent pagination INFO lines would be 100k lines: the job logs progress instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not (record.threadName or "").startswith(
            _THREAD_PREFIX
        )


class FanoutJob(PullJob):
    """Runs one dependent pull (parents -> child endpoint) into ``folder``."""

    progress_type = FanoutProgress
    progress: FanoutProgress

    def __init__(
        self,
        client: ApiClient,
        spec: PullSpec,
        folder: ObjectStoragePath,
        checkpoints: CheckpointStore,
        *,
        parents: Iterable[Any],
        include_from_parent: Mapping[str, str] | None = None,
        actions: ResponseActions | None = None,
        fingerprint: str,
        contract: RecordContract,
        tracker: HighWaterTracker | None = None,
    ) -> None:
        super().__init__(
            client, spec, folder, checkpoints,
            fingerprint=fingerprint, contract=contract, tracker=tracker,
        )  # fmt: skip
        self.parents = parents
        self.include = dict(include_from_parent or {})
        self.actions = actions if actions is not None else ResponseActions()
        self.fetcher = ActionClient(client, self.actions)
        self.dead_letters = PartSink(folder / DEAD_LETTER, max_bytes=spec.part_size)
        self.records_path = spec.records_path
        self._cancel = threading.Event()
        self._last_report = self._last_save = time.monotonic()

    # -- resume -----------------------------------------------------------------------
    def _restore(self) -> None:
        super()._restore()
        if self.completed is not None:
            return
        saved = self.progress.dead_letter_output
        if self.resumed_from_page is None or not saved:
            self.dead_letters.reset()
        elif self.dead_letters.restore(saved) != "exact":
            log.warning("dead letters written after the last checkpoint were lost")
        if self.progress.actions:
            self.actions.counts.update(self.progress.actions)
        if self.resumed_from_page is not None:
            log.info(
                "fan-out resumes after %d completed parents (next page of the current one: %s)",
                self.progress.parents_done,
                "first" if self.progress.state is None else "saved",
            )

    def _snapshot(self) -> dict[str, Any]:
        self.progress.dead_letter_output = self.dead_letters.snapshot()
        self.progress.actions = self.actions.summary()
        return super()._snapshot()

    def _save(self) -> None:
        self.dead_letters.flush()
        super()._save()
        self._last_save = time.monotonic()

    def _save_due(self) -> None:
        if time.monotonic() - self._last_save >= CHECKPOINT_INTERVAL_S:
            self._save()

    # -- the walk ---------------------------------------------------------------------
    def _walk(self) -> None:
        progress = self.progress
        parents = iter(self.parents)
        for _ in range(progress.parents_done):  # completed by an earlier try: no request
            if next(parents, _MISSING) is _MISSING:
                break
        quiet = _QuietWorkers()
        logging.getLogger(_PAGINATION_LOGGER).addFilter(quiet)
        window: deque[_Slot] = deque()
        pool = ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix=_THREAD_PREFIX)
        try:
            start = index = progress.parents_done
            resume_state = progress.state
            while True:
                detecting = self.records_path is None and index - start < 3
                limit = 1 if detecting else self.spec.concurrency
                while len(window) < limit:
                    parent = next(parents, _MISSING)
                    if parent is _MISSING:
                        break
                    state = resume_state if index == start else None
                    window.append(self._dispatch(pool, index, parent, state))
                    index += 1
                if not window:
                    break
                self._consume(window.popleft())
        except BaseException:
            self._save_on_failure()
            raise
        finally:
            self._cancel.set()
            for slot in window:
                _drain(slot)
            pool.shutdown(wait=True, cancel_futures=True)
            logging.getLogger(_PAGINATION_LOGGER).removeFilter(quiet)
        progress.done = True
        progress.state = None
        self.sink.close()
        self.dead_letters.close()
        self._save()
        self._report(force=True)

    def _dispatch(self, pool: ThreadPoolExecutor, index: int, parent: Any, state: Any) -> _Slot:
        try:
            endpoint, problem = child_endpoint(self.spec.endpoint, parent), None
        except ValueError as exc:
            endpoint, problem = None, str(exc)
        slot = _Slot(index, parent, endpoint, problem)
        if endpoint is not None:
            slot.future = pool.submit(self._fetch, slot, state)
        return slot

    def _fetch(self, slot: _Slot, state: Any) -> None:
        """Worker thread: page through one parent's children into its bounded queue."""
        assert slot.endpoint is not None
        spec = self.spec
        try:
            pages = paginate(
                self.fetcher,  # an ApiClient with response actions
                slot.endpoint,
                paginator=spec.paginator,
                records_path=self.records_path,
                params=spec.params,
                headers=spec.headers,
                max_pages=spec.max_pages,
                max_records=spec.max_records,
                state=state,
            )
            try:
                for page in pages:
                    if not self._put(slot, ("page", page.records, page.state)):
                        return
                slot.records_path = pages.records_path
                self._put(slot, ("done", pages.fetched, pages.truncated))
            finally:
                pages.close()
        except BaseException as exc:  # handed to the writer thread, which decides
            self._put(slot, ("error", exc, None))

    def _put(self, slot: _Slot, item: tuple[str, Any, Any]) -> bool:
        while not self._cancel.is_set():
            try:
                slot.pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _consume(self, slot: _Slot) -> None:
        """Writer thread: write the oldest parent's pages in order, then checkpoint."""
        progress = self.progress
        if slot.endpoint is None:
            self._dead_letter(slot, {"category": "invalid_parent", "message": slot.problem})
            progress.parents_dead_lettered += 1
            self._finish_parent()
            return
        while True:
            kind, first, second = slot.pages.get()
            if kind == "page":
                self._write(slot, first)
                slot.written += 1
                progress.parent_pages += 1
                progress.state = second
                if second is not None and progress.parent_pages % self.spec.checkpoint_every == 0:
                    self._save_due()
                continue
            if kind == "done":
                if self.records_path is None and slot.records_path is not None:
                    self.records_path = slot.records_path  # detected once, reused by all
                    log.info("records_path detected: %r (parent %d)", self.records_path, slot.index)
                if progress.parent_pages == 0:
                    progress.parents_empty += 1
                progress.pages += max(first - slot.written, 0)  # empty pages count too
                progress.truncated = progress.truncated or bool(second)
                break
            error = first
            if isinstance(error, ResponseActionError) and error.action == "skip":
                progress.parents_skipped += 1
                log.debug("parent %d skipped: %s", slot.index, error)
                break
            if isinstance(error, ResponseActionError) and error.action == "dead_letter":
                self._dead_letter(slot, error.to_dict())
                progress.parents_dead_lettered += 1
                break
            if isinstance(error, ResponseActionError):  # fail, or retries ran out
                log.error("parent %d (%s): %s", slot.index, slot.endpoint, error)
                raise error.error if error.error is not None else error
            raise error
        self._finish_parent()

    def _write(self, slot: _Slot, records: list[Any]) -> None:
        if self.include:
            extra = {name: get_path(slot.parent, path) for name, path in self.include.items()}
            records = [{**r, **extra} if isinstance(r, dict) else r for r in records]
        self._write_page(records, self.progress.pages + 1)

    def _finish_parent(self) -> None:
        progress = self.progress
        progress.parents_done += 1
        progress.parent_pages = 0
        progress.state = None
        if progress.parents_done % self.spec.checkpoint_every == 0:
            self._save_due()
        self._report()

    def _save_on_failure(self) -> None:
        """Everything written so far is consistent (one writer thread): keep it."""
        try:
            self._save()
        except Exception:
            log.warning("could not save the checkpoint after the failure", exc_info=True)

    def _dead_letter(self, slot: _Slot, error: dict[str, Any]) -> None:
        if self.dead_letters.will_roll():
            (self.folder / DEAD_LETTER).mkdir(parents=True, exist_ok=True)
        row = {"parent_index": slot.index, "parent": slot.parent, "endpoint": slot.endpoint,
               "error": error}  # fmt: skip
        self.dead_letters.write([row])

    def _report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_EVERY_S:
            return
        self._last_report = now
        p = self.progress
        log.info(
            "fan-out: %d parents done (%d empty, %d skipped, %d dead-lettered), "
            "%d pages, %d records",
            p.parents_done, p.parents_empty, p.parents_skipped, p.parents_dead_lettered,
            p.pages, p.records,
        )  # fmt: skip

    # -- the result -------------------------------------------------------------------
    def _manifest(self, duration: float) -> dict[str, Any]:
        manifest = super()._manifest(duration)
        p = self.progress
        base = str(self.folder).rstrip("/")
        dead = [f"{base}/{DEAD_LETTER}/{part['name']}" for part in self.dead_letters.parts]
        manifest.update(
            {
                "parents": p.parents_done,
                "parents_empty": p.parents_empty,
                "parents_skipped": p.parents_skipped,
                "parents_dead_lettered": p.parents_dead_lettered,
                "dead_letter": f"{base}/{DEAD_LETTER}" if dead else None,
                "dead_letter_files": dead,
                "response_actions": self.actions.summary(),
            }
        )
        return manifest


def _drain(slot: _Slot) -> None:
    """Free a worker blocked on a full queue while the job stops."""
    try:
        while True:
            slot.pages.get_nowait()
    except queue.Empty:
        pass


def fanout_fingerprint(base: str, parents: Any, include: Mapping[str, str]) -> str:
    """The pull's fingerprint extended by the parents input and the copied fields."""
    from airflow_provider_apisync.runtime.state import fingerprint  # Airflow-bound module

    where = parents.describe() if hasattr(parents, "describe") else repr(parents)
    return fingerprint(base, where, sorted(include.items()))


def check_fanout_args(
    endpoint: str, parents: Any, include: Mapping[str, str], actions: ResponseActions
) -> None:
    """DAG-parse-time checks of the dependent-pull arguments (errors name the field)."""
    if parents is None:
        if include:
            raise ApiConfigError(
                "include_from_parent", "needs parents.", "set parents=<the parent records>."
            )
        per_item = sorted(actions.actions() & {"skip", "dead_letter"})
        if per_item:
            raise ApiConfigError(
                "response_actions",
                f"{per_item} act on one parent of a dependent pull; a plain pull has none.",
                "use retry, rate_limited or fail here, or set parents=.",
            )
        return
    if "{{" not in endpoint and not placeholders(endpoint):
        raise ApiConfigError(
            "endpoint",
            f"{endpoint!r} has no {{field}} placeholder for the parent.",
            "write the child endpoint with one, e.g. /tickets/{id}/comments.",
        )


def build_job(
    client: ApiClient,
    spec: PullSpec,
    folder: ObjectStoragePath,
    checkpoints: CheckpointStore,
    *,
    fingerprint: str,
    contract: RecordContract,
    tracker: HighWaterTracker | None,
    parents: Any,
    include_from_parent: Mapping[str, str],
    actions: ResponseActions,
) -> PullJob:
    """A :class:`FanoutJob` when ``parents`` is set, else a plain :class:`PullJob`."""
    if parents is None:
        fetcher: Any = ActionClient(client, actions) if actions else client
        return PullJob(
            fetcher, spec, folder, checkpoints,
            fingerprint=fingerprint, contract=contract, tracker=tracker,
        )  # fmt: skip
    source = records_source(parents, field="parents")
    return FanoutJob(
        client, spec, folder, checkpoints,
        parents=source, include_from_parent=include_from_parent, actions=actions,
        fingerprint=fanout_fingerprint(fingerprint, source, include_from_parent),
        contract=contract, tracker=tracker,
    )  # fmt: skip
