"""Chaos: 20 % injected 5xx, dropped connections, timeouts and truncated bodies.

Every logical request must succeed in the end, and the client's retry counters must
match, one for one, the faults the server says it injected.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from resilience_support import client_for

from airflow_provider_apisync.testing import FakeApi, RateLimit

N = 500
KINDS = [  # (fault kind, options, what the client records for that attempt)
    ("status", {"status": 503}, "503"),
    ("status", {"status": 502}, "502"),
    ("drop", {}, "ConnectionError"),
    ("slow", {"delay": 0.5}, "ReadTimeout"),  # beyond the 0.2 s read timeout
    ("truncate", {}, "ChunkedEncodingError"),
]


def inject(api: FakeApi, total_rate: float, seed: int) -> None:
    """Each kind fires on ``total_rate / len(KINDS)`` of all attempts (rules are tried in
    order, so later rules get the conditional rate)."""
    api.faults.rng = random.Random(seed)
    share = total_rate / len(KINDS)
    left = 1.0
    for kind, options, _ in KINDS:
        api.faults.add(kind, rate=share / left, **options)
        left -= share


def call(client, i: int) -> None:
    if i % 5 == 0:  # PUT is idempotent: retried like GET; the record ends up written once
        resp = client.request("PUT", f"/contacts/{1000 + i}", json={"name": f"n{i}"})
        assert resp.json()["name"] == f"n{i}"
    else:
        assert client.request("GET", f"/contacts/{i % 50 + 1}").json()["id"] == i % 50 + 1


@pytest.mark.timeout(120)
def test_chaos_every_request_succeeds_and_retries_match_faults():
    with FakeApi(seed={"contacts": 50}) as api:
        inject(api, 0.20, seed=20)
        client = client_for(api, timeout=[2, 0.2], max_retry_wait=0.05, max_retries=8)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: call(client, i), range(N)))
        injected = dict(api.faults.injected)
        log = api.log()
        puts = {r["id"]: r["name"] for r in api.collection("contacts").all() if r["id"] >= 1000}

    stats = client.stats.summary()
    faults = sum(injected.values())
    assert 0.15 * N < faults < 0.35 * N, injected  # ~20 % of ~625 attempts
    assert set(injected) == {"status", "drop", "slow", "truncate"}
    assert stats["requests"] == N and stats["errors"] == {}
    assert stats["retries"] == faults  # one retry per injected fault, no more, no less
    assert stats["attempts"] == N + faults == len(log)
    seen = Counter(stats["statuses"])
    assert seen["503"] + seen["502"] == injected["status"]
    for kind, _, recorded in KINDS[2:]:
        assert seen[recorded] == injected[kind], (kind, seen)
    per_request = Counter(r.headers.get("X-Request-ID") for r in log)
    assert len(per_request) == N  # one correlation id per logical request, kept on retries
    assert sum(n - 1 for n in per_request.values()) == faults
    assert puts == {1000 + i: f"n{i}" for i in range(0, N, 5)}


def test_chaos_under_a_rate_limit_needs_no_429():
    limit = RateLimit(100, 1.0, headers="ietf", integer_seconds=True)
    with FakeApi(seed={"contacts": 50}, rate_limit=limit) as api:
        inject(api, 0.10, seed=10)
        # quota waits are capped by max_retry_wait too: leave room for a 1 s window
        client = client_for(api, timeout=[2, 0.2], max_retry_wait=2, max_retries=8)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: call(client, i), range(300)))
        faults = api.faults.total
    assert limit.rejected == 0
    assert client.stats.retries == faults > 0
    assert client.stats.summary()["errors"] == {}
