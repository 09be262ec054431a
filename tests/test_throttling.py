"""Proactive pacing against FakeApi's rate limits: use the quota without eating 429s.

FakeApi allows R=100 requests per 1 s window. 300 requests are three windows' worth, so
every run exhausts the quota at least twice. Servers round ``t``/``Retry-After`` up to
whole seconds here, as real ones do.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from resilience_support import SleepRecorder, client_for

from airflow_provider_apisync.client import ApiRateLimitError, RateLimitStatus
from airflow_provider_apisync.client.ratelimit import QuotaWaitTooLong, Throttle
from airflow_provider_apisync.testing import FakeApi, RateLimit

R, WINDOW, N = 100, 1.0, 300


@pytest.fixture(scope="module")
def server():
    with FakeApi(seed={"contacts": 5}) as api:
        yield api


@pytest.fixture
def limited(server):
    """``limited(RateLimit(...))`` -> the module's FakeApi enforcing that limit."""

    def install(limit: RateLimit | None) -> FakeApi:
        server.rate_limit = limit
        return server

    server.clear_log()
    yield install
    server.rate_limit = None


def run(api: FakeApi, client, n: int = N, threads: int = 1) -> float:
    started = time.monotonic()
    if threads == 1:
        for i in range(n):
            client.request("GET", f"/contacts/{i % 5 + 1}")
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda i: client.request("GET", f"/contacts/{i % 5 + 1}"), range(n)))
    return time.monotonic() - started


def utilisation(n: int, elapsed: float) -> float:
    return (n / elapsed) / (R / WINDOW)


@pytest.mark.parametrize(
    ("headers", "mode", "threads"),
    [
        ("ietf", "fixed", 1),  # draft-11 RateLimit/RateLimit-Policy, whole-second t
        ("x", "fixed", 1),  # X-RateLimit-*, whole-second epoch reset, no window length
        ("ietf", "sliding", 1),  # quota returns unit by unit: the client paces
        ("ietf", "fixed", 16),  # pushes run 16 threads on one client
    ],
)
def test_announced_quota_is_used_without_a_single_429(limited, headers, mode, threads):
    limit = RateLimit(R, WINDOW, headers=headers, mode=mode, integer_seconds=True)
    api = limited(limit)
    client = client_for(api)
    elapsed = run(api, client, threads=threads)
    assert limit.rejected == 0, f"{limit.rejected} requests got a 429"
    assert limit.allowed == N
    summary = client.stats.summary()
    assert summary["rate_limited"] == 0 and summary["retries"] == 0
    assert summary["throttled"] > 0  # it did wait, proactively
    # a loose sanity bound only (no window wasted wholesale); measured utilisation lives in
    # bench/ratelimit.py, since timings on a loaded 2-core machine vary too much to assert on
    assert utilisation(N, elapsed) > 0.6, f"{elapsed:.2f} s for {N} requests"


def test_without_headers_every_wait_is_the_servers_hint(limited):
    limit = RateLimit(R, WINDOW, headers="none", integer_seconds=True)
    sleep = SleepRecorder()
    api = limited(limit)
    client = client_for(api, sleep=sleep)
    run(api, client)
    assert limit.allowed == N
    assert limit.rejected >= 1
    assert limit.retry_after_sent and all(h >= 1 for h in limit.retry_after_sent)
    assert sleep.waits == limit.retry_after_sent  # nothing but the hints, each exactly
    summary = client.stats.summary()
    assert summary["rate_limited"] == limit.rejected == summary["retries"]
    assert summary["throttled"] == limit.rejected
    assert summary["throttled_s"] == pytest.approx(sum(limit.retry_after_sent), abs=0.05)


def test_bare_429_falls_back_to_backoff(limited):
    limit = RateLimit(5, 1.0, headers="none", retry_after=False)
    api = limited(limit)
    client = client_for(api, max_retry_wait=0.5, max_retries=10)
    run(api, client, n=12)
    assert limit.allowed == 12 and limit.rejected > 0
    assert client.stats.retries == limit.rejected


def test_quota_reset_beyond_max_retry_wait_fails_fast(limited):
    limit = RateLimit(2, 30.0, headers="ietf")
    api = limited(limit)
    client = client_for(api, max_retry_wait=1)
    run(api, client, n=2)
    started = time.monotonic()
    with pytest.raises(ApiRateLimitError) as info:
        client.request("GET", "/contacts/1")
    assert time.monotonic() - started < 0.5
    assert limit.rejected == 0  # refused by the client, not by the server
    assert info.value.retry_after > 25
    assert "max_retry_wait" in str(info.value)


def test_quota_floor_leaves_units_for_other_consumers(limited):
    limit = RateLimit(10, 1.0, headers="ietf")
    api = limited(limit)
    client = client_for(api)
    client.throttle.floor = 3
    run(api, client, n=14)
    windows = [limit.window_index(r.at) for r in api.log("GET")]
    per_window = {w: windows.count(w) for w in set(windows)}
    assert max(per_window.values()) <= 7
    assert limit.rejected == 0


def test_client_side_budget_is_shared_by_threads(limited):
    api = limited(None)
    client = client_for(api, rate_limit={"requests": 10, "per_seconds": 1})
    elapsed = run(api, client, n=30, threads=4)
    times = sorted(r.at for r in api.log("GET"))
    # a bucket of 10 that refills at 10/s: 10 at once, then 20 more over 2 s
    assert 1.8 <= elapsed < 3.5
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 21


# -- the throttle on its own (fake clock, no server) -----------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def status(remaining=None, reset_in=None, limit=None, now=1_000.0):
    reset = None if reset_in is None else datetime.fromtimestamp(now + reset_in, tz=timezone.utc)
    return RateLimitStatus(limit=limit, remaining=remaining, reset_at=reset)


def test_out_of_order_responses_never_raise_the_estimate():
    """A is sent first and counted first (r=5), B second (r=4); B's answer arrives first.
    The estimate must stay at or below the true 4 left, whatever the arrival order."""
    throttle = Throttle()
    b_admitted, b_observed = threading.Event(), threading.Event()

    def first():
        throttle.before_request()
        b_admitted.wait(5)
        b_observed.wait(5)
        throttle.observe(status(remaining=5, reset_in=60))

    a = threading.Thread(target=first)
    a.start()
    time.sleep(0.05)
    throttle.before_request()
    b_admitted.set()
    throttle.observe(status(remaining=4, reset_in=60))
    b_observed.set()
    a.join(5)
    assert throttle.remaining is not None and throttle.remaining <= 4


def test_after_a_reset_one_probe_goes_first_and_a_header_less_answer_ends_probing():
    clock = FakeClock()
    throttle = Throttle(clock=clock, sleep=clock.sleep)
    throttle.before_request()
    throttle.observe(status(remaining=0, reset_in=2, limit=10, now=clock.now))
    assert throttle.before_request() == pytest.approx(2.0)  # waited for the reset: the probe
    assert throttle._probing
    throttle.observe(status(limit=10, now=clock.now))  # no remaining announced
    assert not throttle._probing  # else every later request would go one at a time
    assert throttle.before_request() == throttle.before_request() == 0.0


def test_quota_beyond_max_wait_raises_instead_of_sleeping():
    clock = FakeClock()
    throttle = Throttle(max_wait=5, clock=clock, sleep=clock.sleep)
    throttle.before_request()
    throttle.observe(status(remaining=0, reset_in=3600, now=clock.now))
    with pytest.raises(QuotaWaitTooLong) as info:
        throttle.before_request()
    assert info.value.seconds == pytest.approx(3600) and clock.slept == []
