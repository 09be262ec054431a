"""Benchmark: dependent-pull (fan-out) speed and memory, plus the per-request guard.

    python bench/fanout.py [--parents 2000] [--sequential-parents 250] [--rss 1000,100000]

FakeApi runs in ANOTHER process (``/tickets/{id}/comments``, 10 comments per page) and
every measurement runs in its own subprocess, so peak RSS (``ru_maxrss``) is its own.
Ratios come from one run on this machine (shared: numbers move, ratios less so).

1. Fan-out speed: 3 child pages (of 10) per parent, 20 ms latency per child request (slept in
   the server's request thread). Sequential (``concurrency=1``, ``--sequential-parents``
   parents) vs ``concurrency=8`` (``--parents``) under a server rate limit of 350
   requests/s (sliding window) that the connection's ``rate_limit`` budget (330/s)
   stays under. Target: parents/s at 8 >= 6x sequential, with 0 x 429.
2. Memory: 1 child page (2 records) per parent, no latency; peak RSS at each ``--rss`` size.
   Target: growth from the smallest to the largest < 20 MB (flat).
3. Per-request guard (regression, no latency): client CPU per request of
   ``ApiSyncHook.request`` minus a bare ``requests.Session`` (target within +-0.15 ms),
   and ``hook.paginate`` at 100 records/page vs the raw loop (target 0.8-1.2x its time;
   only slower than 1.2x fails: msgspec decoding can make the hook the faster one).

Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PER_PAGE = 10
SERVER_LIMIT = 350  # requests/s the server allows
BUDGET = 330  # the connection's rate_limit: what the client allows itself
GUARD_REQUESTS = 2000
GUARD_RECORDS = 10_000  # hook.paginate vs raw: 100 pages of 100


# -- server process ---------------------------------------------------------------------
def serve(conn: Any, parents: int, children: int, latency: float, limit: int | None) -> None:
    from airflow_provider_apisync.testing import FakeApi, FakeAuth, RateLimit
    from airflow_provider_apisync.testing.fakeapi.collections import make_records

    rate = RateLimit(limit, window=1.0, mode="sliding", paths=("/tickets",)) if limit else None
    api = FakeApi(auth=FakeAuth(required=False), rate_limit=rate)
    api.seed("tickets", [{"id": i} for i in range(1, parents + 1)])
    per = children
    rows = (
        {"id": i, "ticket_id": (i - 1) // per + 1, "body": "x" * 40}
        for i in range(1, parents * per + 1)
    )
    api.seed("comments", rows)
    api.children.relate("tickets", "comments", foreign_key="ticket_id")
    api.pagination.freeze("items", make_records("items", GUARD_RECORDS))
    if latency:
        api.faults.add("slow", path="/comments", delay=latency)
    api.start()
    conn.send(api.url)
    conn.recv()
    conn.send({"rejected": rate.rejected if rate else 0, "requests": len(api.requests)})
    api.stop()


class Server:
    def __init__(self, parents: int, children: int, latency: float, limit: int | None) -> None:
        self.args = (parents, children, latency, limit)

    def __enter__(self) -> Server:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, *self.args), daemon=True)
        self.proc.start()
        self.url: str = self.conn.recv()
        return self

    def finish(self) -> dict[str, Any]:
        self.conn.send("stop")
        stats: dict[str, Any] = self.conn.recv()
        return stats

    def __exit__(self, *exc: object) -> None:
        self.proc.join(10)


# -- measurements (each in its own process) --------------------------------------------
def fanout(url: str, parents: int, concurrency: int, budget: int | None) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_apisync.client import ApiClient, config_from_connection
    from airflow_provider_apisync.client.pagination import OffsetPaginator
    from airflow_provider_apisync.client.response_actions import ResponseActions
    from airflow_provider_apisync.pull.contracts import RecordContract
    from airflow_provider_apisync.pull.fanout import build_job
    from airflow_provider_apisync.pull.job import PullSpec
    from airflow_provider_apisync.runtime.state import FileCheckpoint

    work = Path(tempfile.mkdtemp(prefix="apisync-fanout-bench-"))
    source = work / "parents.jsonl"
    with source.open("w") as fh:
        for i in range(1, parents + 1):
            fh.write(json.dumps({"id": i, "subject": f"ticket {i}"}) + "\n")
    extra: dict[str, Any] = {"auth_type": "none"}
    if budget:
        extra["rate_limit"] = {"requests": budget, "per_seconds": 1}
    client = ApiClient(config_from_connection(host=url, extra=extra), pool_size=concurrency + 2)
    folder = ObjectStoragePath(f"file://{work}/out")
    folder.mkdir(parents=True, exist_ok=True)
    spec = PullSpec(
        endpoint="/tickets/{id}/comments",
        params={},
        headers=None,
        paginator=OffsetPaginator(limit=PER_PAGE, total_path="total"),
        records_path="data",
        concurrency=concurrency,
    )
    job = build_job(
        client, spec, folder, FileCheckpoint(folder / "_checkpoint.json"),
        fingerprint="bench", contract=RecordContract(None), tracker=None,
        parents=str(source), include_from_parent={"ticket_subject": "subject"},
        actions=ResponseActions(),
    )  # fmt: skip
    (folder / "_warm").write_bytes(b"")  # imports and plugin loading, outside the timing
    client.request("GET", "/tickets/1")
    started = time.perf_counter()
    manifest = job.run()
    seconds = time.perf_counter() - started
    return {
        "parents": manifest["parents"],
        "records": manifest["records"],
        "requests": client.stats.requests,
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def guard(url: str) -> dict[str, Any]:
    import requests
    from airflow.sdk import Connection

    from airflow_provider_apisync.client.pagination import OffsetPaginator
    from airflow_provider_apisync.hooks import ApiSyncHook

    os.environ["AIRFLOW_CONN_BENCH"] = Connection(
        conn_id="bench", conn_type="apisync", host=url, extra=json.dumps({"auth_type": "none"})
    ).as_json()
    hook = ApiSyncHook("bench")
    session = requests.Session()

    def bare() -> None:
        session.get(url + "/tickets/1", timeout=60).json()

    def hooked() -> None:
        hook.request("GET", "/tickets/1").json()

    cpu: dict[str, float] = {}
    for _ in range(50):
        bare()  # warm-up: connections, imports
        hooked()
    for name, call in (("bare", bare), ("hook", hooked)) * 4:  # interleaved, best of 4
        started = time.process_time()
        for _ in range(GUARD_REQUESTS // 4):
            call()
        took = (time.process_time() - started) / (GUARD_REQUESTS // 4) * 1000
        cpu[name] = min(cpu.get(name, took), took)

    def raw_loop() -> int:
        count, offset = 0, 0
        while True:
            body = session.get(
                url + "/items", params={"offset": offset, "limit": 100}, timeout=60
            ).json()
            count += len(body["data"])
            offset += 100
            if offset >= body["total"]:
                return count

    def paginated() -> int:
        paginator = OffsetPaginator(limit=100, total_path="total")
        return sum(len(p.records) for p in hook.paginate("/items", paginator=paginator))

    best: dict[str, float] = {}
    for name, loop in (("raw", raw_loop), ("paginate", paginated)) * 3:
        started = time.perf_counter()
        assert loop() == GUARD_RECORDS
        elapsed = time.perf_counter() - started
        best[name] = min(best.get(name, elapsed), elapsed)
    return {
        "bare_cpu_ms": cpu["bare"],
        "hook_cpu_ms": cpu["hook"],
        "raw_s": best["raw"],
        "paginate_s": best["paginate"],
    }


def child(argv: list[str]) -> None:
    import logging

    logging.disable(logging.INFO)  # one audit line per request would dominate the timing
    kind, url, *rest = argv
    if kind == "fanout":
        parents, concurrency, budget = (int(x) for x in rest)
        result = fanout(url, parents, concurrency, budget or None)
    else:
        result = guard(url)
    print("RESULT " + json.dumps(result), flush=True)


def run_child(*args: Any) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": tempfile.mkdtemp(prefix="apisync-bench-home-"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": str(ROOT),
        }
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise SystemExit(f"child {args[:1]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


# -- driver -----------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=2000)
    parser.add_argument("--sequential-parents", type=int, default=250)
    parser.add_argument("--rss", default="1000,100000")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    failures = []

    print(f"== fan-out: 3 pages x {PER_PAGE} records per parent, 20 ms per child request")
    with Server(args.parents, 3 * PER_PAGE, 0.02, SERVER_LIMIT) as server:
        seq = run_child("fanout", server.url, args.sequential_parents, 1, 0)
        par = run_child("fanout", server.url, args.parents, 8, BUDGET)
        stats = server.finish()
    seq_rate = seq["parents"] / seq["seconds"]
    par_rate = par["parents"] / par["seconds"]
    ratio = par_rate / seq_rate
    for name, run, rate in (("sequential", seq, seq_rate), ("concurrency=8", par, par_rate)):
        print(
            f"{name:<14} {run['parents']:>6} parents {run['seconds']:7.2f} s {rate:7.1f} parents/s"
            f" ({run['requests'] / run['seconds']:.0f} req/s)"
        )
    print(f"budget {BUDGET} requests/s, server limit {SERVER_LIMIT}/s (sliding window)")
    print(f"speed-up: {ratio:.1f}x (target >= 6x); 429 answers: {stats['rejected']} (target 0)")
    if ratio < 6:
        failures.append(f"fan-out speed-up {ratio:.1f}x < 6x")
    if stats["rejected"]:
        failures.append(f"{stats['rejected']} x 429 under the budget")

    sizes = [int(s) for s in args.rss.split(",")]
    print(f"== memory: 1 child page (2 records) per parent, concurrency 8, parents {sizes}")
    rss = {}
    for size in sizes:
        with Server(size, 2, 0.0, None) as server:
            result = run_child("fanout", server.url, size, 8, 0)
            server.finish()
        rss[size] = result["peak_rss_mb"]
        print(
            f"{size:>7} parents: {result['seconds']:7.1f} s  {size / result['seconds']:7.0f} "
            f"parents/s  peak RSS {result['peak_rss_mb']:.1f} MB"
        )
    growth = rss[sizes[-1]] - rss[sizes[0]]
    print(f"peak RSS growth {sizes[0]} -> {sizes[-1]} parents: {growth:+.1f} MB (target < 20 MB)")
    if growth >= 20:
        failures.append(f"peak RSS grows {growth:.1f} MB")

    print("== per-request guard (no latency)")
    with Server(10, 2, 0.0, None) as server:
        g = run_child("guard", server.url)
        server.finish()
    delta = g["hook_cpu_ms"] - g["bare_cpu_ms"]
    ratio = g["paginate_s"] / g["raw_s"]
    print(
        f"client CPU per request: bare requests.Session {g['bare_cpu_ms']:.3f} ms, "
        f"ApiSyncHook.request {g['hook_cpu_ms']:.3f} ms, delta {delta:+.3f} ms (target +-0.15)"
    )
    print(
        f"hook.paginate 100/page: {g['paginate_s']:.3f} s vs raw loop {g['raw_s']:.3f} s "
        f"= {ratio:.2f}x its time (target 0.8-1.2x; below 0.8 means faster: msgspec vs .json())"
    )
    if abs(delta) > 0.15:
        failures.append(f"hook.request costs {delta:+.3f} ms of client CPU per request")
    if ratio > 1.2:  # a guard against regressions: faster than the raw loop is no failure
        failures.append(f"hook.paginate at {ratio:.2f}x the raw loop's time")
    for failure in failures:
        print("TARGET MISSED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
