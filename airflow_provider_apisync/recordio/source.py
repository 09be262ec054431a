"""Record inputs for pushes and reconciliation, streamed from object storage.

Accepted forms of ``records``:
- a list of dicts (small inputs, tests);
- a single JSONL file URI (``file://``, ``s3://`` ... or a local path);
- a folder URI holding part files and a ``_manifest.json`` (what ``ApiPullOperator`` and
  the push dead-letter writer produce); the manifest's ``files`` are read in order and its
  presence proves the writer finished;
- a ``_manifest.json`` URI, or the manifest itself (a dict with ``uri`` and ``files``, e.g.
  a pull's XCom, also as its rendered JSON/Python text).
Files are decoded line by line: memory does not grow with the input.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.recordio.jsonl import iter_jsonl

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import ObjectStoragePath

MANIFEST = "_manifest.json"


class RecordsSource:
    """An iterable over records from a list or from JSONL files (read lazily, in order)."""

    def __init__(
        self,
        *,
        files: Sequence[ObjectStoragePath] = (),
        items: Sequence[Any] | None = None,
        uri: str | None = None,
        records_field: str | None = None,
    ) -> None:
        self.files = list(files)
        self.items = items
        self.uri = uri
        self.records_field = records_field

    def __iter__(self) -> Iterator[Any]:
        if self.items is not None:
            for item in self.items:
                yield self._unwrap(item)
            return
        for path in self.files:
            with path.open("rb") as fh:
                for item in iter_jsonl(fh, source=str(path)):
                    yield self._unwrap(item)

    def _unwrap(self, item: Any) -> Any:
        return get_path(item, self.records_field) if self.records_field else item

    def describe(self) -> str:
        """Where the records come from, for logs and lineage."""
        if self.items is not None:
            return f"<{len(self.items)} records given inline>"
        return self.uri or ", ".join(str(f) for f in self.files)


def records_source(
    value: Any, *, field: str = "records", records_field: str | None = None
) -> RecordsSource:
    """Resolve ``value`` (see module docstring) to a :class:`RecordsSource`."""
    from airflow_provider_apisync.runtime.folders import storage_path

    if value is None or (isinstance(value, str) and not value.strip()):
        raise ApiConfigError(
            field,
            "is empty.",
            "give a JSONL file URI, a pull output folder (with _manifest.json), "
            "a pull manifest, or a list of dicts.",
        )
    if isinstance(value, str):
        text = value.strip()
        if text[0] in "{[":
            value = _parse_literal(text, field)
    if isinstance(value, Mapping):
        return _from_manifest(dict(value), None, field, records_field)
    if isinstance(value, list | tuple):
        return RecordsSource(items=list(value), records_field=records_field)
    if not isinstance(value, str | os.PathLike):
        raise ApiConfigError(
            field,
            f"a {type(value).__name__} is not a records input.",
            "give a URI string, a manifest dict or a list of dicts.",
        )
    path = storage_path(value, field=field)
    if path.name == MANIFEST:
        return _from_manifest(_read_manifest(path, field), path.parent, field, records_field)
    if _is_file(path):
        return RecordsSource(files=[path], uri=str(path), records_field=records_field)
    if _is_dir(path):
        manifest = path / MANIFEST
        if _is_file(manifest):
            return _from_manifest(_read_manifest(manifest, field), path, field, records_field)
        parts = sorted(p.name for p in path.iterdir() if p.name.endswith(".jsonl"))
        raise ApiConfigError(
            field,
            f"folder {path} has no {MANIFEST}"
            + (f" (it holds {len(parts)} .jsonl files)" if parts else "")
            + ": the task that writes it has not finished, so the data may be incomplete.",
            "point at a completed pull's output folder, or at one .jsonl file.",
        )
    raise ApiConfigError(
        field, f"{path} does not exist.", "check the URI (and that the upstream task ran)."
    )


def _parse_literal(text: str, field: str) -> Any:
    """A manifest or list given as text (a rendered template): JSON, or a Python literal."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ApiConfigError(
            field,
            "looks like a manifest or list but is neither JSON nor a Python literal.",
            "pass the URI, e.g. \"{{ ti.xcom_pull('pull')['uri'] }}\".",
        ) from None


def _read_manifest(path: ObjectStoragePath, field: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ApiConfigError(field, f"cannot read manifest {path}: {exc}.") from None
    if not isinstance(data, dict):
        raise ApiConfigError(field, f"manifest {path} is not a JSON object.")
    return data


def _from_manifest(
    manifest: dict[str, Any],
    folder: ObjectStoragePath | None,
    field: str,
    records_field: str | None,
) -> RecordsSource:
    from airflow_provider_apisync.runtime.folders import storage_path

    uri = manifest.get("uri")
    if folder is None:
        if not isinstance(uri, str) or not uri:
            raise ApiConfigError(
                field,
                "the manifest has no 'uri'.",
                "pass the pull's XCom manifest unchanged, or its 'uri'.",
            )
        folder = storage_path(uri, field=f"{field}.uri")
        if "files" not in manifest:
            return records_source(str(folder), field=field, records_field=records_field)
    files = manifest.get("files")
    if not isinstance(files, list):
        raise ApiConfigError(field, f"the manifest of {folder} has no 'files' list.")
    paths = [_resolve(folder, entry, field) for entry in files]
    return RecordsSource(files=paths, uri=str(folder), records_field=records_field)


def _resolve(folder: ObjectStoragePath, entry: Any, field: str) -> ObjectStoragePath:
    from airflow_provider_apisync.runtime.folders import storage_path

    name = entry
    if isinstance(entry, Mapping):
        name = entry.get("uri") or entry.get("path") or entry.get("name")
    if not isinstance(name, str) or not name:
        raise ApiConfigError(field, f"manifest file entry {entry!r} has no name.")
    if "://" in name or name.startswith("/"):
        return storage_path(name, field=field)
    return folder / name


def _is_file(path: ObjectStoragePath) -> bool:
    try:
        return bool(path.is_file())
    except OSError:
        return False


def _is_dir(path: ObjectStoragePath) -> bool:
    try:
        return bool(path.is_dir())
    except OSError:
        return False
