"""Task-log behaviour at unit level: audit lines at DEBUG (INFO on request), periodic
progress, throttled counted per request and in wall-clock seconds, the human summary
table, short refusal reasons. The same things in a real Airflow task log:
``test_task_logs_dag.py``."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from resilience_support import client_for

from airflow_provider_apisync.client import ApiConfigError, config_from_connection
from airflow_provider_apisync.client.progress import ProgressLog
from airflow_provider_apisync.push.reasons import key_text, short_reason
from airflow_provider_apisync.runtime.summary import SUMMARY_MARKER, log_summary, summary_table
from airflow_provider_apisync.testing import FakeApi

AUDIT = "airflow_provider_apisync.audit"


@pytest.fixture(scope="module")
def api():
    with FakeApi(seed={"contacts": 30}) as server:
        yield server


def audit_at(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == AUDIT and r.levelno == level]


def test_audit_lines_are_debug_by_default(api, caplog):
    caplog.set_level(logging.DEBUG, logger=AUDIT)
    client_for(api).request("GET", "/contacts/1")
    assert audit_at(caplog, logging.INFO) == []
    assert [line.split(" status=")[0] for line in audit_at(caplog, logging.DEBUG)] == [
        "apisync GET /v1/contacts/1"
    ]


def test_log_requests_extra_raises_audit_and_retry_lines_to_info(api, caplog):
    caplog.set_level(logging.INFO, logger="airflow_provider_apisync")
    for log_requests in (False, True):
        api.faults.add("status", path="/contacts/2", status=503, times=1)
        try:
            client = client_for(api, log_requests=log_requests, max_retry_wait=0.01)
            client.request("GET", "/contacts/2")
        finally:
            api.faults.clear()
        if not log_requests:
            assert audit_at(caplog, logging.INFO) == []
            assert "retrying after" not in caplog.text
    assert [line.split(" ms=")[0] for line in audit_at(caplog, logging.INFO)] == [
        "apisync GET /v1/contacts/2 status=503",
        "apisync GET /v1/contacts/2 status=200",
    ]
    assert "retrying after server (503)" in caplog.text


@pytest.mark.parametrize("value", ["sometimes", 2])
def test_log_requests_must_be_a_boolean(value):
    with pytest.raises(ApiConfigError, match=r"log_requests: '.*' is not a boolean.*true or false"):
        config_from_connection(host="https://api.example", extra={"log_requests": value})


def test_progress_line_every_n_seconds_not_per_request(api, caplog):
    caplog.set_level(logging.INFO, logger="airflow_provider_apisync")
    now = [100.0]
    client = client_for(api)
    assert client.config.progress_every == 30.0  # the documented default
    client.progress = ProgressLog(client.stats, 30.0, clock=lambda: now[0])
    for i in range(1, 11):  # 10 requests, 10 "seconds" apart: lines at 30 s and 60 s
        now[0] += 10
        client.request("GET", f"/contacts/{i}", params={"token": "t0ps3cret"})
    lines = [r.getMessage() for r in caplog.records if r.name.endswith(".progress")]
    assert lines == [
        "progress after 30s: 3 requests (0 retries, 0 errors), 0 throttled (0.0s waited); "
        "last GET /v1/contacts/3 -> 200",
        "progress after 60s: 6 requests (0 retries, 0 errors), 0 throttled (0.0s waited); "
        "last GET /v1/contacts/6 -> 200",
        "progress after 90s: 9 requests (0 retries, 0 errors), 0 throttled (0.0s waited); "
        "last GET /v1/contacts/9 -> 200",
    ]
    assert not [r for r in caplog.records if r.name == AUDIT and r.levelno >= logging.INFO]


def test_progress_every_zero_is_off_and_bad_values_are_refused():
    config = config_from_connection(host="https://a.example", extra={"progress_every": 0})
    assert config.progress_every == 0
    with pytest.raises(ApiConfigError, match="progress_every"):
        config_from_connection(host="https://a.example", extra={"progress_every": "soon"})


def test_throttled_counts_requests_and_wall_clock_seconds_not_thread_waits(api):
    """4 threads, a client-side budget of 10 requests/s: 20 requests take ~1.8 s; waits
    overlap, so the per-thread sum of waits is far above the time actually lost."""
    client = client_for(api, rate_limit={"requests": 2, "per_seconds": 0.2})
    started = time.monotonic()

    def work(ids: list[int]) -> None:
        for i in ids:
            client.request("GET", f"/contacts/{i}")

    threads = [threading.Thread(target=work, args=([*range(t + 1, 21, 4)],)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    summary = client.stats.summary()
    assert summary["requests"] == 20
    assert 10 <= summary["throttled"] <= 18  # the first two had budget; each counted once
    assert 1.0 <= summary["throttled_s"] <= elapsed + 0.01  # never more than the run took


PUSH = {
    "pushed": 142,
    "skipped": 0,
    "failed": 2,
    "rejected": 2,
    "invalid": 0,
    "unknown": 0,
    "records": 144,
    "dead_letter": "file:///runs/push/dead_letter",
    "dead_letter_files": ["try-1.jsonl"],
    "requests": 165,
    "retries": 21,
    "throttled": 30,
    "throttled_s": 3.25,
    "errors": {},
    "statuses": {"200": 142, "422": 2},
    "duration_s": 4.5,
}


def test_summary_table_is_short_and_counts_failures_once():
    lines = summary_table("upsert_customers", PUSH)
    assert lines == [
        "apisync summary — upsert_customers",
        "  records        144",
        "  written        142 pushed",
        "  failed         2 (2 rejected by the API)",
        "  requests       165 (21 retries)",
        "  throttled      30 requests waited 3.2 s in all",
        "  duration       4.5 s",
        "  dead letters   file:///runs/push/dead_letter",
    ]


def test_log_summary_writes_the_table_then_the_machine_line(caplog):
    caplog.set_level(logging.INFO, logger="t")
    log_summary(logging.getLogger("t"), "pull", {"records": 5, "files": ["a", "b"], "extra": 1})
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:3] == ["apisync summary — pull", "  records        5", "  extra          1"]
    assert messages[3] == f'{SUMMARY_MARKER} {{"task_id": "pull", "records": 5, ' + (
        '"files": ["a", "b"], "extra": 1}'
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (b'{"error": "invalid", "errors": {"total": "must be > 0"}}', "total: must be > 0"),
        ({"error": {"message": "No such customer", "type": "x"}}, "No such customer"),
        ('[{"message": "Required field missing", "errorCode": "X"}]', "Required field missing"),
        ({"type": "about:blank", "title": "Bad Request", "detail": "bad email"}, "bad email"),
        ("upstream said no", "upstream said no"),
        (None, "no reason given"),
        ("x" * 500, "x" * 159 + "…"),
    ],
)  # fmt: skip
def test_short_reason_finds_the_readable_part(error, reason):
    assert short_reason(error) == reason


def test_key_text_is_not_a_python_list():
    assert key_text(["INV-2026-00007"]) == "INV-2026-00007"
    assert key_text(["acme", 7]) == "acme/7"
    assert key_text(None) == "(no key)"
