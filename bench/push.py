"""Push throughput: ApiPushOperator at concurrency 1/8/16 vs an HttpHook.run loop.

FakeApi runs in another process with 20 ms latency per request (slept in the request's
own server thread, so concurrent requests overlap as they would against a real API).
Each scenario writes 2,000 single-record POSTs (with idempotency keys for the operator)
into its own collection; the counts are checked afterwards.

    .venv/bin/python bench/push.py [--records 2000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

API_KEY = "test-api-key-0001"
TARGET = 12.0


def serve(latency: float, conn: Any) -> None:
    """Child process: FakeApi with per-request latency; answers count queries; stops on None."""
    from airflow_provider_apisync.testing import FakeApi

    with FakeApi() as api:
        api.faults.add("slow", delay=latency)
        conn.send(api.url)
        while True:
            message = conn.recv()
            if message is None:
                return
            coll = api.collections.get(message)
            keys = [r.get("ext_id") for r in coll.all()] if coll else []
            conn.send((len(keys), len(set(keys))))


def records(count: int) -> list[dict[str, Any]]:
    return [
        {"ext_id": f"P{i:05d}", "name": f"Person {i}", "email": f"p{i}@example.test", "score": i}
        for i in range(count)
    ]


class Ti:
    dag_id, task_id, map_index, try_number = "bench_push", "push", -1, 1

    def __init__(self) -> None:
        self.run_id = f"bench__{uuid.uuid4().hex[:8]}"


def run_operator(data: list[dict[str, Any]], collection: str, concurrency: int) -> dict[str, Any]:
    from airflow_provider_apisync.operators import ApiPushOperator

    op = ApiPushOperator(
        task_id="push",
        apisync_conn_id="bench",
        endpoint=f"/{collection}",
        records=data,
        record_key="ext_id",
        concurrency=concurrency,
    )
    ti = Ti()
    return op.execute({"ti": ti, "run_id": ti.run_id})


def run_http_hook(data: list[dict[str, Any]], collection: str) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id="bench_http")
    for record in data:
        hook.run(f"/v1/{collection}", json=record, headers={"X-API-Key": API_KEY})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="apisync-bench-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    import logging

    logging.disable(logging.WARNING)  # audit lines per request would dominate the timing

    parent, child = mp.get_context("spawn").Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(args.latency, child), daemon=True)
    server.start()
    url = parent.recv()
    from airflow.sdk import Connection

    origin = url.rsplit("/v1", 1)[0]
    host, port = origin.split("://")[1].split(":")
    os.environ["AIRFLOW_CONN_BENCH"] = Connection(
        conn_id="bench",
        conn_type="apisync",
        host=url,
        password=API_KEY,
        extra=json.dumps({"auth_type": "api_key"}),
    ).as_json()
    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = Connection(
        conn_id="bench_http", conn_type="http", host=host, port=int(port), schema="http"
    ).as_json()

    data = records(args.records)
    results: list[tuple[str, float]] = []

    def timed(name: str, collection: str, fn: Any) -> None:
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        parent.send(collection)
        held, unique = parent.recv()
        ok = held == unique == args.records
        results.append((name, elapsed))
        print(
            f"{name:<34} {elapsed:7.2f} s {args.records / elapsed:8.1f} records/s"
            f"   target holds {held} ({'ok' if ok else 'WRONG'})",
            flush=True,
        )

    print(f"{args.records} single-record POSTs, {args.latency * 1000:.0f} ms server latency")
    timed("HttpHook.run loop (baseline)", "hook", lambda: run_http_hook(data, "hook"))
    for concurrency in (1, 8, 16):
        name = f"ApiPushOperator concurrency={concurrency}"
        coll = f"c{concurrency}"
        timed(name, coll, lambda c=concurrency, n=coll: run_operator(data, n, c))
    parent.send(None)
    server.join(5)

    rate = {name: args.records / s for name, s in results}
    base = rate["ApiPushOperator concurrency=1"]
    hook = rate["HttpHook.run loop (baseline)"]
    print()
    for name, value in rate.items():
        print(f"{name:<34} x{value / base:5.2f} vs concurrency=1  x{value / hook:5.2f} vs HttpHook")
    speedup = rate["ApiPushOperator concurrency=16"] / base
    verdict = "met" if speedup >= TARGET else "MISSED"
    print(f"\ntarget concurrency=16 >= {TARGET:g}x concurrency=1: {speedup:.1f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
