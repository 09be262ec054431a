"""One vocabulary for every apisync operator and sensor: refuse old and reserved names.

``query`` (HTTP query parameters), ``record_key``, ``concurrency`` and ``output`` mean the
same on every task (docs/operators.md "One vocabulary"). A DAG author who passes an old
name, or Airflow's reserved ``params`` meant as the query, gets an error naming the field
and the right name -- never a silently ignored argument. The check runs in ``__new__``:
BaseOperator's metaclass replaces ``params`` with the DAG's Params before ``__init__``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError

#: old argument name -> what to write now.
RENAMED = {
    "request_params": "query=",
    "primary_key": "record_key=",
    "read_concurrency": "concurrency=",
    "report_uri": "output=",
    "ledger_uri": "output=",
    "dead_letter_uri": "output=",
}


def refuse_old_names(
    cls: type, kwargs: dict[str, Any], renamed: dict[str, str], query: str | None = "query={...}"
) -> None:
    """Raise ``ApiConfigError`` for the first old or reserved name in ``kwargs``;
    ``query`` is where the task takes query parameters (None: it sends none)."""
    if kwargs.get("_airflow_from_mapped"):
        return  # Airflow unmapping a mapped task: it passes the DAG's params itself
    if "params" in kwargs:
        raise ApiConfigError(
            "params",
            f"{cls.__name__} does not send params: that name is Airflow's Params (DAG "
            "parameters for templates, {{ params.x }}), not the HTTP query of the request.",
            (f"pass query parameters as {query}; " if query else "")
            + "set Airflow Params on the DAG.",
        )
    for old in kwargs:
        if old in renamed:
            raise ApiConfigError(
                old,
                f"{cls.__name__} has no argument '{old}' (renamed: one vocabulary, "
                "docs/operators.md).",
                f"use {renamed[old]} instead.",
            )


class Vocabulary:
    """Mixin for apisync operators and sensors: old and reserved names fail at parse time."""

    renamed: dict[str, str] = RENAMED
    query_argument: str | None = "query={...}"

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        refuse_old_names(cls, kwargs, cls.renamed, cls.query_argument)
        return super().__new__(cls)
