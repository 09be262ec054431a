"""What a generated page says, as plain data: one :class:`DagDoc` with its :class:`TaskDoc`\\ s.

Pure: built from a DAG object's attributes (no I/O, no connections, no clock). apisync
operators and sensors are recognised by class (subclasses included) and described by the
extractors registered in :data:`EXTRACTORS`; any other task is listed briefly so the flow
reads completely. Every attribute is read with ``getattr`` and a default, so an operator
that is not installed, or an older or newer one with other attributes, never breaks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_apisync.describe.mapped import MappedView, is_mapped, mapped_note
from airflow_provider_apisync.describe.schedule import asset_names, schedule_info
from airflow_provider_apisync.describe.values import duration, first_line, first_paragraph

PACKAGE = "airflow_provider_apisync"


@dataclass(frozen=True)
class Call:
    """One kind of HTTP request a task sends."""

    method: str
    endpoint: str
    purpose: str


@dataclass(frozen=True)
class Aspect:
    """One titled part of a task's description (Markdown lines)."""

    title: str
    lines: tuple[str, ...]


@dataclass
class Extract:
    """What an extractor found on an apisync task."""

    kind: str
    conn_id: str | None = None
    calls: list[Call] = field(default_factory=list)
    aspects: list[Aspect] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    def add(self, title: str, *lines: str | None) -> None:
        kept = tuple(line for line in lines if line)
        if kept:
            self.aspects.append(Aspect(title, kept))


@dataclass(frozen=True)
class TaskDoc:
    """One task: who it talks to, how, in which order, and what it leaves behind."""

    task_id: str
    operator: str
    summary: str
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    retries: str
    inlets: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    kind: str | None = None  # None: not an apisync task
    conn_id: str | None = None
    calls: tuple[Call, ...] = ()
    aspects: tuple[Aspect, ...] = ()
    limits: tuple[str, ...] = ()


@dataclass(frozen=True)
class DagDoc:
    """One DAG page."""

    dag_id: str
    source: str
    summary: str
    schedule: str
    triggered_by: tuple[str, ...]
    start_date: str
    catchup: bool
    tags: tuple[str, ...]
    tasks: tuple[TaskDoc, ...]
    notes: tuple[str, ...] = ()

    @property
    def conn_ids(self) -> tuple[str, ...]:
        return tuple(sorted({t.conn_id for t in self.tasks if t.conn_id}))

    @property
    def produces(self) -> tuple[str, ...]:
        return tuple(sorted({a for t in self.tasks for a in t.outlets}))

    @property
    def consumes(self) -> tuple[str, ...]:
        return tuple(sorted({a for t in self.tasks for a in t.inlets}))


Extractor = Callable[[Any], Extract]
EXTRACTORS: dict[str, Extractor] = {}


def extractor(class_name: str) -> Callable[[Extractor], Extractor]:
    """Register an extractor for an apisync class (matched by name along the MRO)."""

    def register(func: Extractor) -> Extractor:
        EXTRACTORS[class_name] = func
        return func

    return register


def apisync_class(task: Any) -> str | None:
    """The nearest apisync class in ``task``'s MRO that has an extractor, else None."""
    klass = task.operator_class if is_mapped(task) else type(task)
    for cls in getattr(klass, "__mro__", ()):
        if cls.__module__.startswith(PACKAGE) and cls.__name__ in EXTRACTORS:
            return cls.__name__
    return None


def describe_task(task: Any) -> TaskDoc:
    """A :class:`TaskDoc` for any Airflow task (apisync or not)."""
    cls_name = apisync_class(task)
    operator = _operator_name(task)
    summary = first_line(getattr(task, "doc_md", None) or getattr(task, "doc", None))
    if is_mapped(task):
        summary = " ".join(filter(None, (summary, mapped_note(task))))
    common: dict[str, Any] = {
        "task_id": task.task_id,
        "operator": operator,
        "summary": summary,
        "upstream": tuple(sorted(getattr(task, "upstream_task_ids", ()) or ())),
        "downstream": tuple(sorted(getattr(task, "downstream_task_ids", ()) or ())),
        "retries": airflow_retries(task),
        "inlets": asset_names(getattr(task, "inlets", ()) or ()),
        "outlets": asset_names(getattr(task, "outlets", ()) or ()),
    }
    if cls_name is None:
        return TaskDoc(**common)
    found = EXTRACTORS[cls_name](MappedView(task) if is_mapped(task) else task)
    return TaskDoc(
        **common,
        kind=found.kind,
        conn_id=found.conn_id,
        calls=tuple(found.calls),
        aspects=tuple(found.aspects),
        limits=tuple(found.limits),
    )


