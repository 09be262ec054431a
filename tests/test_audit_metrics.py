"""Audit lines (one per attempt, no secrets) and metrics (Airflow stats == hook summary)."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from airflow.sdk.observability import stats
from resilience_support import API_KEY, client_for

from airflow_provider_apisync.client import (
    ApiClient,
    ApiClientError,
    ApiServerError,
    config_from_connection,
)
from airflow_provider_apisync.hooks import ApiSyncHook
from airflow_provider_apisync.testing import FakeApi, RateLimit

AUDIT = re.compile(
    r"^apisync (?P<method>[A-Z]+) (?P<path>\S+) status=(?P<status>\d+|ERR) ms=\d+ "
    r"attempt=(?P<attempt>\d+) correlation_id=(?P<cid>[0-9a-f]{32}) remaining=(?P<rem>\d+|-)"
    r"(?: error=(?P<error>\w+))?$"
)


def audit_lines(caplog) -> list[dict[str, str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_apisync.audit"]
    parsed = [AUDIT.match(line) for line in lines]
    assert all(parsed), lines
    return [m.groupdict() for m in parsed if m]


@pytest.fixture
def api():
    with FakeApi(seed={"contacts": 20}) as server:
        yield server


def test_one_audit_line_per_attempt_same_correlation_id(api, caplog):
    caplog.set_level(logging.DEBUG, logger="airflow_provider_apisync.audit")
    api.rate_limit = RateLimit(50, 60.0, headers="x")
    api.faults.add("status", path="/contacts/1", status=503, times=1)
    api.faults.add("drop", path="/contacts/1", times=1)
    client = client_for(api, max_retry_wait=0.01)
    client.request("GET", "/contacts/1", params={"fields": "id,name"})
    lines = audit_lines(caplog)
    assert [(x["status"], x["attempt"], x["error"]) for x in lines] == [
        ("503", "1", None),
        ("ERR", "2", "ConnectionError"),
        ("200", "3", None),
    ]
    assert {x["cid"] for x in lines} == {api.log()[0].headers.get("X-Request-ID")}
    assert lines[-1]["path"] == "/v1/contacts/1?fields=id%2Cname"
    assert lines[-1]["rem"] == "49"  # the server's remaining quota (the 503 was not counted)


BEARER = "test-bearer-token-0001"


def test_audit_lines_and_errors_carry_no_secrets(api, caplog):
    caplog.set_level(logging.DEBUG)
    in_query = {"auth_type": "api_key", "api_key_query_param": "api_key"}
    quick = {"max_retries": 1, "max_retry_wait": 0.01}
    api.faults.add("status", path="/contacts/2", status=500)
    failures = []
    for password, extra in ((API_KEY, in_query), (BEARER, {"auth_type": "bearer"})):
        client = ApiClient(
            config_from_connection(host=api.url, password=password, extra={**extra, **quick})
        )
        with pytest.raises(ApiServerError) as info:
            client.request("GET", "/contacts/2", params={"access_token": "tok-SECRET", "q": "v"})
        failures.append(info.value)
    lines = audit_lines(caplog)
    assert len(lines) == 4
    assert lines[0]["path"] == "/v1/contacts/2?access_token=***&q=v&api_key=***"
    assert lines[2]["path"] == "/v1/contacts/2?access_token=***&q=v"
    text = caplog.text + " ".join(str(e) + json.dumps(e.to_dict()) for e in failures)
    for secret in (API_KEY, BEARER, "tok-SECRET"):
        assert secret not in text
    audit_text = " ".join(r.getMessage() for r in caplog.records if r.name.endswith(".audit"))
    assert "injected fault" not in audit_text  # never a body


def test_error_carries_a_truncated_body_but_audit_lines_never_do(api, caplog):
    caplog.set_level(logging.DEBUG, logger="airflow_provider_apisync.audit")
    with pytest.raises(ApiClientError) as info:
        client_for(api).request("GET", "/contacts/999")
    assert "not found" in info.value.body
    assert "not found" not in caplog.text


# -- metrics ----------------------------------------------------------------------------------
class RecordingStats:
    """A stats backend for ``stats.initialize`` (Airflow's own plug point for StatsD/OTel)."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.timings: defaultdict[str, list[float]] = defaultdict(list)

    def incr(self, stat, count=1, rate=1, *, tags=None):
        self.counters[stat] += count

    def decr(self, stat, count=1, rate=1, *, tags=None):
        self.counters[stat] -= count

    def gauge(self, stat, value, rate=1, delta=False, *, tags=None):
        pass

    def timing(self, stat, dt, *, tags=None):
        assert isinstance(dt, timedelta)
        self.timings[stat].append(dt.total_seconds() * 1000)

    def timer(self, *args, **kwargs):  # pragma: no cover - not used by apisync
        raise NotImplementedError


@pytest.fixture
def recorded_stats():
    backend = RecordingStats()
    stats.initialize(factory=lambda: backend, export_legacy_names=False)
    yield backend
    stats.initialize(factory=_off, export_legacy_names=False)


def _off():
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger

    return NoStatsLogger()


def test_airflow_stats_match_the_hook_summary(api, set_conn, recorded_stats):
    api.rate_limit = RateLimit(4, 1.0, headers="none")  # 429 + Retry-After only
    api.faults.add("status", path="/contacts/3", status=503, times=1)
    set_conn("crm", api.url, password=API_KEY, extra={"auth_type": "api_key", "max_retry_wait": 2})
    hook = ApiSyncHook("crm")
    for i in range(6):
        hook.request("GET", f"/contacts/{i % 3 + 1}")
    with pytest.raises(ApiClientError):
        hook.request("GET", "/contacts/999")
    summary = hook.summary()
    json.dumps(summary)  # XCom-safe

    got = recorded_stats.counters
    assert summary["requests"] == got["apisync.requests"] == 7
    assert (
        summary["attempts"]
        == got["apisync.attempts"]
        == len(recorded_stats.timings["apisync.latency"])
    )
    assert summary["retries"] == got["apisync.retries"] >= 2  # the 503 and at least one 429
    assert summary["rate_limited"] == got["apisync.rate_limited"] == api.rate_limit.rejected >= 1
    # throttled = requests that waited (once each), the timings = every single wait
    assert summary["throttled"] == got["apisync.throttled"] >= 1
    assert len(recorded_stats.timings["apisync.throttled_ms"]) >= summary["throttled"]
    # sequential requests: the wall-clock time waited is the sum of the waits
    assert summary["throttled_s"] == pytest.approx(
        sum(recorded_stats.timings["apisync.throttled_ms"]) / 1000, abs=0.05
    )
    assert summary["errors"] == {"client": 1} and got["apisync.errors.client"] == 1
    assert summary["attempts"] == summary["requests"] + summary["retries"]


def test_metrics_off_or_broken_never_break_requests(api, set_conn):
    class Broken(RecordingStats):
        def incr(self, *a, **k):
            raise RuntimeError("statsd is down")

    set_conn("crm2", api.url, password=API_KEY, extra={"auth_type": "api_key"})
    assert ApiSyncHook("crm2").request("GET", "/contacts/1").status_code == 200  # metrics off
    stats.initialize(factory=Broken, export_legacy_names=False)
    try:
        hook = ApiSyncHook("crm2")
        assert hook.request("GET", "/contacts/1").status_code == 200
        assert hook.summary()["requests"] == 1
    finally:
        stats.initialize(factory=_off, export_legacy_names=False)
