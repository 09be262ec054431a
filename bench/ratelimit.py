"""Rate-limit utilisation: apisync's pacing vs the Airflow HTTP provider and a raw loop.

FakeApi (in its own process) allows LIMIT requests per WINDOW_S-second window and rounds
``t``, resets and ``Retry-After`` up to whole seconds, as real servers do. Each client sends
N GETs (one thread, or 16 sharing one client) and must get all of them through.

- utilisation = achieved rate / allowed rate in the steady state: requests the server
  admitted per window, over the full windows of the run (the first and last, partial,
  are left out), divided by LIMIT. Fixed windows hand every client a free burst at the
  start, which says nothing about pacing; leaving the edges out removes that bias.
- rate ratio = (N / elapsed) / (LIMIT / WINDOW_S) over the whole run, start-up included.
- 429 share = 429 responses / all responses, counted by the server.

Targets: utilisation >= 0.95 with headers, >= 0.85 without (429 + Retry-After only).

Run: .venv/bin/python bench/ratelimit.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from _common import RemoteFakeApi, print_table

LIMIT, WINDOW_S = 100, 2.0


def timed(send: Callable[[int], None], n: int, threads: int = 1) -> float:
    started = time.monotonic()
    if threads == 1:
        for i in range(n):
            send(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, range(n)))
    return time.monotonic() - started


# -- clients -------------------------------------------------------------------------------
def apisync(url: str, n: int, threads: int) -> tuple[float, dict[str, Any]]:
    from airflow_provider_apisync.client import ApiClient, ClientConfig

    client = ApiClient(ClientConfig(base_url=url, max_retry_wait=10, max_retries=10))
    elapsed = timed(lambda i: client.request("GET", f"/contacts/{i % 10 + 1}"), n, threads)
    return elapsed, client.stats.summary()


def http_hook(url: str, origin: str, n: int) -> tuple[float, dict[str, Any]]:
    """``HttpHook.run_with_advanced_retry`` with the tenacity arguments from its docs."""
    import tenacity
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.sdk import Connection

    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = Connection(
        conn_id="bench_http", conn_type="http", host=origin
    ).as_json()
    hook = HttpHook(method="GET", http_conn_id="bench_http")
    logging.getLogger("airflow.task.hooks").setLevel(logging.CRITICAL)  # one error line per 429
    retries = 0

    def before_sleep(state: tenacity.RetryCallState) -> None:
        nonlocal retries
        retries += 1

    retry_args = {
        "wait": tenacity.wait_exponential(),
        "stop": tenacity.stop_after_attempt(10),
        "retry": tenacity.retry_if_exception_type(Exception),
        "before_sleep": before_sleep,
    }
    prefix = url[len(origin) :].strip("/")
    elapsed = timed(
        lambda i: hook.run_with_advanced_retry(
            retry_args, endpoint=f"{prefix}/contacts/{i % 10 + 1}"
        ),
        n,
    )
    return elapsed, {"retries": retries}


def raw_loop(url: str, n: int, honour_retry_after: bool) -> tuple[float, dict[str, Any]]:
    """A plain ``requests`` loop: resend until 200, sleeping Retry-After (or not at all)."""
    session = requests.Session()
    retries = 0

    def send(i: int) -> None:
        nonlocal retries
        while True:
            resp = session.get(f"{url}/contacts/{i % 10 + 1}", timeout=10)
            if resp.status_code != 429:
                resp.raise_for_status()
                return
            retries += 1
            if honour_retry_after:
                time.sleep(float(resp.headers.get("Retry-After", "1")))

    return timed(send, n), {"retries": retries}


# -- scenarios -----------------------------------------------------------------------------
def scenarios() -> list[tuple[str, dict[str, Any], str, int]]:
    """(label, RateLimit kwargs, client, threads)."""
    whole = {"limit": LIMIT, "window": WINDOW_S, "integer_seconds": True}
    ietf = {**whole, "headers": "ietf"}
    sliding = {"mode": "sliding"}
    return [
        ("apisync  IETF RateLimit, fixed window", ietf, "apisync", 1),
        ("apisync  IETF RateLimit, fixed, 16 threads", ietf, "apisync", 16),
        ("apisync  IETF RateLimit, sliding window", {**ietf, **sliding}, "apisync", 1),
        ("apisync  X-RateLimit-* (epoch reset)", {**whole, "headers": "x"}, "apisync", 1),
        ("apisync  no headers: 429 + Retry-After", {**whole, "headers": "none"}, "apisync", 1),
        ("apisync  no headers, 16 threads", {**whole, "headers": "none"}, "apisync", 16),
        (
            "apisync  no headers, sliding window",
            {**whole, "headers": "none", **sliding},
            "apisync",
            1,
        ),
        ("HttpHook + tenacity (headers ignored)", ietf, "httphook", 1),
        ("requests loop, sleeps Retry-After", ietf, "raw-polite", 1),
        ("requests loop, sleeps Retry-After, sliding", {**ietf, **sliding}, "raw-polite", 1),
        ("requests loop, resends at once", ietf, "raw-eager", 1),
    ]


def run(label: str, limit: dict[str, Any], kind: str, threads: int, n: int) -> list[Any]:
    with RemoteFakeApi(rate_limit=limit) as api:
        if kind == "apisync":
            elapsed, info = apisync(api.url, n, threads)
        elif kind == "httphook":
            elapsed, info = http_hook(api.url, api.origin, n)
        else:
            elapsed, info = raw_loop(api.url, n, honour_retry_after=kind == "raw-polite")
        server = api.stats()
    assert server["allowed"] == n, (label, server)
    responses = server["allowed"] + server["rejected"]
    return [
        label,
        n,
        round(elapsed, 2),
        round(steady_utilisation(server), 3),
        round((n / elapsed) / (LIMIT / WINDOW_S), 3),
        round(server["rejected"] / responses, 3),
        info.get("retries", 0),
        info.get("throttled", "-"),
    ]


def steady_utilisation(server: dict[str, Any]) -> float:
    """Admitted requests per full WINDOW_S bucket (aligned with the server's fixed windows;
    a sliding window admits at most LIMIT in any bucket too) over LIMIT, first and last
    bucket left out."""
    times = sorted(server["admitted_at"])
    origin = server["window_start"] if server["window_start"] is not None else times[0]
    buckets: dict[int, int] = {}
    for at in times:
        index = int((at - origin) // WINDOW_S)
        buckets[index] = buckets.get(index, 0) + 1
    full = [buckets.get(i, 0) for i in range(min(buckets) + 1, max(buckets))]
    return sum(full) / (len(full) * LIMIT) if full else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="windows' worth of requests")
    parser.add_argument("--json", action="store_true", help="print rows as JSON too")
    args = parser.parse_args()
    n = LIMIT * args.rounds
    print(
        f"FakeApi: {LIMIT} requests / {WINDOW_S:g} s window, whole-second hints; "
        f"{n} requests per run ({args.rounds} windows' worth)\n"
    )
    headers = ["client / server", "requests", "elapsed_s", "utilisation", "rate_ratio"]
    headers += ["429_share", "retries", "throttled"]
    rows = []
    for label, limit, kind, threads in scenarios():
        try:
            rows.append(run(label, limit, kind, threads, n))
        except Exception as exc:  # a baseline may be unavailable; apisync rows must not fail
            if kind == "apisync":
                raise
            rows.append([label, n, "-", "-", "-", "-", f"skipped: {type(exc).__name__}", "-"])
        print(f"  done: {label}", flush=True)
    print()
    print_table(headers, rows)
    print("\ntargets: utilisation >= 0.95 with headers, >= 0.85 without")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
