"""Bulk-job payloads: records to CSV/JSONL upload chunks, result bodies back to records.

Pure Python (no Airflow): the operator feeds it records from JSONL files and response
bodies as byte chunks, so memory stays bounded by one chunk or one batch of rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.recordio.jsonl import encode_lines, iter_jsonl

UPLOAD_FORMATS = ("csv", "jsonl")
RESULT_FORMATS = ("auto", "csv", "jsonl", "json")
CONTENT_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
#: Where APIs put a failed job's reason: Salesforce, HubSpot, common shapes.
ERROR_PATHS = ("errorMessage", "errors.0.message", "error.message", "error_description", "error")


# -- upload -----------------------------------------------------------------------------
@dataclass
class Chunk:
    """One upload request body and how many records it carries."""

    body: bytes
    records: int


def csv_cell(value: Any) -> str:
    """A CSV cell: None -> empty, booleans lower-case, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


class _CsvRows:
    """Encodes dict records as CSV rows under a fixed header.

    Given ``columns`` select fields (others are left out); without them the first record's
    keys are the header and a later record with another key is an error, never a silent
    loss of data.
    """

    def __init__(self, columns: Sequence[str] | None, delimiter: str) -> None:
        self.columns = list(columns) if columns else None
        self._allowed = set(self.columns or ())
        self._inferred = False  # columns taken from the first record: other keys are errors
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, delimiter=delimiter, lineterminator="\n")

    def _line(self, values: Sequence[str]) -> bytes:
        self._buf.seek(0)
        self._buf.truncate()
        self._writer.writerow(values)
        return self._buf.getvalue().encode("utf-8")

    def header(self) -> bytes:
        assert self.columns is not None
        return self._line(self.columns)

    def row(self, record: Any, number: int) -> bytes:
        if not isinstance(record, dict):
            raise ApiContractError(
                f"upload record {number} is a {type(record).__name__}, not an object: CSV "
                "needs one object per line. Fix: BulkUpload(format='jsonl') or fix the input."
            )
        if self.columns is None:
            self.columns = list(record)
            self._allowed = set(self.columns)
            self._inferred = True
        extra = [k for k in record if k not in self._allowed]
        if extra and self._inferred:
            raise ApiContractError(
                f"upload record {number} has field(s) {extra[:5]} outside the CSV columns "
                f"{self.columns[:10]} (taken from the first record). Fix: set upload_columns "
                "to every field to send."
            )
        return self._line([csv_cell(record.get(c)) for c in self.columns])


def upload_chunks(
    records: Iterable[Any],
    *,
    fmt: str,
    chunk_records: int | None,
    chunk_bytes: int | None,
    columns: Sequence[str] | None = None,
    delimiter: str = ",",
) -> Iterator[Chunk]:
    """Split records into request bodies of at most ``chunk_records`` records and about
    ``chunk_bytes`` bytes (a single record is never split). CSV bodies each start with the
    header row. Deterministic: the same input always gives the same chunks (resume)."""
    if fmt not in UPLOAD_FORMATS:
        raise ApiConfigError("upload_format", f"'{fmt}' is not one of {UPLOAD_FORMATS}.")
    rows = _CsvRows(columns, delimiter) if fmt == "csv" else None
    body = bytearray()
    count = 0
    header = b""
    for number, record in enumerate(records, start=1):
        line = rows.row(record, number) if rows is not None else encode_lines([record])
        if rows is not None and not header:
            header = rows.header()
        full = (chunk_records is not None and count >= chunk_records) or (
            chunk_bytes is not None and count and len(body) + len(line) > chunk_bytes
        )
        if full:
            yield Chunk(header + bytes(body), count)
            body.clear()
            count = 0
        body += line
        count += 1
    if count:
        yield Chunk(header + bytes(body), count)


