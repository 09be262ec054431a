"""Asynchronous bulk jobs for ``FakeApi``, shaped like Salesforce Bulk API 2.0 and HubSpot.

``install_bulk_routes(api)`` registers, below the API prefix:

Salesforce-like ingest (CSV in; results as CSV paged by locator)::

    POST  /jobs/ingest                  {"object": "Contact", "operation": "insert",
                                         "contentType": "CSV", "lineEnding": "LF"} -> Open
    PUT   /jobs/ingest/{id}/batches     text/csv (several uploads allowed while Open) -> 201
    PATCH /jobs/ingest/{id}             {"state": "UploadComplete" | "Aborted"}
    GET   /jobs/ingest/{id}             UploadComplete -> InProgress -> JobComplete | Failed
    GET   /jobs/ingest/{id}/successfulResults?locator=..&maxRecords=..
    GET   /jobs/ingest/{id}/failedResults?locator=..&maxRecords=..

Salesforce-like query (no upload; job starts in UploadComplete)::

    POST  /jobs/query                   {"operation": "query",
                                         "query": "SELECT Id, Name FROM Contact"}
    GET   /jobs/query/{id}
    GET   /jobs/query/{id}/results?locator=..&maxRecords=..

Result pages carry ``Sforce-Locator`` (base64 of the next offset, ``null`` after the last
page) and ``Sforce-NumberOfRecords``, as Salesforce does.

HubSpot-like export (results as file URLs in the status body)::

    POST  /exports                      {"exportType": "VIEW", "format": "CSV",
                                         "objectType": "CONTACT",
                                         "objectProperties": ["email", "name"]} -> {"id"}
    GET   /exports/{id}/status          PENDING -> PROCESSING -> COMPLETE | CANCELED;
                                        "result": the file URL (a list when split)
    GET   /exports/{id}/files/{name}    on ``file_host`` when given (another origin)

Objects map to collections: ``Contact``/``CONTACT`` -> ``contacts``. A job leaves each
running state after ``polls_per_state`` status reads, or after ``seconds_per_state``
seconds when that is set. Failure modes: :meth:`BulkJobs.fail_next` makes the next job
fail with a given message; an ingest upload naming a field the object does not have, or
a query selecting one, fails the job the way Salesforce does (``errorMessage``).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.testing.fakeapi.bulk_model import (
    COUNT_HEADER,
    HUBSPOT,
    LOCATOR_HEADER,
    SALESFORCE,
    BulkJob,
    Lifecycle,
    collection_for,
    encode_csv,
    iso,
    json_body,
    parse_soql,
    parse_upload,
    salesforce_info,
    sf_error,
)
from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi


class BulkJobs:
    """The bulk-job feature of one :class:`FakeApi` (see module docstring)."""

    def __init__(
        self,
        api: FakeApi,
        *,
        polls_per_state: int = 1,
        seconds_per_state: float | None = None,
        page_size: int = 1000,
        files_per_export: int = 1,
        file_host: FakeApi | None = None,
        required_fields: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.api = api
        self.polls_per_state = polls_per_state
        self.seconds_per_state = seconds_per_state
        self.page_size = page_size
        self.files_per_export = files_per_export
        self.file_host = file_host
        self.required_fields = {k: tuple(v) for k, v in (required_fields or {}).items()}
        self.jobs: dict[str, BulkJob] = {}
        self._fail_next: list[tuple[str | None, str]] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- test controls ----------------------------------------------------------------
    def fail_next(self, message: str, *, kind: str | None = None) -> None:
        """The next job created (of ``kind``, or any) ends failed with ``message``."""
        with self._lock:
            self._fail_next.append((kind, message))

    def reset(self) -> None:
        """Forget every job and pending failure (between tests sharing one server)."""
        with self._lock:
            self.jobs.clear()
            self._fail_next.clear()

    def created(self, kind: str | None = None) -> list[BulkJob]:
        """Jobs created so far, oldest first (optionally of one kind)."""
        with self._lock:
            return [j for j in self.jobs.values() if kind is None or j.kind == kind]

    # -- routes -----------------------------------------------------------------------
    def install(self) -> BulkJobs:
        route = self.api.route
        route("POST", "/jobs/ingest", self._create_ingest, first=True)
        route("PUT", "/jobs/ingest/{id}/batches", self._upload, first=True)
        route("PATCH", "/jobs/ingest/{id}", self._patch, first=True)
        route("GET", "/jobs/ingest/{id}", self._info, first=True)
        route("GET", "/jobs/ingest/{id}/successfulResults", self._ingest_results, first=True)
        route("GET", "/jobs/ingest/{id}/failedResults", self._ingest_failed, first=True)
        route("POST", "/jobs/query", self._create_query, first=True)
        route("PATCH", "/jobs/query/{id}", self._patch, first=True)
        route("GET", "/jobs/query/{id}", self._info, first=True)
        route("GET", "/jobs/query/{id}/results", self._query_results, first=True)
        route("POST", "/exports", self._create_export, first=True)
        route("GET", "/exports/{id}/status", self._export_status, first=True)
        host = self.file_host or self.api
        host.route("GET", "/exports/{id}/files/{name}", self._export_file, first=True)
        return self

    # -- creation ---------------------------------------------------------------------
    def _new(
        self, kind: str, spec: dict[str, Any], obj: str, lifecycle: Lifecycle, state: str
    ) -> BulkJob:
        with self._lock:
            number = next(self._ids)
            job_id = f"750{number:015d}" if lifecycle is SALESFORCE else str(7000 + number)
            job = BulkJob(job_id, kind, spec, collection_for(obj), lifecycle, state)
            for i, (wanted, message) in enumerate(self._fail_next):
                if wanted in (None, kind):
                    job.error = message
                    del self._fail_next[i]
                    break
            if state in lifecycle.running:
                job.started = time.time()
            self.jobs[job_id] = job
            return job

    def _create_ingest(self, request: Request) -> Response:
        body = json_body(request)
        obj, operation = body.get("object"), body.get("operation")
        if not obj or operation != "insert":
            return sf_error(400, "INVALIDJOB", "object is required; operation must be insert")
        content = str(body.get("contentType") or "CSV").upper()
        if content not in ("CSV", "JSONL"):  # JSONL: a FakeApi extension
            return sf_error(400, "INVALIDJOB", f"contentType {content} is not supported")
        spec = {**body, "contentType": content}
        job = self._new("ingest", spec, str(obj), SALESFORCE, "Open")
        return Response.json(salesforce_info(job))

    def _create_query(self, request: Request) -> Response:
        body = json_body(request)
        parsed = parse_soql(str(body.get("query") or ""))
        if body.get("operation") not in ("query", "queryAll") or parsed is None:
            return sf_error(
                400, "INVALIDJOB", "operation must be query and query 'SELECT f, .. FROM Object'"
            )
        fields, obj = parsed
        job = self._new("query", {**body, "fields": fields}, obj, SALESFORCE, "UploadComplete")
        return Response.json(salesforce_info(job))

    def _create_export(self, request: Request) -> Response:
        body = json_body(request)
        obj, props = body.get("objectType"), body.get("objectProperties")
        if not obj or not isinstance(props, list) or not props:
            return Response.json(
                {"status": "error", "category": "VALIDATION_ERROR",
                 "message": "objectType and objectProperties are required"}, 400,
            )  # fmt: skip
        fmt = str(body.get("format") or "CSV").upper()
        if fmt not in ("CSV", "JSONL"):  # JSONL: a FakeApi extension
            return Response.json({"status": "error", "message": f"format {fmt}"}, 400)
        job = self._new("export", {**body, "format": fmt}, str(obj), HUBSPOT, "PENDING")
        return Response.json({"id": job.id, "links": {}}, 202)

    # -- ingest upload and close --------------------------------------------------------
    def _job(self, request: Request) -> BulkJob | None:
        return self.jobs.get(request.params["id"])

    def _upload(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or job.kind != "ingest":
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if job.state != "Open":
            return sf_error(409, "INVALIDJOBSTATE", f"Job is in state {job.state}, not Open")
        content_type = request.headers.get("Content-Type", "")
        expected = "text/csv" if job.spec["contentType"] == "CSV" else "json"
        if expected not in content_type:
            return sf_error(400, "INVALIDCONTENTTYPE", f"expected {expected}, got {content_type}")
        try:
            columns, rows = parse_upload(request.body, job.spec["contentType"])
        except ValueError as exc:
            return sf_error(400, "INVALIDBATCH", str(exc))
        with self._lock:
            for name in columns:
                if name not in job.columns:
                    job.columns.append(name)
            job.rows.extend(rows)
            job.uploads += 1
        return Response(201)

    def _patch(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        wanted = json_body(request).get("state")
        with self._lock:
            if wanted == "UploadComplete" and job.kind == "ingest" and job.state == "Open":
                job.state = "UploadComplete"
                job.started = time.time()
            elif wanted == "Aborted" and not job.terminal:
                job.state = "Aborted"
                job.finished = time.time()
            else:
                return sf_error(
                    409, "INVALIDJOBSTATE", f"cannot change state {job.state} to {wanted}"
                )
        return Response.json(salesforce_info(job))

    # -- status -----------------------------------------------------------------------
    def _advance(self, job: BulkJob) -> None:
        """Count one status read and move the job along its lifecycle."""
        with self._lock:
            job.polls += 1
            if job.terminal or job.started is None:
                return
            job.reads_running += 1
            running = job.lifecycle.running
            if self.seconds_per_state is not None:
                step = int((time.time() - job.started) / self.seconds_per_state)
            else:
                step = (job.reads_running - 1) // max(self.polls_per_state, 1)
            if step < len(running):
                job.state = running[step]
                return
            self._finish(job)

    def _finish(self, job: BulkJob) -> None:
        job.finished = time.time()
        if job.error is None:
            job.error = self._validate(job)
        if job.error is not None:
            job.state = job.lifecycle.failure
            return
        if job.kind == "ingest":
            self._apply_ingest(job)
        else:
            job.results = self._snapshot(job)
        job.state = job.lifecycle.success

    def _known_fields(self, job: BulkJob) -> dict[str, str] | None:
        """Lower-case name -> field of the target collection (None: anything goes)."""
        coll = self.api.collections.get(job.collection)
        records = coll.all() if coll is not None else []
        if not records:
            return None
        names = {k for record in records for k in record}
        return {name.lower(): name for name in names}

    def _validate(self, job: BulkJob) -> str | None:
        known = self._known_fields(job)
        if known is None:
            return None
        if job.kind == "ingest":
            for name in job.columns:
                if name.lower() not in known:
                    return f"InvalidBatch : Field name not found : {name}"
        if job.kind == "query":
            for name in job.spec["fields"]:
                if name.lower() not in known:
                    entity = job.spec["query"].split()[-1]
                    return f"INVALID_FIELD: No such column '{name}' on entity '{entity}'"
        if job.kind == "export":
            for name in job.spec["objectProperties"]:
                if str(name).lower() not in known:
                    return f"Unknown property: {name}"
        return None

    def _apply_ingest(self, job: BulkJob) -> None:
        coll = self.api.collection(job.collection)
        required = self.required_fields.get(job.collection, ())
        known = self._known_fields(job) or {}
        for row in job.rows:
            missing = [f for f in required if not row.get(f)]
            if missing:
                error = f"REQUIRED_FIELD_MISSING:Required fields are missing: {missing}:--"
                job.failed.append({"sf__Id": "", "sf__Error": error, **row})
                continue
            record = {known.get(k.lower(), k): v for k, v in row.items() if v != ""}
            created = coll.create(record)
            job.results.append({"sf__Id": str(created[coll.key]), "sf__Created": "true", **row})

    def _snapshot(self, job: BulkJob) -> list[dict[str, Any]]:
        coll = self.api.collections.get(job.collection)
        records = coll.all() if coll is not None else []
        known = self._known_fields(job) or {}
        if job.kind == "query":
            fields = [(name, known.get(name.lower(), name)) for name in job.spec["fields"]]
        else:
            props = [str(p) for p in job.spec["objectProperties"]]
            fields = [("Record ID", coll.key if coll else "id")]
            fields += [(name, known.get(name.lower(), name)) for name in props]
        return [{label: record.get(key) for label, key in fields} for record in records]

    def _info(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or job.kind == "export":
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        self._advance(job)
        return Response.json(salesforce_info(job))

    def _export_status(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or job.kind != "export":
            return Response.json({"status": "error", "category": "OBJECT_NOT_FOUND"}, 404)
        self._advance(job)
        body: dict[str, Any] = {
            "status": job.state,
            "requestedAt": iso(job.created),
            "startedAt": iso(job.started or job.created),
            "links": {},
        }
        if job.state == "COMPLETE":
            urls = [self._file_url(job, n) for n in range(self._file_count(job))]
            body["result"] = urls[0] if len(urls) == 1 else urls
            body["completedAt"] = iso(job.finished or time.time())
        elif job.state == "CANCELED":
            body["errors"] = [{"message": job.error, "category": "EXPORT_FAILED"}]
            body["numErrors"] = 1
            body["completedAt"] = iso(job.finished or time.time())
        return Response.json(body)

    # -- results ----------------------------------------------------------------------
    def _page(self, request: Request, job: BulkJob, rows: list[dict[str, Any]]) -> Response:
        if job.state != job.lifecycle.success:
            return sf_error(409, "INVALIDJOBSTATE", f"Job is in state {job.state}")
        locator = request.query.get("locator")
        try:
            offset = int(base64.b64decode(locator).decode()) if locator else 0
            size = int(request.query.get("maxRecords") or self.page_size)
        except (ValueError, TypeError):
            return sf_error(400, "INVALIDLOCATOR", "locator or maxRecords is not valid")
        chunk = rows[offset : offset + size]
        following = offset + len(chunk)
        if following < len(rows):
            locator = base64.b64encode(str(following).encode()).decode()
        else:
            locator = "null"
        columns = list(rows[0]) if rows else self._columns(job)
        headers = {LOCATOR_HEADER: locator, COUNT_HEADER: str(len(chunk))}
        return Response(200, encode_csv(columns, chunk), {"Content-Type": "text/csv", **headers})

    def _columns(self, job: BulkJob) -> list[str]:
        if job.kind == "query":
            return list(job.spec["fields"])
        return ["sf__Id", "sf__Created", *job.columns]

    def _ingest_results(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or job.kind != "ingest":
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return self._page(request, job, job.results)

    def _ingest_failed(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or job.kind != "ingest":
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return self._page(request, job, job.failed)

    def _query_results(self, request: Request) -> Response:
        job = self._job(request)
        if job is None or job.kind != "query":
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return self._page(request, job, job.results)

    def _file_count(self, job: BulkJob) -> int:
        return max(1, min(self.files_per_export, len(job.results) or 1))

    def _file_url(self, job: BulkJob, index: int) -> str:
        host = self.file_host or self.api
        ext = "csv" if job.spec["format"] == "CSV" else "jsonl"
        return f"{host.url}/exports/{job.id}/files/part-{index}.{ext}"

    def _export_file(self, request: Request) -> Response:
        job = self.jobs.get(request.params["id"])
        match = re.fullmatch(r"part-(\d+)\.(csv|jsonl)", request.params["name"])
        if job is None or job.kind != "export" or job.state != "COMPLETE" or match is None:
            return Response.error(404, "no such export file")
        count = self._file_count(job)
        index = int(match.group(1))
        if index >= count:
            return Response.error(404, "no such export file")
        per_file = -(-len(job.results) // count)
        rows = job.results[index * per_file : (index + 1) * per_file]
        if job.spec["format"] == "CSV":
            columns = list(job.results[0]) if job.results else ["Record ID"]
            return Response(200, encode_csv(columns, rows), {"Content-Type": "text/csv"})
        body = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in rows)
        return Response(200, body, {"Content-Type": "application/x-ndjson"})


def install_bulk_routes(api: FakeApi, **options: Any) -> BulkJobs:
    """Register the bulk-job routes on ``api`` (options: see :class:`BulkJobs`)."""
    return BulkJobs(api, **options).install()
