"""Records between operators, for your own ``@task`` steps: read lazily, write streaming.

A pull leaves JSONL part files and a manifest (its XCom); a push or reconcile accepts a
manifest as ``records``. These two functions let a TaskFlow step sit between them
without touching files, encodings or internal modules::

    from airflow_provider_apisync.records import read_records, write_records

    @task
    def to_customers(contacts: dict) -> dict:
        customers = (customer(c) for c in read_records(contacts) if c["stage"] == "customer")
        return write_records(customers, name="customers")  # a manifest: push it next

Memory stays bounded: ``read_records`` decodes one line at a time and ``write_records``
encodes ``batch_size`` records at a time, whatever the number of records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.pull.output import MANIFEST, PartSink
from airflow_provider_apisync.recordio.source import records_source
from airflow_provider_apisync.runtime.folders import run_folder, storage_path

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath

__all__ = ["output_folder", "read_records", "write_records"]

DEFAULT_PART_SIZE = 64 * 1024 * 1024
BATCH = 1000


def output_folder(name: str = "", context: Mapping[str, Any] | None = None) -> ObjectStoragePath:
    """This task run's folder (created): ``file://$AIRFLOW_HOME/apisync/<dag>/<task>/<run>/[name]``.

    Where operators write by default; for a ``@task`` writing a report or any other file.
    ``context`` defaults to the running task's (``get_current_context()``).
    """
    if context is None:
        from airflow_provider_apisync.compat import get_current_context

        context = get_current_context()
    folder = run_folder(context, name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_records(source: Any, *, records_field: str | None = None) -> Iterator[Any]:
    """Iterate the records of ``source``, lazily and in order.

    ``source`` is anything an ``ApiPushOperator`` accepts as ``records``: a manifest dict
    (a pull's XCom, an asset event's ``extra``, what :func:`write_records` returns), the URI
    of an output folder, of its ``_manifest.json`` or of one ``.jsonl`` file, or a list.
    A folder without ``_manifest.json`` is refused: its writer has not finished.
    ``records_field`` unwraps each line (dotted path), as for the push.
    """
    yield from records_source(source, field="source", records_field=records_field)


def write_records(
    records: Iterable[Any],
    *,
    name: str = "records",
    output: str | None = None,
    context: Mapping[str, Any] | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    batch_size: int = BATCH,
) -> dict[str, Any]:
    """Stream ``records`` into JSONL part files plus ``_manifest.json``; return the manifest.

    The folder is ``output`` (a URI, e.g. ``s3://bucket/prefix``) or, by default,
    ``<the task run's folder>/<name>`` — ``file://$AIRFLOW_HOME/apisync/<dag>/<task>/<run>/``,
    the same place operators write to; use shared storage for ``output`` when workers do
    not share a disk. Files an earlier try left there are removed first, and the manifest
    is written last, so a half-written folder is never taken for a result.

    The returned dict (``uri``, ``files``, ``records``, ``parts``) is small and XCom-safe,
    and ``ApiPushOperator``/``ApiReconcileOperator`` accept it as ``records``.
    """
    folder = storage_path(output, field="output") if output else output_folder(name, context)
    folder.mkdir(parents=True, exist_ok=True)
    sink = PartSink(folder, max_bytes=part_size)
    sink.clean()
    iterator = iter(records)
    try:
        while batch := list(islice(iterator, batch_size)):
            sink.write(batch)
    finally:
        sink.close()
    base = str(folder).rstrip("/")
    manifest = {
        "uri": base,
        "files": [f"{base}/{p['name']}" for p in sink.parts],
        "parts": [dict(p) for p in sink.parts],
        "records": sum(int(p["records"]) for p in sink.parts),
    }
    (folder / MANIFEST).write_bytes(json.dumps(manifest, indent=1).encode())
    return manifest
