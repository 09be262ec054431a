"""Every Airflow name apisync uses, importable on Airflow 2.11 and 3.0 through 3.3.

**Import Airflow names from here, never from ``airflow.sdk`` directly**::

    from airflow_provider_apisync.compat import BaseHook, ObjectStoragePath, Stats

Names whose home moved between Airflow lines come from
``apache-airflow-providers-common-compat`` (the ecosystem's own shim, the one the official
providers use); the few it does not cover (timetables, ``DateTimeTrigger``, file iteration,
the asset-event ``extra`` query) are resolved below, once, by version — so no other module
needs a ``try/except ImportError``. ``tests/test_compat.py`` fails when another module of
the package imports from ``airflow`` directly (anything but the shim and a short, reasoned
allowlist), and always for one of :data:`COMPAT_NAMES`.

Features newer than the running Airflow degrade to a fallback and say so once with
:func:`degraded` (one log line, also in the task log). The support table is in
docs/README.md ("Supported Airflow versions").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    DAG,
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowPlugin,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    Asset,
    BaseHook,
    BaseOperator,
    BaseSensorOperator,
    Connection,
    Context,
    ObjectStoragePath,
    Param,
    PokeReturnValue,
    Stats,
    TaskDeferred,
    Variable,
    conf,
    dag,
    get_current_context,
    mask_secret,
    redact,
    task,
)
from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
    get_base_airflow_version_tuple,
)

from airflow_provider_apisync.log_guard import hide_mask_secret_values

if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import CronDataIntervalTimetable, CronTriggerTimetable
else:  # 2.11 - 3.1: core's timetables (the task SDK has them from 3.2)
    from airflow.timetables.interval import CronDataIntervalTimetable
    from airflow.timetables.trigger import CronTriggerTimetable

if TYPE_CHECKING or AIRFLOW_V_3_0_PLUS:
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
else:  # 2.11: core's copy (the standard provider's needs Airflow 3 to defer)
    from airflow.triggers.temporal import DateTimeTrigger

if TYPE_CHECKING or AIRFLOW_V_3_0_PLUS:
    from airflow.sdk.execution_time.context import OutletEventAccessors
else:  # 2.11
    from airflow.utils.context import OutletEventAccessors

log = logging.getLogger("airflow_provider_apisync.compat")

if AIRFLOW_V_3_2_PLUS and not AIRFLOW_V_3_3_PLUS and getattr(Stats, "factory", None) is None:
    # 3.2's task-SDK Stats stays a no-op until the task runner's main() initializes it, so a
    # hook used outside it (dags test, plain scripts) dropped every metric: initialize it
    # from [metrics] the way the task runner does (the runner re-initializes it anyway).
    from airflow.sdk.observability.metrics import stats_utils

    _stats: Any = Stats  # 3.2's signatures (mypy sees 3.3's)
    _factory: Any = stats_utils.get_stats_factory
    _stats.initialize(factory=_factory(_stats))

if AIRFLOW_V_3_0_PLUS:  # `dags test` must not print MaskSecret values (see log_guard)
    from airflow.sdk.execution_time.comms import MaskSecret

    hide_mask_secret_values(MaskSecret)

#: The running Airflow as ``(major, minor, micro)``.
AIRFLOW_VERSION: tuple[int, int, int] = get_base_airflow_version_tuple()
AIRFLOW_VERSION_STR = ".".join(map(str, AIRFLOW_VERSION))

#: Airflow names re-exported here; the drift test rejects direct imports of these.
COMPAT_NAMES = frozenset(
    {
        "AirflowException",
        "OutletEventAccessors",
        "redact",
        "Param",
        "DAG",
        "AirflowFailException",
        "AirflowNotFoundException",
        "AirflowPlugin",
        "AirflowSensorTimeout",
        "AirflowSkipException",
        "AirflowTaskTimeout",
        "Asset",
        "BaseHook",
        "BaseOperator",
        "BaseSensorOperator",
        "Connection",
        "Context",
        "CronDataIntervalTimetable",
        "CronTriggerTimetable",
        "DateTimeTrigger",
        "ObjectStoragePath",
        "PokeReturnValue",
        "Stats",
        "TaskDeferred",
        "Variable",
        "conf",
        "dag",
        "get_current_context",
        "get_fernet",
        "mask_secret",
        "task",
    }
)

_said: set[str] = set()


def degraded(feature: str, fallback: str, *, needs: str) -> None:
    """Say once per process that ``feature`` (needs Airflow ``needs``) falls back here."""
    if feature in _said:
        return
    _said.add(feature)
    log.info(
        "apisync: %s needs Airflow >= %s; on Airflow %s using %s instead",
        feature,
        needs,
        AIRFLOW_VERSION_STR,
        fallback,
    )


def dagbag_class() -> Any:
    """Airflow's ``DagBag`` (moved to ``airflow.dag_processing`` in 3.2), imported on demand."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]
    return DagBag


def get_fernet() -> Any:
    """Airflow's Fernet for the configured ``[core] fernet_key``, imported on demand.

    The task SDK has it in ``airflow.sdk.crypto`` on the newest lines; older ones only in
    ``airflow.models.crypto``.
    """
    import importlib.util

    if importlib.util.find_spec("airflow.sdk.crypto") is not None:
        from airflow.sdk.crypto import get_fernet as sdk_fernet

        return sdk_fernet()
    from airflow.models.crypto import get_fernet as core_fernet

    return core_fernet()


def variable_get(key: str, default: Any = None, *, deserialize_json: bool = False) -> Any:
    """``Variable.get`` with a default on every line: the keyword is ``default`` in the task
    SDK (3.x) and ``default_var`` on 2.11, so the default is passed by position."""
    return Variable.get(key, default, deserialize_json=deserialize_json)


def json_extra_equals(column: Any, key: str, value: str) -> Any:
    """SQL filter ``column[key] == value`` for an asset-event ``extra`` column on every line.

    Airflow >= 3.2 types ``extra`` as SQLAlchemy ``JSON``; 2.11 - 3.1 use
    ``sqlalchemy_jsonfield.JSONField`` (text on SQLite), whose comparator has no JSON path
    index (``NotImplementedError``). ``type_coerce`` to ``JSON`` adds no SQL cast, only the
    comparator: ``json_extract`` on SQLite/MySQL, ``->>`` on Postgres, on every line alike.
    """
    from sqlalchemy import JSON, type_coerce

    return type_coerce(column, JSON)[key].as_string() == value


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_VERSION_STR",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "COMPAT_NAMES",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowPlugin",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "Connection",
    "Context",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DateTimeTrigger",
    "ObjectStoragePath",
    "OutletEventAccessors",
    "Param",
    "PokeReturnValue",
    "Stats",
    "TaskDeferred",
    "Variable",
    "conf",
    "dag",
    "dagbag_class",
    "degraded",
    "get_current_context",
    "get_fernet",
    "hide_mask_secret_values",
    "json_extra_equals",
    "mask_secret",
    "redact",
    "task",
    "variable_get",
]
