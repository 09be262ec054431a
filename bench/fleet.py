"""Fleet budget: N worker processes on one vendor account, shared store vs per-process budgets.

FakeApi (its own process) allows LIMIT requests per WINDOW_S seconds and announces nothing:
no rate-limit headers, only a bare ``429`` + ``Retry-After`` (the hardest case: nobody can
see the quota coming). Every worker's connection sets the client-side budget to the vendor's
limit, ``rate_limit = LIMIT per WINDOW_S``, as a user would. Each worker is a separate
process (forkserver) with 2 threads, sending GETs for DURATION_S seconds.

- shared: the budget lives in one real ``redis-server`` (started here, random port), one
  Lua GCRA round trip per request for the whole fleet.
- per-process: each worker paces itself against the full limit (apisync without a store,
  and every other client library): N workers send up to N x the allowed rate.

utilisation = requests the server admitted in the run's full windows / (windows x LIMIT)
(the first and last, partial windows left out); 429s = responses refused by the server.

Targets (exit 1 when missed): shared budget 0 x 429 and utilisation >= 0.85 at every size.

Run: .venv/bin/python bench/fleet.py [--duration 6]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from _common import RemoteFakeApi, print_table

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # `demo` (the fleet runner)
from redis_support import RedisServer  # noqa: E402  (tests/ holds the redis fixture)

from demo.fleet import WorkerPlan, run_fleet  # noqa: E402

LIMIT, WINDOW_S = 60, 2.0


def utilisation(stats: dict[str, Any]) -> float:
    start = stats["window_start"]
    windows: dict[int, int] = {}
    for at in stats["admitted_at"]:
        index = int((at - start) // WINDOW_S)
        windows[index] = windows.get(index, 0) + 1
    full = sorted(windows)[1:-1]
    if not full:
        return 0.0
    return sum(windows[w] for w in full) / (len(full) * LIMIT)


def case(processes: int, redis: tuple[str, int] | None, duration: float) -> list[Any]:
    limit = {"limit": LIMIT, "window": WINDOW_S, "headers": "none"}
    with RemoteFakeApi(rate_limit=limit) as api:
        extra = {
            "rate_limit": {"requests": LIMIT, "per_seconds": WINDOW_S},
            "max_retries": 20,
            "max_retry_wait": 10,
        }
        plan = WorkerPlan(
            api.url,
            extra,
            redis=redis,
            account=f"bench-{processes}-{bool(redis)}",
            duration=duration,
            threads=2,
            pause=0.0,
        )
        results = run_fleet([plan] * processes)
        stats = api.stats()
    failed = sum(len(r["errors"]) for r in results)
    return [
        "shared (Redis)" if redis else "per-process",
        processes,
        stats["allowed"],
        stats["rejected"],
        round(stats["rejected"] / max(1, stats["requests"]), 3),
        round(utilisation(stats), 3),
        failed,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rows = []
    with RedisServer() as server:
        for processes in (1, 4, 16):
            for redis in (("127.0.0.1", server.port), None):
                server.flush()
                rows.append(case(processes, redis, args.duration))
                time.sleep(0.2)
    print(
        f"\nFleet budget: {LIMIT} requests per {WINDOW_S:g} s, bare 429 + Retry-After, "
        f"each worker {args.duration:g} s x 2 threads, budget = the vendor limit\n"
    )
    print_table(
        ["budget", "processes", "admitted", "429s", "429 share", "utilisation", "failed"],
        rows,
    )
    missed = [r for r in rows if r[0].startswith("shared") and (r[3] or r[5] < 0.85 or r[6])]
    if missed:
        print(f"\nTARGET MISSED (shared: 0 x 429, utilisation >= 0.85): {missed}")
        sys.exit(1)
    print("\nTargets met: shared budget 0 x 429 and utilisation >= 0.85 at every fleet size.")


if __name__ == "__main__":
    main()
