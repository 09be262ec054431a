"""Keep secret values out of Airflow 3's in-process task comms log (``airflow dags test``).

``airflow dags test`` on Airflow 3 runs each task in-process; ``InProcessSupervisorComms``
logs every request the task sends to the supervisor at debug level, and that includes
``MaskSecret(value=<the secret>)`` — sent for a connection's password when it is read and for
every token apisync mints. In the ``dags test`` process structlog is left unconfigured on
Airflow 3.0 (so debug lines are printed): a bearer token or API key lands in the console.
The line is logged before the masker knows the value, so masking cannot catch it.

:func:`hide_mask_secret_values` puts one structlog processor first in the chain: a
``MaskSecret`` in a log event is replaced by its type name, which is what the supervisor
itself logs when it receives one. Nothing else in any log line changes.
"""

from __future__ import annotations

from typing import Any

HIDDEN = "MaskSecret(value=<hidden>)"

_kinds: tuple[type, ...] = ()


def hide_mask_secret_event(_logger: Any, _method: str, event_dict: Any) -> Any:
    """structlog processor: every ``MaskSecret`` value in the event becomes :data:`HIDDEN`."""
    if _kinds and isinstance(event_dict, dict):
        for key, value in event_dict.items():
            if isinstance(value, _kinds):
                event_dict[key] = HIDDEN
    return event_dict


def hide_mask_secret_values(mask_secret_type: type) -> None:
    """Put :func:`hide_mask_secret_event` first in structlog's processors (idempotent).

    ``mask_secret_type`` is the task SDK's ``MaskSecret`` (``compat`` passes it on Airflow 3).
    A later ``structlog.configure`` by Airflow replaces the chain; Airflow's own configuration
    filters debug lines and masks secrets, so that is safe.
    """
    global _kinds
    import structlog

    _kinds = (mask_secret_type,)
    processors = list(structlog.get_config().get("processors") or [])
    if hide_mask_secret_event not in processors:
        structlog.configure(processors=[hide_mask_secret_event, *processors])
