"""One bulk job against an API: create, upload, mark complete, poll, download results.

Kept apart from the operator (which decides *when*: now, after a sleep, or after a
deferral) so each step reads top to bottom. Every step records its progress in the
:class:`JobRecord` and saves it before the next request, so a retried task reuses the
job, skips chunks already uploaded and resumes the download at the last finished page
or file. Results go through the pull's :class:`PartSink`: same part files, same manifest.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from airflow_provider_apisync.bulk import formats as fmt
from airflow_provider_apisync.bulk.spec import BulkSpec
from airflow_provider_apisync.client.client import ApiClient
from airflow_provider_apisync.client.errors import (
    ApiContractError,
    ApiTransportError,
    PaginationLoopError,
)
from airflow_provider_apisync.client.records import (
    decode_json,
    find_records_path,
    get_path,
    select_records,
)
from airflow_provider_apisync.client.urls import redact_url
from airflow_provider_apisync.pull.output import MANIFEST, PartSink
from airflow_provider_apisync.recordio.source import records_source

if TYPE_CHECKING:
    from airflow_provider_apisync.bulk import state as st
    from airflow_provider_apisync.compat import ObjectStoragePath
    from airflow_provider_apisync.runtime.state import CheckpointStore

log = logging.getLogger(__name__)

BATCH = 1000  # records handed to the part writer at a time
READ_CHUNK = 64 * 1024
COUNTERS = ("requests", "retries", "throttled")
#: Result downloads accept what they can parse (the session's default is JSON only).
RESULT_ACCEPT = "text/csv, application/x-ndjson, application/json;q=0.9, */*;q=0.5"


class BulkJobRun:
    """The job steps for one execute/resume; saves the record after every step."""

    def __init__(
        self,
        client: ApiClient,
        spec: BulkSpec,
        store: CheckpointStore,
        folder: ObjectStoragePath,
        record: st.JobRecord,
    ) -> None:
        self.client = client
        self.spec = spec
        self.store = store
        self.folder = folder
        self.record = record
        self._base = {k: int(record.counters.get(k, 0)) for k in COUNTERS}
        self.resumed_download = False

    # -- bookkeeping ------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        stats = self.client.stats
        now = {"requests": stats.requests, "retries": stats.retries, "throttled": stats.throttled}
        return {k: self._base[k] + now[k] for k in COUNTERS}

    def save(self) -> None:
        self.record.counters = self.counters()
        self.store.save(self.record.to_dict())

    @property
    def job_id(self) -> str:
        assert self.record.job_id is not None
        return self.record.job_id

    def _url(self, template: str | None) -> str:
        assert template is not None
        return self.spec.endpoint(template, self.job_id)

    # -- create -----------------------------------------------------------------------
    def create(self, idempotency_key: str | None) -> None:
        spec = self.spec
        resp = self.client.request(
            "POST",
            spec.create_endpoint,
            json=spec.create_body,
            headers=spec.headers,
            idempotency_key=idempotency_key if spec.idempotency_header else None,
            idempotency_header=spec.idempotency_header or "Idempotency-Key",
        )
        body = decode_json(resp)
        job_id = get_path(body, spec.job_id_path)
        if job_id is None or job_id == "" or isinstance(job_id, dict | list | bool):
            keys = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise ApiContractError(
                f"job_id_path '{spec.job_id_path}' is not in the response of POST "
                f"{spec.create_endpoint} (top-level keys: {keys}). Fix: set job_id_path.",
                status=resp.status_code,
            )
        record = self.record
        record.job_id = str(job_id)
        state = get_path(body, spec.status_path)
        record.created_state = record.job_state = None if state is None else str(state)
        record.created_at = time.time()
        from airflow_provider_apisync.bulk.state import CREATED

        record.phase = CREATED
        self.save()
        log.info("created bulk job %s (state %s)", record.job_id, record.job_state or "-")

    # -- upload -----------------------------------------------------------------------
    def upload(self) -> None:
        """Send the input in chunks; chunks a previous try sent are skipped."""
        spec, record = self.spec, self.record
        if spec.upload is None:
            return
        endpoint = self._url(spec.upload_endpoint)
        content_type = fmt.CONTENT_TYPES[spec.upload_format]
        headers = {**(spec.headers or {}), "Content-Type": content_type}
        done = record.uploaded_chunks
        if done:
            log.info("upload resumes after %d chunks (%d records)", done, record.uploaded_records)
        chunks = fmt.upload_chunks(
            iter(records_source(spec.upload, field="upload")),
            fmt=spec.upload_format,
            chunk_records=spec.upload_chunk_records,
            chunk_bytes=spec.upload_chunk_bytes,
            columns=spec.upload_columns,
            delimiter=spec.csv_delimiter,
        )
        for index, chunk in enumerate(chunks):
            if index < done:
                continue
            self.client.request(spec.upload_method, endpoint, data=chunk.body, headers=headers)
            record.uploaded_chunks = index + 1
            record.uploaded_records += chunk.records
            self.save()
            log.info(
                "uploaded chunk %d: %d records, %d bytes", index + 1, chunk.records, len(chunk.body)
            )
        log.info(
            "upload done: %d records in %d chunks",
            record.uploaded_records,
            record.uploaded_chunks,
        )

    # -- close ------------------------------------------------------------------------
    def complete(self, *, check_first: bool) -> None:
        """Tell the API the upload is complete. After a crash the job may already be
        closed: then (``check_first``) the status is read first and the call skipped."""
        spec, record = self.spec, self.record
        if spec.complete_endpoint is not None:
            state = record.created_state
            if check_first and state is not None:
                state = self.status()[0]
            if state != record.created_state:
                log.info("job %s is already in state %s: not closing it again", self.job_id, state)
            else:
                self.client.request(
                    spec.complete_method,
                    self._url(spec.complete_endpoint),
                    json=spec.complete_body,
                    headers=spec.headers,
                )
                log.info("marked job %s upload complete", self.job_id)
        from airflow_provider_apisync.bulk.state import PROCESSING

        record.phase = PROCESSING
        self.save()

    # -- status -----------------------------------------------------------------------
    def status(self) -> tuple[str, Any]:
        """One status read: (state, body)."""
        spec = self.spec
        body = self.client.get_json(self._url(spec.status_endpoint), headers=spec.headers)
        state = get_path(body, spec.status_path)
        if state is None or isinstance(state, dict | list):
            keys = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise ApiContractError(
                f"status_path '{spec.status_path}' is not a state in the status response of "
                f"job {self.job_id} (top-level keys: {keys}). Fix: set status_path."
            )
        return str(state), body

    # -- results ----------------------------------------------------------------------
    def download(self, status_body: Any, extra: dict[str, Any]) -> dict[str, Any]:
        """Write the results as JSONL parts plus ``_manifest.json``; returns the manifest
        (``extra`` fields included)."""
        spec, record = self.spec, self.record
        sink = PartSink(self.folder, max_bytes=spec.part_size)
        progress = self._restore(sink)
        if spec.result_mode == "locator":
            self._by_locator(sink, progress)
        elif spec.result_mode == "urls":
            urls = fmt.result_urls(status_body, spec.result_urls_path or "")
            self._by_urls(sink, progress, urls)
        sink.close()
        base = str(self.folder).rstrip("/")
        manifest = {
            "uri": base,
            "files": [f"{base}/{p['name']}" for p in sink.parts],
            "parts": [dict(p) for p in sink.parts],
            "records": progress["records"],
            "pages": progress["pages"],
            **self.counters(),
            "duration_s": 0.0,
            "job_id": record.job_id,
            "job_state": record.job_state,
            "polls": record.polls,
            "uploaded_records": record.uploaded_records,
            "upload_chunks": record.uploaded_chunks,
            "result_mode": spec.result_mode,
            "endpoint": spec.create_endpoint,
            "resumed_download": self.resumed_download,
            "job_info": fmt.job_info(status_body),
            "checkpoint": self.store.kind,
            **extra,
        }
        (self.folder / MANIFEST).write_bytes(json.dumps(manifest, indent=1).encode())
        return manifest

    def _restore(self, sink: PartSink) -> dict[str, Any]:
        saved = self.record.download
        if saved and saved.get("output") is not None:
            status = sink.restore(saved["output"])
            if status == "exact":
                self.resumed_download = True
                log.info(
                    "download resumes after %d pages/files and %d records",
                    saved["pages"],
                    saved["records"],
                )
                return dict(saved)
            log.warning("the partial download of an earlier try is gone: starting over")
        sink.reset()
        return {"pages": 0, "records": 0, "locator": None, "next": 0, "output": None}

    def _checkpoint(self, sink: PartSink, progress: dict[str, Any]) -> None:
        sink.flush()
        progress["output"] = sink.snapshot()
        self.record.download = dict(progress)
        self.save()

    def _by_locator(self, sink: PartSink, progress: dict[str, Any]) -> None:
        spec = self.spec
        endpoint = self._url(spec.results_endpoint)
        seen: set[str] = set()
        locator = progress.get("locator")
        if progress["pages"] and locator is None:
            return  # the last page was written before the crash
        while True:
            params = dict(spec.results_params or {})
            if locator:
                params[spec.locator_param] = locator
            resp = self.client.request(
                "GET", endpoint, params=params, headers=self._result_headers(), stream=True
            )
            progress["records"] += self._write(sink, resp)
            progress["pages"] += 1
            following = (resp.headers.get(spec.locator_header) or "").strip()
            done = not following or following.lower() == "null"
            if not done and following in seen:
                raise PaginationLoopError(
                    f"the API returned the locator '{following[:40]}' twice for job "
                    f"{self.job_id}: paging would loop forever."
                )
            seen.add(following)
            progress["locator"] = None if done else following
            self._checkpoint(sink, progress)
            if done:
                return
            locator = following

    def _by_urls(self, sink: PartSink, progress: dict[str, Any], urls: list[str]) -> None:
        log.info("job %s has %d result file(s)", self.job_id, len(urls))
        for index in range(int(progress.get("next") or 0), len(urls)):
            resp = self.client.request(
                "GET", urls[index], headers=self._result_headers(), stream=True
            )
            progress["records"] += self._write(sink, resp)
            progress["pages"] += 1
            progress["next"] = index + 1
            self._checkpoint(sink, progress)

    def _result_headers(self) -> dict[str, str]:
        return {"Accept": RESULT_ACCEPT, **(self.spec.headers or {})}

    def _write(self, sink: PartSink, resp: requests.Response) -> int:
        """Parse one response body (streamed) into the sink; returns the record count."""
        spec = self.spec
        url = redact_url(resp.url)
        source = urlsplit(url).path
        try:
            kind = fmt.result_format(spec.result_format, resp.headers.get("Content-Type"), url)
            if kind == "json":
                body = decode_json(resp)
                path = spec.records_path
                if path is None:
                    path = find_records_path(body)
                records: Any = select_records(body, path, strict=True) if body else []
            else:
                chunks = _body_chunks(resp, url)
                if kind == "csv":
                    lines = fmt.text_lines(chunks)
                    records = fmt.csv_records(lines, delimiter=spec.csv_delimiter, source=source)
                else:
                    records = fmt.jsonl_records(fmt.byte_lines(chunks), source=source)
            return _write_batches(sink, records)
        finally:
            resp.close()


def _write_batches(sink: PartSink, records: Any) -> int:
    count, iterator = 0, iter(records)
    while batch := list(islice(iterator, BATCH)):
        count += sink.write(batch)
    return count


def _body_chunks(resp: requests.Response, url: str) -> Iterator[bytes]:
    """The body as byte chunks; a ``.gz`` file is inflated; a broken stream becomes a
    retryable ``ApiTransportError`` (the task retry resumes at this page or file)."""
    kind = (resp.headers.get("Content-Type") or "").lower()
    gzipped = not resp.headers.get("Content-Encoding") and (
        "gzip" in kind or urlsplit(url).path.endswith(".gz")
    )
    raw = _guarded_chunks(resp, url)
    return fmt.gunzip_chunks(raw) if gzipped else raw


def _guarded_chunks(resp: requests.Response, url: str) -> Iterator[bytes]:
    try:
        yield from resp.iter_content(READ_CHUNK)
    except requests.RequestException as exc:
        raise ApiTransportError(
            f"network error while reading the body: {type(exc).__name__}",
            method="GET",
            url=url,
        ) from None