def describe_dag(dag: Any, *, source: str, module_doc: str = "") -> DagDoc:
    """A :class:`DagDoc`: tasks in dependency order (ties by task id)."""
    from airflow_provider_apisync.describe import extract_pull, extract_push, extract_sensors

    del extract_pull, extract_push, extract_sensors  # imported for their registrations
    summary = (
        first_paragraph(getattr(dag, "description", None))
        or first_paragraph(getattr(dag, "doc_md", None))
        or first_paragraph(module_doc)
    )
    start = getattr(dag, "start_date", None)
    schedule, triggered_by, empty = schedule_info(dag)
    tasks = ordered_tasks(dag)
    described = tuple(describe_task(t) for t in tasks)
    return DagDoc(
        dag_id=dag.dag_id,
        source=source,
        summary=summary,
        schedule=schedule,
        triggered_by=triggered_by,
        start_date=start.date().isoformat() if isinstance(start, datetime) else "none",
        catchup=bool(getattr(dag, "catchup", False)),
        tags=tuple(sorted(getattr(dag, "tags", ()) or ())),
        tasks=described,
        notes=tuple(interval_notes(tasks, described) if empty else ()),
    )


WINDOWED_KINDS = ("pull", "bulk", "reconcile")


def interval_notes(tasks: Iterable[Any], docs: Iterable[TaskDoc]) -> list[str]:
    """Warnings for reads windowed on the data interval, for a DAG whose runs get an empty
    one (start = end)."""
    kinds = {doc.task_id: doc.kind for doc in docs}
    notes = []
    for task in tasks:
        if kinds.get(task.task_id) not in WINDOWED_KINDS:
            continue
        templated = " ".join(
            str(getattr(task, attr, "") or "") for attr in getattr(task, "template_fields", ())
        )
        if "data_interval_start" in templated:
            notes.append(
                f"`{task.task_id}` filters on `data_interval_start`, but with Airflow's default "
                "settings runs of this DAG get an empty data interval (start = end = the run's "
                "time), so the window selects (almost) nothing. Use a data-interval timetable "
                "(e.g. `schedule=CronDataIntervalTimetable(...)`) or `Incremental(...)`."
            )
    return notes


def ordered_tasks(dag: Any) -> list[Any]:
    """Tasks in dependency order; among tasks ready at once, by task id."""
    tasks = {t.task_id: t for t in dag.tasks}
    waiting = {tid: set(t.upstream_task_ids) & tasks.keys() for tid, t in tasks.items()}
    order: list[Any] = []
    while waiting:
        ready = sorted(tid for tid, ups in waiting.items() if not ups)
        if not ready:  # a cycle would not load in Airflow; keep the rest in id order
            ready = sorted(waiting)
        tid = ready[0]
        order.append(tasks[tid])
        del waiting[tid]
        for ups in waiting.values():
            ups.discard(tid)
    return order


def _operator_name(task: Any) -> str:
    name = getattr(task, "custom_operator_name", None) or getattr(task, "operator_name", None)
    cls_name = task.operator_class.__name__ if is_mapped(task) else type(task).__name__
    if name and name != cls_name:
        return str(name)
    return cls_name


def airflow_retries(task: Any) -> str:
    """Airflow's own task retries in words."""
    retries = getattr(task, "retries", 0) or 0
    if not retries:
        return "no task retries (`retries=0`)"
    delay = getattr(task, "retry_delay", None)
    text = f"{retries} task retr{'y' if retries == 1 else 'ies'}, {duration(delay)} apart"
    if getattr(task, "retry_exponential_backoff", False):
        text += ", growing exponentially"
        cap = getattr(task, "max_retry_delay", None)
        if cap:
            text += f" up to {duration(cap)}"
    return text