# -- results ----------------------------------------------------------------------------
def result_format(declared: str, content_type: str | None, url: str) -> str:
    """``csv``/``jsonl``/``json``: ``declared`` unless ``auto``, else by Content-Type or the
    URL's file extension (pre-signed file URLs are often ``application/octet-stream``)."""
    if declared != "auto":
        return declared
    kind = (content_type or "").split(";")[0].strip().lower()
    if "csv" in kind:
        return "csv"
    if any(t in kind for t in ("ndjson", "jsonl", "json-seq", "jsonlines")):
        return "jsonl"
    if kind.endswith("json"):
        return "json"
    path = urlsplit(url).path.lower().removesuffix(".gz")
    for suffix, found in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl")):
        if path.endswith(suffix):
            return found
    if path.endswith(".json"):
        return "json"
    raise ApiContractError(
        f"cannot tell the format of the results at {urlsplit(url).path} (Content-Type "
        f"'{content_type or ''}'). Fix: set BulkResults(format=) to 'csv', 'jsonl' or 'json'."
    )


def gunzip_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip file streamed as chunks (result files stored as ``.csv.gz``)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chunks:
        data = inflater.decompress(chunk)
        if data:
            yield data
    tail = inflater.flush()
    if tail:
        yield tail


def text_lines(chunks: Iterable[bytes], encoding: str = "utf-8-sig") -> Iterator[str]:
    """Decode byte chunks and yield lines that keep their ``\\n`` (what ``csv`` needs for
    quoted fields spanning lines). A UTF-8 byte-order mark is dropped."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pending = ""
    for chunk in chunks:
        text = pending + decoder.decode(chunk)
        cut = text.rfind("\n")
        if cut < 0:
            pending = text
            continue
        pending = text[cut + 1 :]
        for piece in text[:cut].split("\n"):
            yield piece + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def byte_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split byte chunks into lines (for JSONL)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        *lines, pending = data.split(b"\n")
        yield from lines
    if pending:
        yield pending


def csv_records(lines: Iterable[str], *, delimiter: str = ",", source: str) -> Iterator[dict]:
    """Rows of a CSV with a header line as dicts of strings (CSV carries no types)."""
    reader = csv.DictReader(lines, delimiter=delimiter)
    for row in reader:
        if None in row:
            raise ApiContractError(
                f"{source} line {reader.line_num} has more fields than its header "
                f"({len(reader.fieldnames or [])}). Fix: check csv_delimiter."
            )
        yield row


def jsonl_records(lines: Iterable[bytes], *, source: str) -> Iterator[Any]:
    return iter_jsonl(cast(Any, lines), source=source)


# -- job bodies -------------------------------------------------------------------------
def job_error(body: Any, error_path: str | None) -> str | None:
    """The reason a job failed, from ``error_path`` or the usual places; None when absent."""
    paths = (error_path,) if error_path else ERROR_PATHS
    for path in paths:
        value = get_path(body, path)
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return text if len(text) <= 2000 else text[:2000] + "..."
    return None


def result_urls(body: Any, path: str) -> list[str]:
    """File URLs at ``path``: one URL, a list of URLs, or a list of ``{"url": ...}``."""
    value = get_path(body, path)
    if isinstance(value, str) and value:
        return [value]
    urls: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                item = item.get("url") or item.get("href") or item.get("link")
            if isinstance(item, str) and item:
                urls.append(item)
        if len(urls) == len(value):
            return urls
    keys = sorted(body) if isinstance(body, dict) else type(body).__name__
    raise ApiContractError(
        f"BulkResults urls_path '{path}' holds no URL or list of URLs in the finished job's status "
        f"(top-level keys: {keys}). Fix: set urls_path to where the file URLs are."
    )


def job_info(body: Any, limit: int = 30) -> dict[str, Any]:
    """Scalar top-level fields of a status body (counts, dates) for the manifest."""
    if not isinstance(body, dict):
        return {}
    info: dict[str, Any] = {}
    for key, value in body.items():
        if len(info) >= limit:
            break
        scalar = isinstance(value, bool | int | float) or value is None
        if scalar or (isinstance(value, str) and len(value) <= 200 and "://" not in value):
            info[key] = value
    return info
