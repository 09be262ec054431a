"""Where tasks write: one base for every task and worker, the per-run folder, user URIs.

Pulls, pushes (ledger, dead letters), reconcile reports, bulk jobs, checkpoint-file
fallbacks and webhook bodies all default to ``<base>/...``. The base is the Airflow option
``[apisync] output_base`` (``AIRFLOW__APISYNC__OUTPUT_BASE``), e.g. ``s3://bucket/apisync``
through the Amazon provider; unset, it is ``file://$AIRFLOW_HOME/apisync``.

A local base only works when every task runs on one machine. With a distributed executor
(Celery, Kubernetes, CeleryKubernetes, Edge, ECS, Batch ...) one task's files would land
on a disk the next task never sees, so :func:`default_base` refuses a local base there, at
once and naming the option. An explicit ``output="file://..."`` on an operator is the DAG
author's own choice (a shared mount, say) and is never refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.compat import ObjectStoragePath

OPTION = "[apisync] output_base"
ENV_VAR = "AIRFLOW__APISYNC__OUTPUT_BASE"

# Executors that run every task on the machine of the scheduler: a local disk is shared.
SINGLE_MACHINE_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


def airflow_home() -> str:
    """``$AIRFLOW_HOME``, or Airflow's own default ``~/airflow``."""
    return os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")


def configured_base() -> str:
    """The raw ``[apisync] output_base`` value, ``""`` when unset."""
    from airflow_provider_apisync.compat import conf

    return str(conf.get("apisync", "output_base", fallback="") or "").strip()


def executors() -> list[str]:
    """Class names of the configured executors (``[core] executor`` may list several)."""
    from airflow_provider_apisync.compat import conf

    raw = str(conf.get("core", "executor", fallback="") or "")
    names = []
    for item in raw.split(","):
        item = item.strip()
        if item:  # "alias:module.path.Class", "module.path.Class" or a core name
            names.append(item.split(":")[-1].rsplit(".", 1)[-1])
    return names or ["LocalExecutor"]


def distributed_executor() -> str | None:
    """The first configured executor that runs tasks on other machines, else ``None``."""
    return next((e for e in executors() if e not in SINGLE_MACHINE_EXECUTORS), None)


def is_local(path: ObjectStoragePath) -> bool:
    """Whether ``path`` is on this machine's own file system."""
    return str(getattr(path, "protocol", "") or "file") in ("file", "local")


def default_base() -> ObjectStoragePath:
    """The base for every output without an explicit URI; see the module docstring.

    Raises :class:`ApiConfigError` (one line naming ``[apisync] output_base``) when the
    base is local and the executor is distributed.
    """
    raw = configured_base()
    if raw:
        if "://" not in raw:
            raw = "file://" + os.path.abspath(os.path.expanduser(raw))
        try:
            base = ObjectStoragePath(raw)
        except Exception as exc:
            raise ApiConfigError(
                OPTION,
                f"'{raw}' is not a usable storage URI ({exc}).",
                f"set {ENV_VAR} to e.g. s3://bucket/apisync with the matching provider installed.",
            ) from None
    else:
        base = ObjectStoragePath(f"file://{airflow_home()}/apisync")
    executor = distributed_executor()
    if executor is not None and is_local(base):
        raise ApiConfigError(
            OPTION,
            f"is the local path {base.path} but {executor} runs tasks on other machines, "
            "which cannot see this disk.",
            f"set {ENV_VAR} to shared storage such as s3://bucket/apisync "
            "(or give the operator an explicit output=file://... on a shared mount).",
        )
    return base


def safe_part(text: str) -> str:
    """``text`` with anything but letters, digits, ``-_.`` replaced: one path segment."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def run_segment(run_id: str) -> str:
    """``run_id`` as one folder name; dot-only ids (``.``/``..``, which Airflow's default
    run id pattern allows) are refused: they would make runs share or climb folders."""
    safe_run = safe_part(run_id)
    if safe_run.strip(".") == "":
        raise ApiConfigError(
            "run_id",
            f"'{run_id}' cannot name a run folder: dot-only names would make runs share a "
            "folder or climb out of it.",
            "trigger the run with another run id.",
        )
    return safe_run


def run_folder(
    context: Mapping[str, Any],
    kind: str = "",
    base: str | os.PathLike[str] | None = None,
    *,
    field: str = "output",
) -> ObjectStoragePath:
    """``<base>/<dag_id>/<task_id>/<run_id>[/map_<i>][/kind]`` for this task run.

    ``base`` is a user-given URI (checked by :func:`storage_path`, errors name ``field``),
    else :func:`default_base`. The default for outputs, ledgers and reports: scoping by
    task run keeps two runs (or two mapped instances) from sharing files or checkpoints.
    """
    ti = context["ti"]
    run_id = str(context.get("run_id") or getattr(ti, "run_id", "manual"))
    root = storage_path(base, field=field) if base else default_base()
    path = root / ti.dag_id / ti.task_id / run_segment(run_id)
    if getattr(ti, "map_index", -1) not in (-1, None):
        path = path / f"map_{ti.map_index}"
    return path / kind if kind else path


def storage_path(uri: str | os.PathLike[str], *, field: str) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a user-supplied URI or local path, with a clear error."""
    text = os.fspath(uri)
    if not text:
        raise ApiConfigError(field, "is empty.", "give a URI such as file:///data/out or s3://b/k.")
    if ".." in text.split("?", 1)[0].replace("\\", "/").split("/"):
        raise ApiConfigError(
            field,
            f"'{text}' contains a '..' segment: a templated value would climb out of its base.",
            "use a path without '..' (check the template and the values it renders).",
        )
    if "://" not in text:
        text = "file://" + os.path.abspath(text)
    try:
        return ObjectStoragePath(text)
    except Exception as exc:
        raise ApiConfigError(
            field,
            f"'{text}' is not a usable storage URI ({exc}).",
            "use file://, s3://, gs:// ... with the matching Airflow provider installed.",
        ) from None
