"""The data side of FakeApi's bulk jobs: job records, lifecycles and CSV/SOQL helpers."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

LOCATOR_HEADER = "Sforce-Locator"
COUNT_HEADER = "Sforce-NumberOfRecords"
API_VERSION = "62.0"


@dataclass(frozen=True)
class Lifecycle:
    """The states a kind of job walks through once processing starts."""

    running: tuple[str, ...]
    success: str
    failure: str


SALESFORCE = Lifecycle(("UploadComplete", "InProgress"), "JobComplete", "Failed")
HUBSPOT = Lifecycle(("PENDING", "PROCESSING"), "COMPLETE", "CANCELED")


@dataclass
class BulkJob:
    """One job as the fake server keeps it."""

    id: str
    kind: str  # ingest | query | export
    spec: dict[str, Any]
    collection: str
    lifecycle: Lifecycle
    state: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)  # uploaded (ingest)
    uploads: int = 0
    polls: int = 0  # status reads
    reads_running: int = 0  # status reads since processing started
    started: float | None = None  # processing began (UploadComplete)
    error: str | None = None  # the job will end in the failure state with this message
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def terminal(self) -> bool:
        return self.state in (self.lifecycle.success, self.lifecycle.failure, "Aborted")


def salesforce_info(job: BulkJob) -> dict[str, Any]:
    """Job info as Salesforce returns it from create, close and status calls."""
    info: dict[str, Any] = {
        "id": job.id,
        "operation": job.spec.get("operation"),
        "object": job.spec.get("object") or object_of(job),
        "createdById": "005000000000001AAA",
        "createdDate": iso(job.created),
        "systemModstamp": iso(job.finished or job.started or job.created),
        "state": job.state,
        "concurrencyMode": "Parallel",
        "contentType": job.spec.get("contentType", "CSV"),
        "apiVersion": float(API_VERSION),
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if job.kind == "ingest":
        info["jobType"] = "V2Ingest"
        info["contentUrl"] = f"services/data/v{API_VERSION}/jobs/ingest/{job.id}/batches"
        info["numberRecordsProcessed"] = len(job.results) + len(job.failed)
        info["numberRecordsFailed"] = len(job.failed)
    else:
        info["jobType"] = "V2Query"
        info["query"] = job.spec.get("query")
        info["numberRecordsProcessed"] = len(job.results)
    if job.state == job.lifecycle.failure:
        info["errorMessage"] = job.error
    return info


def collection_for(obj: str) -> str:
    """``Contact``/``CONTACT``/``contacts`` -> ``contacts``."""
    name = obj.strip().lower()
    return name if name.endswith("s") else name + "s"


def object_of(job: BulkJob) -> str:
    return str(job.spec.get("objectType") or job.collection)


_SOQL = re.compile(r"^\s*select\s+(.+?)\s+from\s+(\w+)\s*$", re.I | re.S)


def parse_soql(query: str) -> tuple[list[str], str] | None:
    """``SELECT Id, Name FROM Contact`` -> (["Id", "Name"], "Contact"); None otherwise."""
    match = _SOQL.match(query)
    if match is None:
        return None
    fields = [f.strip() for f in match.group(1).split(",")]
    if not all(re.fullmatch(r"\w+", f) for f in fields):
        return None
    return fields, match.group(2)


def encode_csv(columns: list[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """Rows as CSV the way Salesforce writes it: every field quoted, LF line endings."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buf.getvalue().encode()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def parse_upload(body: bytes, content_type: str) -> tuple[list[str], list[dict[str, str]]]:
    text = body.decode("utf-8")
    if content_type == "JSONL":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        return columns, [{k: cell(v) for k, v in row.items()} for row in rows]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or any(not name.strip() for name in header):
        raise ValueError("the CSV header row is missing or has an empty column name")
    rows = []
    for number, values in enumerate(reader, start=2):
        if not values:
            continue
        if len(values) != len(header):
            raise ValueError(f"line {number} has {len(values)} fields, header {len(header)}")
        rows.append(dict(zip(header, values, strict=True)))
    return header, rows


def json_body(request: Request) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def sf_error(status: int, code: str, message: str) -> Response:
    body = json.dumps([{"errorCode": code, "message": message}]).encode()
    return Response(status, body, {"Content-Type": "application/json"})


def iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
