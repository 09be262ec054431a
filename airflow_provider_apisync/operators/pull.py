"""``ApiPullOperator``: paginated API pull streamed to JSONL files in object storage."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.pagination import PaginatorArg, resolve_paginator
from airflow_provider_apisync.client.response_actions import ResponseActions, RuleInput
from airflow_provider_apisync.compat import BaseOperator
from airflow_provider_apisync.hooks.apisync import ApiSyncHook
from airflow_provider_apisync.operators.lineage import (
    Dataset,
    attach_to_outlets,
    manifest_lineage,
    openlineage_facets,
)
from airflow_provider_apisync.pull.contracts import RecordContract
from airflow_provider_apisync.pull.fanout import (
    build_job,
    check_fanout_args,
    parent_fields,
)
from airflow_provider_apisync.pull.incremental import Incremental
from airflow_provider_apisync.pull.job import PullSpec
from airflow_provider_apisync.recordio.transform import check_transform, resolve_transform
from airflow_provider_apisync.runtime import state
from airflow_provider_apisync.runtime.errors import failing_fast
from airflow_provider_apisync.runtime.folders import run_folder, storage_path
from airflow_provider_apisync.runtime.summary import log_summary
from airflow_provider_apisync.vocabulary import Vocabulary

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import Context

DEFAULT_PART_SIZE = 64 * 1024 * 1024
EVENT_KEYS = ("uri", "records", "pages", "requests", "high_water_mark", "duration_s", "files")


def _positive(name: str, value: Any, *, allow_none: bool = True) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiConfigError(name, f"must be a positive integer, got {value!r}.")
    return value


def _key_fields(record_key: str | Sequence[str] | None) -> tuple[str, ...]:
    if record_key is None or record_key == "":
        return ()
    if isinstance(record_key, str):
        return (record_key,)
    fields = tuple(record_key)
    if not fields or not all(isinstance(f, str) and f for f in fields):
        raise ApiConfigError(
            "record_key", f"must be a field path or a list of them, got {record_key!r}."
        )
    return fields


class ApiPullOperator(Vocabulary, BaseOperator):
    """Pull every page of ``endpoint`` into JSONL part files; return a small manifest.

    :param endpoint: path below the connection's base URL (templated).
    :param apisync_conn_id: the ``apisync`` connection.
    :param query: HTTP query parameters of the first request (templated). Data-interval
        windows -- ``{"updated_since": "{{ data_interval_start | ts }}"}`` -- are the
        stateless, backfill-safe way to pull incrementally. ``params=`` is refused: that
        is Airflow's DAG Params (docs/operators.md "One vocabulary").
    :param headers: extra request headers (templated).
    :param paginator: ``"auto"`` (default), a kind name, or a paginator object.
    :param records_path: dotted path of the records list; detected when None (templated).
    :param output: folder URI for the files (templated); default
        ``<[apisync] output_base>/<dag_id>/<task_id>/<run_id>/``.
    :param incremental: :class:`Incremental` high-water-mark settings.
    :param record_key: field path(s) identifying a record; duplicates within the run are
        dropped (first one wins) and a missing key is a contract violation.
    :param schema: JSON Schema every record must satisfy.
    :param on_contract_violation: ``"fail"`` or ``"quarantine"``.
    :param concurrency: pages fetched in parallel (offset/page paginators with a total).
    :param max_pages: stop after this many pages (a guard, not an error).
    :param max_records: stop after this many records.
    :param part_size: bytes per part file before a new one starts.
    :param checkpoint_every: pages between checkpoints (1: resume loses nothing); with
        ``parents``, also completed parents between checkpoints.
    :param parents: makes this a dependent pull (templated): the parent records -- a pull's
        manifest/XCom or output folder, a JSONL URI, or a list -- read like a push's
        ``records``. ``endpoint`` then holds ``{field}`` placeholders filled from each
        parent (``/tickets/{id}/comments``); ``concurrency`` is parents fetched at once.
        See docs/pull.md "Dependent pulls".
    :param include_from_parent: parent fields copied into every child record: a list of
        paths (``["id"]`` -> ``_parent_id``) or ``{"ticket_id": "id"}``.
    :param response_actions: per-status/per-body rules, e.g. ``{404: "skip"}`` or
        ``[{"status": 200, "body_contains": "RATE_LIMIT", "action": "retry"}]``; actions
        ``skip``/``dead_letter`` apply to one parent of a dependent pull.
    :param transform: a callable or an importable dotted path (``"pkg.mod.func"``) applied
        to each record while streaming, after the contract check, de-duplication and the
        high-water mark saw the API's record: return the record to write, or ``None`` to
        drop it (counted as ``filtered``). An exception fails the task naming the page.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "query",
        "headers",
        "output_uri",
        "records_path",
        "incremental",
        "parents",
    )
    template_fields_renderers = {"query": "json", "headers": "json"}
    ui_color = "#dff0f7"

    def __init__(
        self,
        *,
        endpoint: str,
        apisync_conn_id: str = ApiSyncHook.default_conn_name,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        paginator: PaginatorArg = "auto",
        records_path: str | None = None,
        output: str | None = None,
        incremental: Incremental | None = None,
        record_key: str | Sequence[str] | None = None,
        schema: Mapping[str, Any] | None = None,
        on_contract_violation: str = "fail",
        concurrency: int = 1,
        max_pages: int | None = None,
        max_records: int | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        checkpoint_every: int = 1,
        parents: Any = None,
        include_from_parent: Sequence[str] | Mapping[str, str] | None = None,
        response_actions: RuleInput = None,
        transform: Callable[[Any], Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.query: dict[str, Any] = dict(query or {})
        self.endpoint = endpoint
        self.apisync_conn_id = apisync_conn_id
        self.headers = dict(headers) if headers else None
        self.paginator = paginator
        resolve_paginator(paginator)  # fail at DAG parse time on a bad paginator
        self.records_path = records_path
        self.output_uri = output  # BaseOperator.output is the XComArg of the result
        if incremental is not None and not isinstance(incremental, Incremental):
            raise ApiConfigError("incremental", "must be an Incremental(...) object.")
        self.incremental = incremental
        self.record_key = _key_fields(record_key)
        self.schema = dict(schema) if schema else None
        self.on_contract_violation = on_contract_violation
        RecordContract(self.schema, primary_key=self.record_key, on_violation=on_contract_violation)
        self.concurrency = _positive("concurrency", concurrency, allow_none=False)
        self.max_pages = _positive("max_pages", max_pages)
        self.max_records = _positive("max_records", max_records)
        self.part_size = _positive("part_size", part_size, allow_none=False)
        self.checkpoint_every = _positive("checkpoint_every", checkpoint_every, allow_none=False)
        self.transform = check_transform(transform)
        self._lineage: tuple[list[Dataset], list[Dataset]] | None = None
        self.parents = parents
        self.include_from_parent = parent_fields(include_from_parent)
        self.response_actions = ResponseActions.parse(response_actions)
        check_fanout_args(endpoint, parents, self.include_from_parent, self.response_actions)

    # -- execution --------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        with failing_fast():
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        started = time.monotonic()
        uri = self.output_uri
        folder = storage_path(uri, field="output") if uri else run_folder(context)
        folder.mkdir(parents=True, exist_ok=True)
        hook = ApiSyncHook(self.apisync_conn_id)
        client = hook.client
        ti = context["ti"]
        params = dict(self.query or {})
        hw_store, mark = None, None
        if self.incremental is not None:
            inc = self.incremental
            if inc.param in params:
                raise ApiConfigError(
                    "query",
                    f"sets '{inc.param}', which incremental controls.",
                    f"remove '{inc.param}' from query.",
                )
            key = f"apisync.hwm.{ti.dag_id}.{ti.task_id}"
            hw_store = state.high_water_store(context, outlets=list(self.outlets), key=key)
            mark = hw_store.get()
            value = inc.request_value(mark)
            if value is not None:
                params[inc.param] = value
            self.log.info(
                "incremental: high-water mark %r (%s) -> %s=%r",
                mark,
                hw_store.kind,
                inc.param,
                value,
            )
        spec = PullSpec(
            endpoint=self.endpoint,
            params=params,
            headers=self.headers,
            paginator=resolve_paginator(self.paginator),
            records_path=self.records_path or None,
            primary_key=self.record_key,
            concurrency=self.concurrency,
            max_pages=self.max_pages,
            max_records=self.max_records,
            part_size=self.part_size,
            checkpoint_every=self.checkpoint_every,
            transform=resolve_transform(self.transform),
        )
        map_index = getattr(ti, "map_index", -1)
        run_id = context.get("run_id")
        fingerprint = state.fingerprint(*spec.identity(), str(folder), run_id, map_index)
        checkpoints = state.checkpoint_store(context, folder)
        contract = RecordContract(
            self.schema, primary_key=self.record_key, on_violation=self.on_contract_violation
        )
        tracker = self.incremental.tracker(mark) if self.incremental is not None else None
        actions = self.response_actions.fresh()
        try:
            job = build_job(
                client,
                spec,
                folder,
                checkpoints,
                fingerprint=fingerprint,
                contract=contract,
                tracker=tracker,
                parents=self.parents,
                include_from_parent=self.include_from_parent,
                actions=actions,
            )
            manifest = job.run()
            if actions:
                manifest.setdefault("response_actions", actions.summary())
        finally:
            client.close()
        if hw_store is not None and manifest.get("high_water_mark") not in (None, mark):
            hw_store.set(manifest["high_water_mark"])
            self.log.info("high-water mark advanced to %r", manifest["high_water_mark"])
        checkpoints.clear()
        manifest["duration_s"] = round(time.monotonic() - started, 3)
        attach_to_outlets(context, self.outlets, manifest, EVENT_KEYS)
        self._lineage = manifest_lineage(client.base_url, self.endpoint, manifest)
        log_summary(self.log, self.task_id, {k: v for k, v in manifest.items() if k != "parts"})
        return manifest

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: input = the API endpoint, outputs = the part files (lazy import)."""
        if self._lineage is None:
            return None
        return openlineage_facets(*self._lineage)
