"""``ApiBulkJobOperator``: run an asynchronous bulk job and land its results as JSONL.

The shape of Salesforce Bulk API 2.0 (create -> upload CSV -> ``UploadComplete`` ->
``InProgress`` -> ``JobComplete``/``Failed``/``Aborted``; results paged by ``locator``) and of
HubSpot exports (``PENDING`` -> ``PROCESSING`` -> ``COMPLETE``/``CANCELED``; result file URLs
in the status body), configured by endpoints and dotted paths rather than vendor code.

Waiting is where the time goes, so it is cheap: ``deferrable=True`` releases the worker
between polls (a ``DateTimeTrigger``, like the sensors: no HTTP and no secret in the
triggerer) and resumes in :meth:`execute_complete`, which polls again. The job id, poll
count and progress live in the task state store (``_job.json`` next to the output before
Airflow 3.3), so resumes need no ``defer()`` kwargs and a retried task reuses its job.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.bulk import formats as fmt
from airflow_provider_apisync.bulk import state as st
from airflow_provider_apisync.bulk.job import BulkJobRun
from airflow_provider_apisync.bulk.spec import (
    BULK_RENAMED,
    BulkJobTimeout,
    BulkPolling,
    BulkResults,
    BulkSpec,
    BulkStates,
    BulkUpload,
    needs_job_id,
    number,
    seconds,
)
from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.compat import AirflowFailException, BaseOperator
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.operators.lineage import (
    Dataset,
    attach_to_outlets,
    manifest_lineage,
    openlineage_facets,
)
from airflow_provider_apisync.runtime.deferral import defer_until, iso, resolve_deferrable
from airflow_provider_apisync.runtime.errors import failing_fast
from airflow_provider_apisync.runtime.folders import run_folder, storage_path
from airflow_provider_apisync.runtime.state import fingerprint as fingerprint_of
from airflow_provider_apisync.runtime.state import try_number
from airflow_provider_apisync.runtime.summary import log_summary
from airflow_provider_apisync.vocabulary import RENAMED, Vocabulary

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import Context

EVENT_KEYS = ("uri", "records", "pages", "requests", "job_id", "job_state", "duration_s", "files")


class ApiBulkJobOperator(Vocabulary, BaseOperator):
    """Create a bulk job, upload data, wait for it, write its results; return a manifest.

    :param create_endpoint: POST here (JSON ``create_body``) to create the job (templated).
    :param status_endpoint: GET the job's status, with ``{job_id}`` (templated).
    :param job_id_path: dotted path of the job id in the create response.
    :param status_path: dotted path of the state in status responses.
    :param states: :class:`BulkStates` -- which states are success, failure, running.
    :param upload: :class:`BulkUpload` -- records to upload in chunks, and closing the
        upload; None for jobs without an upload (queries, exports).
    :param results: :class:`BulkResults` -- where the results are and their format; None:
        the job has no results to download.
    :param polling: :class:`BulkPolling` -- poll interval, backoff, cap and timeout.
    :param csv_delimiter: the delimiter of CSV uploads and CSV results.
    :param output: folder URI for the JSONL parts (templated); default under the Airflow home.
    :param part_size: bytes per part file before a new one starts.
    :param headers: extra headers on every request of the job (templated).
    :param idempotency_header: send a per-try key with the create request (lets the client
        retry it safely on APIs that honour such a header).
    :param deferrable: wait in the triggerer between polls (default: Airflow's
        ``[operators] default_deferrable``); otherwise sleep in the worker.
    """

    template_fields: Sequence[str] = (
        "create_endpoint",
        "create_body",
        "status_endpoint",
        "upload",
        "results",
        "headers",
        "output_uri",
    )
    template_fields_renderers = {"create_body": "json", "headers": "json"}
    ui_color = "#e4f1dc"
    renamed = {**RENAMED, **BULK_RENAMED}
    query_argument = "results=BulkResults(query=...)"

    def __init__(
        self,
        *,
        create_endpoint: str,
        status_endpoint: str,
        apisync_conn_id: str = ApiSyncHook.default_conn_name,
        create_body: Any = None,
        job_id_path: str = "id",
        status_path: str = "state",
        states: BulkStates | None = None,
        upload: BulkUpload | None = None,
        results: BulkResults | None = None,
        polling: BulkPolling | None = None,
        csv_delimiter: str = ",",
        output: str | None = None,
        part_size: int = 64 * 1024 * 1024,
        headers: Mapping[str, str] | None = None,
        idempotency_header: str | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(create_endpoint, str) or not create_endpoint:
            raise ApiConfigError("create_endpoint", "is empty.", "give e.g. '/jobs/ingest'.")
        needs_job_id("status_endpoint", status_endpoint)
        self.create_endpoint = create_endpoint
        self.create_body = create_body
        self.status_endpoint = status_endpoint
        self.apisync_conn_id = apisync_conn_id
        self.job_id_path = job_id_path
        self.status_path = status_path
        self.states = _spec_arg("states", states, BulkStates)
        self.upload = None if upload is None else _spec_arg("upload", upload, BulkUpload)
        self.results = _spec_arg("results", results, BulkResults)
        self.polling = _spec_arg("polling", polling, BulkPolling)
        if not isinstance(csv_delimiter, str) or len(csv_delimiter) != 1:
            raise ApiConfigError("csv_delimiter", f"must be one character, got {csv_delimiter!r}.")
        self.csv_delimiter = csv_delimiter
        self.output_uri = output  # BaseOperator.output is the XComArg of the result
        self.part_size = int(number("part_size", part_size, minimum=1))
        self.headers = dict(headers) if headers else None
        self.idempotency_header = idempotency_header
        self.deferrable = resolve_deferrable(deferrable)
        self._lineage: tuple[list[Dataset], list[Dataset]] | None = None

    # -- entry points -----------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        return self._guarded(context, resumed=False)

    def execute_complete(self, context: Context, event: Any = None, **_: Any) -> Any:
        """Resume after a deferral: poll again (state comes from the store, not kwargs)."""
        return self._guarded(context, resumed=True)

    def _guarded(self, context: Context, *, resumed: bool) -> Any:
        with failing_fast():
            return self._run(context, resumed=resumed)

    # -- one execute or resume ---------------------------------------------------------
    def _spec(self) -> BulkSpec:
        """The rendered configuration, flat, as the job engine reads it."""
        up, res, st_ = self.upload, self.results, self.states
        return BulkSpec(
            create_endpoint=self.create_endpoint,
            create_body=self.create_body,
            status_endpoint=self.status_endpoint,
            job_id_path=self.job_id_path,
            status_path=self.status_path,
            success_states=tuple(st_.success),
            failure_states=tuple(st_.failure),
            running_states=None if st_.running is None else tuple(st_.running),
            error_path=st_.error_path,
            headers=self.headers,
            upload=up.records if up else None,
            upload_endpoint=up.endpoint if up else None,
            upload_method=up.method if up else "PUT",
            upload_format=up.format if up else "csv",
            upload_columns=list(up.columns) if up and up.columns else None,
            upload_chunk_records=up.chunk_records if up else None,
            upload_chunk_bytes=up.chunk_bytes if up else None,
            complete_endpoint=up.complete_endpoint if up else None,
            complete_method=up.complete_method if up else "PATCH",
            complete_body=up.complete_body if up else None,
            result_mode=str(res.mode),
            results_endpoint=res.endpoint,
            results_params=dict(res.query) if res.query else None,
            locator_param=res.locator_param,
            locator_header=res.locator_header,
            result_urls_path=res.urls_path,
            result_format=res.format,
            records_path=res.records_path,
            csv_delimiter=self.csv_delimiter,
            part_size=self.part_size,
            idempotency_header=self.idempotency_header,
        )

    def _run(self, context: Context, *, resumed: bool) -> Any:
        now = time.time()
        uri = self.output_uri
        folder = storage_path(uri, field="output") if uri else run_folder(context)
        folder.mkdir(parents=True, exist_ok=True)
        spec = self._spec()
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        fingerprint = fingerprint_of(spec.identity(), str(folder), context.get("run_id"), map_index)
        store = st.job_store(context, folder)
        record = st.load_record(store, fingerprint)
        if resumed:
            if record is None or record.job_id is None:
                raise AirflowFailException(
                    f"resumed after a deferral, but the bulk job's state is missing from "
                    f"{store.kind}: cannot tell which job to follow. Clear the task to start "
                    "a new job."
                )
        else:
            record = self._start_try(record, fingerprint, now, try_number(context))
        hook = ApiSyncHook(self.apisync_conn_id)
        client = hook.client
        run = BulkJobRun(client, spec, store, folder, record)
        try:
            if record.job_id is None:
                run.create(self._idempotency_key(context, fingerprint))
            if record.phase == st.CREATED:
                run.upload()
                record.phase = st.UPLOADED
                run.save()
            if record.phase == st.UPLOADED:
                run.complete(check_first=record.reused)
            return self._wait(run, context)
        except Exception:
            with contextlib.suppress(Exception):  # keep the counters of this try
                run.save()
            raise
        finally:
            client.close()

    def _start_try(
        self, record: st.JobRecord | None, fingerprint: str, now: float, try_number: int | None
    ) -> st.JobRecord:
        if record is not None and record.phase == st.FAILED:
            self.log.info(
                "bulk job %s of an earlier try ended in state %s: starting a new job",
                record.job_id,
                record.job_state,
            )
            record = None
        if record is not None and record.job_id is not None:
            self.log.info(
                "reusing bulk job %s from an earlier try (phase %s, state %s, %d polls)",
                record.job_id,
                record.phase,
                record.job_state,
                record.polls,
            )
            record.reused = True
        if record is None:
            record = st.JobRecord(fingerprint=fingerprint)
        record.try_number = try_number
        record.try_started = now
        return record

    def _idempotency_key(self, context: Context, fingerprint: str) -> str:
        ti = context["ti"]
        raw = "|".join(
            str(x)
            for x in (ti.dag_id, ti.task_id, context.get("run_id"), fingerprint, ti.try_number)
        )
        return "apisync-bulk-" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    # -- waiting ----------------------------------------------------------------------
    def _wait(self, run: BulkJobRun, context: Context) -> Any:
        record = run.record
        while True:
            state, body = run.status()
            record.polls += 1
            if state != record.job_state:
                self.log.info("bulk job %s: state %s (poll %d)", run.job_id, state, record.polls)
            record.job_state = state
            kind = run.spec.classify(state)
            if kind == "success":
                record.phase = st.DOWNLOADING
                run.save()
                return self._finish(run, body, context)
            if kind == "failure":
                record.phase = st.FAILED
                run.save()
                reason = (
                    fmt.job_error(body, self.states.error_path) or "the API gave no error message"
                )
                raise AirflowFailException(
                    f"bulk job {run.job_id} ended in state {state}: {reason}"
                )
            run.save()
            if kind == "unknown":
                raise ApiContractError(
                    f"bulk job {run.job_id} is in state '{state}', which is in none of "
                    "BulkStates success, failure and running. Fix: add it to one."
                )
            self._pause(run)

    def _pause(self, run: BulkJobRun) -> None:
        """Wait before the next poll: defer (no worker slot) or sleep (in the worker)."""
        record, poll = run.record, self.polling
        timeout_s = seconds("polling.timeout", poll.timeout)
        now = time.time()
        remaining = timeout_s - (now - record.try_started)
        if remaining <= 0:
            raise BulkJobTimeout(
                f"bulk job {run.job_id} is still {record.job_state} after "
                f"{now - record.try_started:.0f}s and {record.polls} polls (timeout "
                f"{timeout_s:.0f}s). A retry of this task keeps waiting for the same job."
            )
        first, cap = seconds("interval", poll.interval), seconds("cap", poll.max_interval)
        wait = min(first * poll.backoff ** max(record.polls - 1, 0), cap, remaining)
        if not self.deferrable:
            self.log.info("bulk job %s: %s, next poll in %.1fs", run.job_id, record.job_state, wait)
            time.sleep(wait)
            return
        self.log.info(
            "bulk job %s: %s, deferring %.1fs until %s (poll %d)",
            run.job_id,
            record.job_state,
            wait,
            iso(now + wait),
            record.polls,
        )
        defer_until(self, now + wait, remaining)

    # -- the result -------------------------------------------------------------------
    def _finish(self, run: BulkJobRun, status_body: Any, context: Context) -> dict[str, Any]:
        record = run.record
        extra = {
            "duration_s": round(time.time() - record.try_started, 3),
            "job_reused": record.reused,
        }
        manifest = run.download(status_body, extra)
        try:
            run.store.clear()
        except Exception as exc:  # the output is complete; a stale record only costs a poll
            self.log.warning("could not clear the bulk job state: %s", exc)
        attach_to_outlets(context, self.outlets, manifest, EVENT_KEYS)
        self._lineage = manifest_lineage(run.client.base_url, self.create_endpoint, manifest)
        log_summary(self.log, self.task_id, {k: v for k, v in manifest.items() if k != "parts"})
        return manifest

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: input = the job's API endpoint, outputs = the part files."""
        if self._lineage is None:
            return None
        return openlineage_facets(*self._lineage)


def _spec_arg(name: str, value: Any, kind: type) -> Any:
    """``value`` if it is a ``kind`` (the default ``kind()`` for None), else a clear error."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise ApiConfigError(
            name, f"must be a {kind.__name__}(...) object, got {type(value).__name__}."
        )
    return value
