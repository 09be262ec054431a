"""Where tasks write: the per-run output folder and user-given storage URIs (public)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.compat import ObjectStoragePath
from airflow_provider_apisync.runtime.folders import airflow_home, run_segment, task_run_path

__all__ = ["airflow_home", "run_folder", "run_segment", "storage_path"]


def run_folder(context: Mapping[str, Any], kind: str = "") -> ObjectStoragePath:
    """``<[apisync] output_base>/<dag_id>/<task_id>/<run_id>[/map_<i>]/[kind]`` for this run.

    The default for outputs, ledgers and reports when the user gives no URI; see
    :mod:`airflow_provider_apisync.runtime.folders` (one base for every worker).
    """
    return task_run_path(context, kind)


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
