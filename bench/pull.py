"""Benchmark: pull 100k and 1M records (1,000 per page) four ways; records/s and peak RSS.

    python bench/pull.py [--sizes 100000,1000000] [--variants raw,hook,operator,http_operator]

A FakeApi server runs in ANOTHER process and serves frozen collections from pre-encoded
bytes (so the server is not the bottleneck). Every variant runs in its own subprocess so
its peak RSS (``ru_maxrss``) is its own:

- ``raw``: a bare ``requests`` loop, ``.json()`` per page, writes nothing (the ceiling);
- ``hook``: ``ApiSyncHook.paginate`` (auth, guard, retries, audit lines), writes nothing;
- ``operator``: ``ApiPullOperator.execute`` writing JSONL parts + a checkpoint per page;
- ``http_operator``: the HTTP provider's ``HttpOperator`` with ``pagination_function``.

Each variant runs ``--repeat`` times (default 3; the machine may be shared): the best
time and the highest peak RSS are reported. Targets (checked at the end, exit 1 when
missed): operator >= 0.7x the raw loop's records/s at the largest size; operator
peak-RSS growth from the smallest to the largest size < 20 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAGE = 1000
API_KEY = "bench-api-key"
ROOT = Path(__file__).resolve().parent.parent


def collection_for(size: int) -> str:
    return f"items{size}"


# -- server process ---------------------------------------------------------------------
def serve(sizes: list[int]) -> None:
    from airflow_provider_apisync.testing import FakeApi, FakeAuth
    from airflow_provider_apisync.testing.fakeapi.collections import make_records

    api = FakeApi(auth=FakeAuth(api_keys={API_KEY}))
    api.pagination.max_page_size = PAGE

    def generate(name: str, count: int):
        for start in range(1, count + 1, 10_000):
            yield from make_records(name, min(10_000, count + 1 - start), start)

    for size in sizes:
        api.pagination.freeze(collection_for(size), generate("items", size))
    api.start()
    print(json.dumps({"url": api.url}), flush=True)
    sys.stdin.read()  # run until the parent closes our stdin
    api.stop()


# -- variants (each in its own process) ------------------------------------------------
# Each ``setup_*`` imports and configures outside the timed region and returns the pull.
Pull = Callable[[], int]


def setup_raw(url: str, endpoint: str) -> Pull:
    import requests

    def pull() -> int:
        session = requests.Session()
        count, offset, total = 0, 0, None
        while total is None or offset < total:
            resp = session.get(
                url + endpoint,
                params={"offset": offset, "limit": PAGE},
                headers={"X-API-Key": API_KEY},
                timeout=60,
            )
            resp.raise_for_status()
            body = resp.json()
            count += len(body["data"])
            offset += len(body["data"])
            total = body["total"]
        return count

    return pull


def _airflow_env(url: str) -> None:
    from airflow.sdk import Connection

    os.environ["AIRFLOW_CONN_BENCH"] = Connection(
        conn_id="bench",
        conn_type="apisync",
        host=url,
        password=API_KEY,
        extra=json.dumps({"auth_type": "api_key"}),
    ).as_json()
    base = url.rsplit("/v1", 1)[0]
    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = Connection(
        conn_id="bench_http", conn_type="http", host=base
    ).as_json()


def setup_hook(url: str, endpoint: str) -> Pull:
    from airflow_provider_apisync.client.pagination import OffsetPaginator
    from airflow_provider_apisync.hooks import ApiSyncHook

    _airflow_env(url)

    def pull() -> int:
        hook = ApiSyncHook("bench")
        paginator = OffsetPaginator(limit=PAGE, total_path="total")
        return sum(len(page.records) for page in hook.paginate(endpoint, paginator=paginator))

    return pull


def setup_operator(url: str, endpoint: str, concurrency: int = 1) -> Pull:
    from types import SimpleNamespace

    from airflow_provider_apisync.client.pagination import OffsetPaginator
    from airflow_provider_apisync.operators import ApiPullOperator

    _airflow_env(url)
    out = tempfile.mkdtemp(prefix="apisync-bench-")
    op = ApiPullOperator(
        task_id="pull",
        apisync_conn_id="bench",
        endpoint=endpoint,
        paginator=OffsetPaginator(limit=PAGE, total_path="total"),
        output=f"file://{out}",
        concurrency=concurrency,
    )
    ti = SimpleNamespace(dag_id="bench", task_id="pull", run_id="bench", map_index=-1)

    def pull() -> int:
        manifest = op.execute({"ti": ti, "run_id": "bench"})  # type: ignore[arg-type]
        written = sum(f.stat().st_size for f in Path(out).glob("part-*.jsonl"))
        assert written == sum(p["bytes"] for p in manifest["parts"])
        return int(manifest["records"])

    return pull


def setup_http_operator(url: str, endpoint: str) -> Pull:
    from airflow.providers.http.operators.http import HttpOperator

    _airflow_env(url)

    def next_page(response: Any) -> dict[str, Any] | None:
        body = response.json()
        following = body["offset"] + len(body["data"])
        if following >= body["total"]:
            return None
        return {"data": {"offset": following, "limit": PAGE}}

    op = HttpOperator(
        task_id="http",
        http_conn_id="bench_http",
        endpoint="/v1" + endpoint,
        method="GET",
        data={"offset": 0, "limit": PAGE},
        headers={"X-API-Key": API_KEY},
        pagination_function=next_page,
        response_filter=lambda responses: sum(len(r.json()["data"]) for r in responses),
    )
    return lambda: int(op.execute({}))  # type: ignore[arg-type]


VARIANTS: dict[str, Callable[[str, str], Pull]] = {
    "raw": setup_raw,
    "hook": setup_hook,
    "operator": setup_operator,
    "operator_c4": lambda url, endpoint: setup_operator(url, endpoint, concurrency=4),
    "http_operator": setup_http_operator,
}


def measure(variant: str, url: str, size: int) -> None:
    pull = VARIANTS[variant](url, "/" + collection_for(size))
    started = time.perf_counter()
    count = pull()
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if count != size:
        raise SystemExit(f"{variant}: pulled {count} records, expected {size}")
    result = {"variant": variant, "records": count, "seconds": elapsed, "peak_rss_mb": peak_mb}
    print("RESULT " + json.dumps(result), flush=True)


# -- driver -----------------------------------------------------------------------------
def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    home = tempfile.mkdtemp(prefix="apisync-bench-home-")
    env.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--variants", default="raw,hook,operator,operator_c4,http_operator")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per variant: best time, highest RSS"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.serve:
        serve(sizes)
        return 0
    if args.variant:
        measure(args.variant, args.url, sizes[0])
        return 0

    env = child_env()
    me = [sys.executable, str(Path(__file__).resolve())]
    print(f"starting FakeApi (another process) with {', '.join(map(str, sizes))} records ...")
    server = subprocess.Popen(
        [*me, "--serve", "--sizes", args.sizes],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdout is not None
    url = json.loads(server.stdout.readline())["url"]
    results: dict[tuple[str, int], dict] = {}
    try:
        for size in sizes:
            for variant in args.variants.split(","):
                runs = []
                for _ in range(args.repeat):
                    proc = subprocess.run(
                        [*me, "--variant", variant, "--url", url, "--sizes", str(size)],
                        capture_output=True,
                        text=True,
                        env=env,
                        check=False,
                    )
                    line = next(
                        (x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None
                    )
                    if line is None:
                        print(
                            f"{variant} {size}: FAILED\n{proc.stdout[-2000:]}\n"
                            f"{proc.stderr[-3000:]}"
                        )
                        return 1
                    runs.append(json.loads(line[7:]))
                result = min(runs, key=lambda r: r["seconds"])
                result["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
                results[(variant, size)] = result
                rate = result["records"] / result["seconds"]
                print(
                    f"{variant:>14} {size:>9,} records  {result['seconds']:7.2f} s  "
                    f"{rate:>10,.0f} records/s  peak RSS {result['peak_rss_mb']:7.1f} MB",
                    flush=True,
                )
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    return check_targets(results, sizes)


def check_targets(results: dict[tuple[str, int], dict], sizes: list[int]) -> int:
    big, small = max(sizes), min(sizes)
    ok = True

    def rate(variant: str, size: int) -> float:
        r = results[(variant, size)]
        return float(r["records"]) / float(r["seconds"])

    if ("raw", big) in results and ("operator", big) in results:
        ratio = rate("operator", big) / rate("raw", big)
        passed = ratio >= 0.7
        ok &= passed
        print(f"operator / raw records/s at {big:,}: {ratio:.2f}x (target >= 0.7x): "
              f"{'PASS' if passed else 'FAIL'}")  # fmt: skip
    for variant in ("operator", "hook", "http_operator"):
        if (variant, big) in results and (variant, small) in results and big != small:
            growth = (
                results[(variant, big)]["peak_rss_mb"] - results[(variant, small)]["peak_rss_mb"]
            )
            note = ""
            if variant == "operator":
                passed = growth < 20
                ok &= passed
                note = f" (target < 20 MB): {'PASS' if passed else 'FAIL'}"
            print(f"{variant} peak RSS growth {small:,} -> {big:,} records: {growth:+.1f} MB{note}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
