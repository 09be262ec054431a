"""Where tasks write: the per-run output folder and user-given storage URIs (public)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.compat import ObjectStoragePath


def airflow_home() -> str:
    return os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")


def run_folder(context: Mapping[str, Any], kind: str = "") -> ObjectStoragePath:
    """``file://$AIRFLOW_HOME/apisync/<dag_id>/<task_id>/<run_id>/[kind]`` for this task run.

    The default for outputs, ledgers and reports when the user gives no URI; on
    multi-worker deployments point ``output`` at shared object storage instead.
    """
    ti = context["ti"]
    safe_run = run_segment(str(context.get("run_id") or getattr(ti, "run_id", "manual")))
    path = ObjectStoragePath(f"file://{airflow_home()}/apisync/{ti.dag_id}/{ti.task_id}/{safe_run}")
    if getattr(ti, "map_index", -1) not in (-1, None):
        path = path / f"map_{ti.map_index}"
    return path / kind if kind else path


def run_segment(run_id: str) -> str:
    """``run_id`` as one folder name; dot-only ids (``.``/``..``, which Airflow's default
    run id pattern allows) are refused: they would make runs share or climb folders."""
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    if safe_run.strip(".") == "":
        raise ApiConfigError(
            "run_id",
            f"'{run_id}' cannot name a run folder: dot-only names would make runs share a "
            "folder or climb out of it.",
            "trigger the run with another run id.",
        )
    return safe_run


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
