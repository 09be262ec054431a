"""Where tasks write: the per-run output folder and user-given storage URIs (public)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_apisync.client.errors import ApiConfigError


def airflow_home() -> str:
    return os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")


def run_folder(context: Mapping[str, Any], kind: str = "") -> ObjectStoragePath:
    """``file://$AIRFLOW_HOME/apisync/<dag_id>/<task_id>/<run_id>/[kind]`` for this task run.

    The default for outputs, ledgers and reports when the user gives no URI; on
    multi-worker deployments point ``output`` at shared object storage instead.
    """
    ti = context["ti"]
    run_id = str(context.get("run_id") or getattr(ti, "run_id", "manual"))
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    path = ObjectStoragePath(f"file://{airflow_home()}/apisync/{ti.dag_id}/{ti.task_id}/{safe_run}")
    if getattr(ti, "map_index", -1) not in (-1, None):
        path = path / f"map_{ti.map_index}"
    return path / kind if kind else path


def storage_path(uri: str | os.PathLike[str], *, field: str) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a user-supplied URI or local path, with a clear error."""
    text = os.fspath(uri)
    if not text:
        raise ApiConfigError(field, "is empty.", "give a URI such as file:///data/out or s3://b/k.")
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
