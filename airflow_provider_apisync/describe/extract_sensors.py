"""Descriptions of the apisync sensors: ``RateLimitWindowSensor``, ``DataFreshnessSensor``."""

from __future__ import annotations

from typing import Any

from airflow_provider_apisync.client.retry import PROBE_MAX_WAIT, PROBE_RETRIES
from airflow_provider_apisync.describe.model import Call, Extract, extractor
from airflow_provider_apisync.describe.values import (
    code,
    codes,
    duration,
    plain,
    safe_headers,
    safe_params,
)


def waiting(task: Any, reason: str, hint: str) -> str:
    """How the sensor waits between checks (``hint``: when it checks again), and when it
    gives up."""
    timeout = getattr(task, "timeout", None)
    poke = f"`poke_interval` {duration(getattr(task, 'poke_interval', None))}"
    hinted = hint.format(poke=poke)
    if getattr(task, "deferrable", False):
        how = f"deferred while {reason} (no worker slot held); checks again {hinted}"
    else:
        how = f"mode {code(getattr(task, 'mode', 'poke'))}: checks again {hinted}"
    give_up = f"gives up after {duration(timeout)}" if timeout else "no timeout"
    if getattr(task, "soft_fail", False):
        give_up += " (skipped, `soft_fail`)"
    return f"{how}; {give_up}"


def probe_retries() -> str:
    return (
        f"probes are retried at most {PROBE_RETRIES} times (waits up to "
        f"{duration(PROBE_MAX_WAIT)}), never on 429 and with no proactive quota sleeps: "
        "the sensor does the waiting"
    )


@extractor("RateLimitWindowSensor")
def rate_limit_window(task: Any) -> Extract:
    """``RateLimitWindowSensor``: wait until the quota has room."""
    found = Extract("sensor", conn_id=getattr(task, "apisync_conn_id", None))
    method = str(getattr(task, "method", "GET"))
    endpoint = str(getattr(task, "endpoint", "/"))
    found.calls.append(Call(method, endpoint, "probe the rate-limit window"))
    paths = [
        f"{label} at {code(getattr(task, attr))}"
        for attr, label in (
            ("remaining_path", "remaining"),
            ("reset_path", "reset"),
            ("limit_path", "limit"),
        )
        if getattr(task, attr, None)
    ]
    found.add(
        "Waiting",
        f"done when the remaining quota >= {getattr(task, 'min_remaining', 1)}, read from "
        + (", ".join(paths) + " in the JSON body" if paths else "the rate-limit headers")
        + "; a 429 (or GitHub's 403 with remaining 0) is a closed window, not a failure",
        waiting(
            task,
            "the window is closed",
            "at the reset the API announces"
            + (f" + {duration(task.reset_margin)}" if getattr(task, "reset_margin", 0) else "")
            + ", else after {poke}",
        ),
    )
    found.add("Retries", probe_retries())
    found.add(
        "Outputs",
        f"XCom: {codes(('open', 'remaining', 'limit', 'reset_at', 'status', 'endpoint'))}",
    )
    found.limits.append(
        "Each check spends one request of the quota unless the endpoint is a free status "
        "endpoint (GitHub `/rate_limit`, Salesforce `/limits`)."
    )
    found.limits.append(
        "Other clients can use the quota between this check and the next task's requests."
    )
    return found


@extractor("DataFreshnessSensor")
def data_freshness(task: Any) -> Extract:
    """``DataFreshnessSensor``: wait until the newest record is recent enough."""
    found = Extract("sensor", conn_id=getattr(task, "apisync_conn_id", None))
    endpoint = str(getattr(task, "endpoint", ""))
    found.calls.append(Call("GET", endpoint, "read the newest timestamp"))
    params = getattr(task, "query", None) or {}
    headers = getattr(task, "headers", None) or {}
    ts_path = getattr(task, "timestamp_path", None)
    where = (
        f"the timestamp at {code(ts_path)}"
        if ts_path
        else f"the newest {code(getattr(task, 'timestamp_field', None))} among the records at "
        + code(getattr(task, "records_path", None) or "(the body)")
    )
    max_age = getattr(task, "max_age", None)
    rule = (
        f"at most {duration(max_age)} old"
        if max_age is not None
        else f"at least {code(plain(getattr(task, 'newer_than', None)))}"
    )
    found.add(
        "Request",
        f"query parameters: {code(plain(safe_params(params)))}" if params else None,
        f"headers: {', '.join(safe_headers(headers))}" if headers else None,
    )
    found.add(
        "Waiting",
        f"done when {where} is {rule}; a 404 means no data yet, a 429 waits for the reset",
        waiting(task, "the data is stale", "after {poke} (after a 429: at the announced reset)"),
    )
    found.add("Retries", probe_retries())
    found.add(
        "Outputs",
        f"XCom: {codes(('fresh', 'state', 'newest', 'lag_s', 'endpoint', 'checked_at'))}",
    )
    found.limits.append(
        "Only the first page is read: sort or filter so the newest record is on it."
    )
    return found
