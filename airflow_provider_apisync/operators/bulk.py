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
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.bulk import formats as fmt
from airflow_provider_apisync.bulk.job import BulkJobRun
from airflow_provider_apisync.bulk.spec import (
    FAILURE_STATES,
    SUCCESS_STATES,
    BulkJobTimeout,
    BulkSpec,
    default_deferrable,
    infer_result_mode,
    needs_job_id,
    number,
    seconds,
    states,
)
from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.compat import BaseOperator
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.operators import bulk_state as st
from airflow_provider_apisync.operators._common import (
    AirflowFailException,
    fail_fast,
    log_summary,
    run_folder,
    storage_path,
)
from airflow_provider_apisync.operators.lineage import (
    Dataset,
    attach_to_outlets,
    manifest_lineage,
    openlineage_facets,
)

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import Context

DEFERRAL_GRACE_S = 60.0
EVENT_KEYS = ("uri", "records", "pages", "requests", "job_id", "job_state", "duration_s", "files")


class ApiBulkJobOperator(BaseOperator):
    """Create a bulk job, upload data, wait for it, write its results; return a manifest.

    :param create_endpoint: POST here (JSON ``create_body``) to create the job (templated).
    :param status_endpoint: GET the job's status, with ``{job_id}`` (templated).
    :param job_id_path: dotted path of the job id in the create response.
    :param status_path: dotted path of the state in status responses.
    :param success_states / failure_states: terminal states (case-insensitive); anything
        else means "still running", unless ``running_states`` lists the running ones, in
        which case an unlisted state fails fast instead of being polled until ``timeout``.
    :param error_path: where a failed job's reason is (default: ``errorMessage``,
        ``errors.0.message``, ``error.message``, ``error``).
    :param upload: what to upload (templated): a JSONL file URI, a pull's output folder or
        manifest (its XCom), or a list of dicts -- read by the push's ``records_source``.
    :param upload_endpoint: where chunks go (``upload_method``, default PUT), with ``{job_id}``.
    :param upload_format: ``csv`` (header row per chunk; Salesforce) or ``jsonl``.
    :param upload_columns: CSV columns; default: the first record's keys.
    :param upload_chunk_records / upload_chunk_bytes: chunk bounds (None: unbounded);
        memory holds one chunk.
    :param complete_endpoint: called with ``complete_method``/``complete_body`` after the
        upload (Salesforce: PATCH ``{"state": "UploadComplete"}``); None to skip.
    :param result_mode: ``locator`` (GET ``results_endpoint`` + ``results_params``, then
        again with ``locator_param`` = the ``locator_header`` value until it is missing or
        ``null``), ``urls`` (download every URL at ``result_urls_path`` of the final status;
        other hosts must be in the connection's ``allowed_hosts``) or ``none``. Default:
        inferred from which of ``results_endpoint``/``result_urls_path`` is set.
    :param result_format: ``auto`` (by Content-Type or file extension), ``csv``, ``jsonl``
        or ``json`` (``records_path`` selects the list). CSV values stay strings.
    :param output: folder URI for the JSONL parts (templated); default under the Airflow home.
    :param deferrable: wait in the triggerer between polls (default: Airflow's
        ``[operators] default_deferrable``); otherwise sleep in the worker.
    :param poll_interval / poll_backoff / max_poll_interval: first wait (s), growth factor
        per poll, cap.
    :param timeout: longest wait per try (seconds or timedelta) before
        :class:`BulkJobTimeout`; a retry keeps waiting for the same job.
    :param idempotency_header: send a per-try key with the create request (lets the client
        retry it safely on APIs that honour such a header).
    """

    template_fields: Sequence[str] = (
        "create_endpoint",
        "create_body",
        "status_endpoint",
        "upload",
        "upload_endpoint",
        "complete_endpoint",
        "complete_body",
        "results_endpoint",
        "results_params",
        "result_urls_path",
        "headers",
        "output_uri",
    )
    template_fields_renderers = {
        "create_body": "json",
        "complete_body": "json",
        "results_params": "json",
        "headers": "json",
    }
    ui_color = "#e4f1dc"

    def __init__(
        self,
        *,
        create_endpoint: str,
        status_endpoint: str,
        apisync_conn_id: str = ApiSyncHook.default_conn_name,
        create_body: Any = None,
        job_id_path: str = "id",
        status_path: str = "state",
        success_states: Sequence[str] = SUCCESS_STATES,
        failure_states: Sequence[str] = FAILURE_STATES,
        running_states: Sequence[str] | None = None,
        error_path: str | None = None,
        upload: Any = None,
        upload_endpoint: str | None = None,
        upload_method: str = "PUT",
        upload_format: str = "csv",
        upload_columns: Sequence[str] | None = None,
        upload_chunk_records: int | None = 10_000,
        upload_chunk_bytes: int | None = 50 * 1024 * 1024,
        complete_endpoint: str | None = None,
        complete_method: str = "PATCH",
        complete_body: Any = None,
        result_mode: str | None = None,
        results_endpoint: str | None = None,
        results_params: Mapping[str, Any] | None = None,
        locator_param: str = "locator",
        locator_header: str = "Sforce-Locator",
        result_urls_path: str | None = None,
        result_format: str = "auto",
        records_path: str | None = None,
        csv_delimiter: str = ",",
        output: str | None = None,
        part_size: int = 64 * 1024 * 1024,
        headers: Mapping[str, str] | None = None,
        idempotency_header: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        poll_backoff: float = 1.5,
        max_poll_interval: float = 60.0,
        timeout: float | timedelta = timedelta(hours=24),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(create_endpoint, str) or not create_endpoint:
            raise ApiConfigError("create_endpoint", "is empty.", "give e.g. '/jobs/ingest'.")
        needs_job_id("status_endpoint", status_endpoint)
        needs_job_id("upload_endpoint", upload_endpoint)
        needs_job_id("complete_endpoint", complete_endpoint)
        needs_job_id("results_endpoint", results_endpoint)
        self.create_endpoint = create_endpoint
        self.create_body = create_body
        self.status_endpoint = status_endpoint
        self.apisync_conn_id = apisync_conn_id
        self.job_id_path = job_id_path
        self.status_path = status_path
        self.success_states = states("success_states", success_states)
        self.failure_states = states("failure_states", failure_states)
        overlap = {s.casefold() for s in self.success_states} & {
            s.casefold() for s in self.failure_states
        }
        if overlap:
            raise ApiConfigError(
                "failure_states", f"shares {sorted(overlap)} with success_states.", ""
            )
        self.running_states = (
            None if running_states is None else states("running_states", running_states)
        )
        self.error_path = error_path
        if upload is not None and upload_endpoint is None:
            raise ApiConfigError(
                "upload_endpoint",
                "is required when upload is set.",
                "e.g. '/jobs/ingest/{job_id}/batches'.",
            )
        self.upload = upload
        self.upload_endpoint = upload_endpoint
        if upload_method.upper() not in ("PUT", "POST", "PATCH"):
            raise ApiConfigError("upload_method", f"'{upload_method}' is not PUT, POST or PATCH.")
        self.upload_method = upload_method.upper()
        if upload_format not in fmt.UPLOAD_FORMATS:
            raise ApiConfigError("upload_format", f"'{upload_format}' is not 'csv' or 'jsonl'.")
        self.upload_format = upload_format
        self.upload_columns = list(upload_columns) if upload_columns else None
        self.upload_chunk_records = number(
            "upload_chunk_records", upload_chunk_records, minimum=1, allow_none=True
        )
        self.upload_chunk_bytes = number(
            "upload_chunk_bytes", upload_chunk_bytes, minimum=1, allow_none=True
        )
        self.complete_endpoint = complete_endpoint
        self.complete_method = complete_method.upper()
        self.complete_body = (
            complete_body if complete_body is not None else {"state": "UploadComplete"}
        )
        self.result_mode = infer_result_mode(result_mode, results_endpoint, result_urls_path)
        self.results_endpoint = results_endpoint
        self.results_params = dict(results_params) if results_params else None
        self.locator_param = locator_param
        self.locator_header = locator_header
        self.result_urls_path = result_urls_path
        if result_format not in fmt.RESULT_FORMATS:
            raise ApiConfigError("result_format", f"'{result_format}' is not {fmt.RESULT_FORMATS}.")
        self.result_format = result_format
        self.records_path = records_path
        if not isinstance(csv_delimiter, str) or len(csv_delimiter) != 1:
            raise ApiConfigError("csv_delimiter", f"must be one character, got {csv_delimiter!r}.")
        self.csv_delimiter = csv_delimiter
        self.output_uri = output  # BaseOperator.output is the XComArg of the result
        self.part_size = int(number("part_size", part_size, minimum=1))
        self.headers = dict(headers) if headers else None
        self.idempotency_header = idempotency_header
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)
        self.poll_interval = seconds("poll_interval", poll_interval)
        self.poll_backoff = float(number("poll_backoff", poll_backoff, minimum=1))
        self.max_poll_interval = seconds("max_poll_interval", max_poll_interval)
        if self.max_poll_interval < self.poll_interval:
            raise ApiConfigError("max_poll_interval", "is shorter than poll_interval.")
        self.timeout_s = seconds("timeout", timeout)
        self._lineage: tuple[list[Dataset], list[Dataset]] | None = None

    # -- entry points -----------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        return self._guarded(context, resumed=False)

    def execute_complete(self, context: Context, event: Any = None, **_: Any) -> Any:
        """Resume after a deferral: poll again (state comes from the store, not kwargs)."""
        return self._guarded(context, resumed=True)

    def _guarded(self, context: Context, *, resumed: bool) -> Any:
        try:
            return self._run(context, resumed=resumed)
        except Exception as exc:
            mapped = fail_fast(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    # -- one execute or resume ---------------------------------------------------------
    def _spec(self) -> BulkSpec:
        """The rendered configuration (operator attributes share the field names)."""
        return BulkSpec(**{f.name: getattr(self, f.name) for f in fields(BulkSpec)})

    def _run(self, context: Context, *, resumed: bool) -> Any:
        now = time.time()
        uri = self.output_uri
        folder = storage_path(uri, field="output") if uri else run_folder(context)
        folder.mkdir(parents=True, exist_ok=True)
        spec = self._spec()
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        fingerprint = st.fingerprint(spec.identity(), str(folder), context.get("run_id"), map_index)
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
            record = self._start_try(record, fingerprint, now, _trynumber(context))
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
                reason = fmt.job_error(body, self.error_path) or "the API gave no error message"
                raise AirflowFailException(
                    f"bulk job {run.job_id} ended in state {state}: {reason}"
                )
            run.save()
            if kind == "unknown":
                raise ApiContractError(
                    f"bulk job {run.job_id} is in state '{state}', which is in none of "
                    "success_states, failure_states and running_states. Fix: add it to one."
                )
            self._pause(run)

    def _pause(self, run: BulkJobRun) -> None:
        """Wait before the next poll: defer (no worker slot) or sleep (in the worker)."""
        record = run.record
        now = time.time()
        remaining = self.timeout_s - (now - record.try_started)
        if remaining <= 0:
            raise BulkJobTimeout(
                f"bulk job {run.job_id} is still {record.job_state} after "
                f"{now - record.try_started:.0f}s and {record.polls} polls (timeout "
                f"{self.timeout_s:.0f}s). A retry of this task keeps waiting for the same job."
            )
        interval = self.poll_interval * self.poll_backoff ** max(record.polls - 1, 0)
        wait = min(interval, self.max_poll_interval, remaining)
        moment = datetime.fromtimestamp(now + wait, tz=timezone.utc)
        if not self.deferrable:
            self.log.info("bulk job %s: %s, next poll in %.1fs", run.job_id, record.job_state, wait)
            time.sleep(wait)
            return
        from airflow_provider_apisync.compat import DateTimeTrigger

        self.log.info(
            "bulk job %s: %s, deferring %.1fs until %s (poll %d)",
            run.job_id,
            record.job_state,
            wait,
            moment.isoformat(timespec="seconds"),
            record.polls,
        )
        self.defer(
            trigger=DateTimeTrigger(moment=moment),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining + DEFERRAL_GRACE_S),
        )

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


def _trynumber(context: Context) -> int | None:
    number = getattr(context.get("ti"), "try_number", None)  # type: ignore[attr-defined]
    return number if isinstance(number, int) else None
