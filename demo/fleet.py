"""Simulate a fleet: N worker *processes* hitting one API, with or without a shared store.

Used by the fleet tests and ``bench/fleet.py``; usable for your own connection settings::

    plan = WorkerPlan(base_url=api.url, password="key", extra={"auth_type": "api_key",
                      "rate_limit": {"requests": 60, "per_seconds": 10}},
                      redis=("127.0.0.1", port), requests=20)
    results = run_fleet([plan] * 4)      # 4 processes; each result is a dict

Each worker is a separate process forked from a clean *forkserver* (no threads or state of
the caller; the client modules preloaded once, so a 16-process fleet starts quickly), builds
its own :class:`ApiClient` (and its
own :class:`RedisStore` connection when ``redis`` is set), waits at a barrier so all start
together, then sends ``requests`` GETs (or keeps sending until ``duration`` seconds).
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process does."""

    base_url: str
    extra: dict[str, Any] = field(default_factory=dict)
    login: str | None = None
    password: str | None = None
    redis: tuple[str, int] | None = None  # (host, port) of the shared store; None = per process
    account: str = "apisync_fleet"
    fernet_key: str | None = None  # encrypts shared tokens (Airflow's Fernet key in production)
    endpoint: str = "/contacts/1"
    requests: int = 0
    duration: float = 0.0  # seconds of requests when ``requests`` is 0
    threads: int = 1
    pause: float = 0.02  # between requests of one thread in ``duration`` mode


def _fleet(plan: WorkerPlan, base_url: str) -> Any:
    if plan.redis is None:
        return None
    from airflow_provider_apisync.client.store import Fleet, account_key
    from airflow_provider_apisync.client.store_redis import redis_store

    store = redis_store(plan.redis[0], plan.redis[1])
    encrypt = decrypt = None
    if plan.fernet_key:
        from cryptography.fernet import Fernet

        fernet = Fernet(plan.fernet_key.encode())
        encrypt, decrypt = fernet.encrypt, fernet.decrypt
    return Fleet(store, account_key(base_url, plan.account), encrypt=encrypt, decrypt=decrypt)


def run_worker(plan: WorkerPlan, barrier: Any = None) -> dict[str, Any]:
    """Run one worker in this process; returns counts, request times and errors."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_apisync.client import ApiClient, ApiError, config_from_connection

    config = config_from_connection(
        host=plan.base_url, login=plan.login, password=plan.password, extra=plan.extra
    )
    client = ApiClient(config, fleet=_fleet(plan, config.base_url))
    errors: list[str] = []
    sent: list[float] = []
    if barrier is not None:
        barrier.wait()
    started = time.time()

    def one(_: int) -> None:
        try:
            client.request("GET", plan.endpoint)
            sent.append(time.time())
        except ApiError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    def loop(_: int) -> None:
        deadline = started + plan.duration
        while time.time() < deadline:
            one(0)
            time.sleep(plan.pause)

    with client, ThreadPoolExecutor(plan.threads) as pool:
        if plan.requests:
            list(pool.map(one, range(plan.requests)))
        else:
            list(pool.map(loop, range(plan.threads)))
    summary = client.stats.summary()
    token_mints = getattr(client.auth, "tokens_fetched", 0)
    return {
        "ok": len(sent),
        "errors": errors,
        "rate_limited": summary["rate_limited"],
        "retries": summary["retries"],
        "started": started,
        "finished": time.time(),
        "token_mints": token_mints,
    }


_PRELOAD = [
    "airflow_provider_apisync.client",
    "airflow_provider_apisync.client.store_redis",
    "demo.fleet",
    "redis",
    "cryptography.fernet",
]


def _child(plan: WorkerPlan, barrier: Any, queue: Any, index: int) -> None:
    try:
        result = run_worker(plan, barrier)
    except BaseException:  # report, never hang the parent
        barrier.abort()
        result = {"crashed": traceback.format_exc()}
    queue.put((index, result))


def run_fleet(plans: list[WorkerPlan], timeout: float = 300.0) -> list[dict[str, Any]]:
    """Run each plan in its own process, all starting together; results in plan order."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    barrier = ctx.Barrier(len(plans))
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(plan, barrier, queue, i), daemon=True)
        for i, plan in enumerate(plans)
    ]
    for proc in procs:
        proc.start()
    results: dict[int, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(results) < len(plans):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"fleet did not finish in {timeout:.0f} s")
            index, result = queue.get(timeout=left)
            results[index] = result
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    crashed = [r["crashed"] for r in results.values() if "crashed" in r]
    if crashed:
        raise RuntimeError("a fleet worker crashed:\n" + crashed[0])
    return [results[i] for i in range(len(plans))]
