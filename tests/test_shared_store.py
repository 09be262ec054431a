"""The shared store on a real redis-server: one budget, one token, one refresh chain per fleet.

Workers are separate processes (``spawn``), each with its own client and Redis connection,
as Celery workers would be. FakeApi counts what the vendor would see: 429s, token grants.
"""

from __future__ import annotations

import logging
import time

import pytest
import redis_support
from cryptography.fernet import Fernet
from redis_support import RedisServer

from airflow_provider_apisync.client import ApiClient, config_from_connection
from airflow_provider_apisync.client.config import ApiConfigError
from airflow_provider_apisync.client.store import Fleet, account_key
from airflow_provider_apisync.client.store_redis import RedisStore
from airflow_provider_apisync.testing import FakeApi, FakeAuth, RateLimit
from demo.fleet import WorkerPlan, run_fleet

API_KEY = "test-api-key-0001"
CLIENT_ID, CLIENT_SECRET = "client-1", "test-client-secret-0001"
FERNET_KEY = Fernet.generate_key().decode()
redis_server = redis_support.redis_server  # the fixtures, for this module
redis_flushed = redis_support.redis_flushed


def utilisation(api: FakeApi, limit: int, window: float) -> float:
    times = sorted(r.at for r in api.log("GET") if r.status == 200)
    return (len(times) - 1) / (times[-1] - times[0]) / (limit / window)


def test_one_budget_for_the_fleet_bare_429_api(redis_flushed):
    """60 requests per 10 s, announced by nothing but a 429 + Retry-After."""
    procs, each = 3, 24
    extra = {"auth_type": "api_key", "rate_limit": {"requests": 60, "per_seconds": 10}}

    # baseline: per-process budgets, each process paces itself against the full limit
    with FakeApi(seed={"contacts": 2}, rate_limit=RateLimit(60, 10.0, headers="none")) as api:
        plan = WorkerPlan(api.url, {**extra, "max_retries": 0}, password=API_KEY, requests=each)
        base = run_fleet([plan] * procs)
        print(
            f"\nper-process budgets, {procs} processes: {api.rate_limit.rejected} x 429 of "
            f"{procs * each} requests"
        )
        assert api.rate_limit.rejected > 0  # the problem the shared store solves
        assert sum(len(r["errors"]) for r in base) == api.rate_limit.rejected

    with FakeApi(seed={"contacts": 2}, rate_limit=RateLimit(60, 10.0, headers="none")) as api:
        each = 20  # 60 requests: one window's worth, sent over ~10 s
        plan = WorkerPlan(
            api.url, extra, password=API_KEY, redis=("127.0.0.1", redis_flushed.port), requests=each
        )
        results = run_fleet([plan] * procs)
        used = utilisation(api, 60, 10.0)
        print(f"shared budget, {procs} processes: 0 x 429 expected, utilisation {used:.2f}")
        assert [r["errors"] for r in results] == [[]] * procs
        assert api.rate_limit.rejected == 0
        assert sum(r["ok"] for r in results) == procs * each
        assert used >= 0.85


def test_a_fleet_mints_one_token_per_expiry(redis_flushed):
    auth = FakeAuth(token_ttl=2.0)  # the client renews at 1.8 s; workers run 3 s
    with FakeApi(seed={"contacts": 2}, auth=auth) as api:
        extra = {"auth_type": "oauth2_client_credentials", "token_url": api.token_url}
        plan = WorkerPlan(
            api.url,
            extra,
            login=CLIENT_ID,
            password=CLIENT_SECRET,
            redis=("127.0.0.1", redis_flushed.port),
            fernet_key=FERNET_KEY,
            duration=3.0,
        )
        results = run_fleet([plan] * 4)
        assert [r["errors"] for r in results] == [[]] * 4
        assert all(r["ok"] > 10 for r in results)
        assert len(api.auth.grants("client_credentials")) == 2  # at ~0 s and ~1.8 s
        assert sum(r["token_mints"] for r in results) == 2


def test_rotated_refresh_tokens_survive_runs_and_workers(redis_flushed):
    """Each refresh token is valid once; the connection keeps the first one (read-only)."""
    auth = FakeAuth(token_ttl=1.0)
    with FakeApi(seed={"contacts": 2}, auth=auth) as api:
        extra = {
            "auth_type": "oauth2_refresh_token",
            "token_url": api.token_url,
            "refresh_token": "test-refresh-token-0001",
        }
        plan = WorkerPlan(
            api.url,
            extra,
            login=CLIENT_ID,
            password=CLIENT_SECRET,
            redis=("127.0.0.1", redis_flushed.port),
            fernet_key=FERNET_KEY,
            requests=3,
        )
        for run in (1, 2, 3):
            results = run_fleet([plan] * 2)
            assert [r["errors"] for r in results] == [[], []], f"run {run}"
            assert len(api.auth.grants("refresh_token")) == run  # one per run, not per worker
            time.sleep(1.1)  # the access token expires: the next run must refresh again
        # nothing secret in Redis in clear text
        import redis

        raw = redis.Redis(port=redis_flushed.port)
        values = b"".join(raw.get(k) or b"" for k in raw.keys("*") if raw.type(k) == b"string")
        for secret in api.auth.minted_secrets + ["test-refresh-token-0001"]:
            assert secret.encode() not in values


def test_redis_killed_mid_run_falls_back_with_one_warning(caplog, metrics_sink):
    server = RedisServer().start()
    try:
        limit = RateLimit(20, 1.0, headers="none")
        with FakeApi(seed={"contacts": 2}, rate_limit=limit) as api:
            extra = {
                "auth_type": "oauth2_client_credentials",
                "token_url": api.token_url,
                "rate_limit": {"requests": 20, "per_seconds": 1},
            }
            config = config_from_connection(
                host=api.url, login=CLIENT_ID, password=CLIENT_SECRET, extra=extra
            )
            fernet = Fernet(FERNET_KEY.encode())
            store = RedisStore("127.0.0.1", server.port)
            fleet = Fleet(
                store,
                account_key(api.url, "crm"),
                encrypt=fernet.encrypt,
                decrypt=fernet.decrypt,
            )
            client = ApiClient(config, fleet=fleet, metrics=metrics_sink)
            caplog.set_level(logging.DEBUG, logger="airflow_provider_apisync")
            for _ in range(5):
                client.request("GET", "/contacts/1")
            assert store.get(account_key(api.url, "crm") + ":gate:tat") is not None  # shared
            server.stop()
            client.auth.invalidate()  # the next request needs a token: from the store? down
            for _ in range(30):  # 1.5 windows: the local budget paces now
                client.request("GET", "/contacts/1")
            client.close()
        warnings = [
            r for r in caplog.records if r.levelno == logging.WARNING and "unreachable" in r.message
        ]
        assert len(warnings) == 1, [r.message for r in warnings]
        assert metrics_sink.counts["shared_store.unavailable"] == 1
        assert limit.allowed == 35  # every request went through (a 429 is retried)
        assert len(api.auth.grants("client_credentials")) == 2
    finally:
        server.close()


def test_shared_store_extra_is_validated():
    for bad, words in (
        ({"shared_store": "apisync_redis"}, "conn_id"),
        ({"shared_store": {"conn": "x"}}, "unknown keys"),
        ({"shared_store": {"conn_id": "r", "key_prefix": "a b"}}, "key_prefix"),
    ):
        with pytest.raises(ApiConfigError, match=words) as info:
            config_from_connection(host="https://x.example", extra=bad)
        assert info.value.field == "shared_store" and "\n" not in str(info.value)
    config = config_from_connection(
        host="https://x.example",
        extra={"shared_store": {"conn_id": "apisync_redis", "key_prefix": "prod"}},
    )
    assert config.shared_store is not None
    assert (config.shared_store.conn_id, config.shared_store.key_prefix) == (
        "apisync_redis",
        "prod",
    )


@pytest.fixture
def metrics_sink():
    from collections import Counter

    class Sink:
        def __init__(self) -> None:
            self.counts: Counter[str] = Counter()

        def __call__(self, kind: str, name: str, value: float) -> None:
            if kind == "incr":
                self.counts[name] += int(value)

    return Sink()


def test_sensor_sends_no_probe_while_the_fleet_knows_the_window_is_closed(
    redis_flushed, set_conn, monkeypatch
):
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk.exceptions import TaskDeferred
    from sensor_testkit import BEARER, make_context, moment_epoch

    from airflow_provider_apisync.client import ApiRateLimitError
    from airflow_provider_apisync.hooks import ApiSyncHook
    from airflow_provider_apisync.sensors import RateLimitWindowSensor

    redis_conn = f'{{"conn_type": "redis", "host": "127.0.0.1", "port": {redis_flushed.port}}}'
    monkeypatch.setenv("AIRFLOW_CONN_APISYNC_REDIS", redis_conn)
    limit = RateLimit(2, 10.0, headers="none")  # a bare 429 + Retry-After
    with FakeApi(seed={"contacts": 2}, rate_limit=limit) as api:
        extra = {"shared_store": {"conn_id": "apisync_redis"}, "max_retries": 0}
        set_conn("fleet_api", api.url, password=BEARER, extra=extra)
        worker = ApiSyncHook("fleet_api")  # another task of the fleet eats the 429
        worker.request("GET", "/contacts/1")
        worker.request("GET", "/contacts/1")
        with pytest.raises(ApiRateLimitError):
            worker.request("GET", "/contacts/1")
        closed_until = time.time() + api.rate_limit.retry_after_sent[-1]
        sent = len(api.log("GET"))

        sensor = RateLimitWindowSensor(
            task_id="wait", apisync_conn_id="fleet_api", endpoint="/contacts", deferrable=True
        )
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(make_context())
        assert len(api.log("GET")) == sent  # no probe: the fleet already knew
        trigger = deferred.value.trigger
        assert isinstance(trigger, DateTimeTrigger)
        assert abs(moment_epoch(trigger) - closed_until) <= 1.5


def test_a_spent_quota_seen_by_one_worker_makes_the_others_wait(redis_flushed):
    """Headers announce the quota; worker B has sent nothing yet and must not eat a 429."""
    limit = RateLimit(8, 2.0, headers="x")  # X-RateLimit-Remaining / -Reset only
    store = RedisStore("127.0.0.1", redis_flushed.port)
    with FakeApi(seed={"contacts": 2}, rate_limit=limit) as api:
        key = account_key(api.url, "crm")
        config = config_from_connection(
            host=api.url, password=API_KEY, extra={"auth_type": "api_key", "max_retries": 0}
        )
        a = ApiClient(config, fleet=Fleet(store, key))
        b = ApiClient(config, fleet=Fleet(store, key))
        for _ in range(8):
            a.request("GET", "/contacts/1")  # the last response says remaining 0
        b.request("GET", "/contacts/1")  # waits for the reset instead of a 429
        assert limit.rejected == 0
        times = [r.at for r in api.log("GET")]
        assert limit.window_index(times[-1]) == limit.window_index(times[0]) + 1
        assert b.stats.summary()["throttled"] == 1


def test_hooks_share_one_token_encrypted_with_airflows_fernet_key(
    redis_flushed, set_conn, monkeypatch
):
    from airflow.sdk.crypto import get_fernet

    from airflow_provider_apisync.hooks import ApiSyncHook

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", FERNET_KEY)
    get_fernet.cache_clear()
    redis_conn = f'{{"conn_type": "redis", "host": "127.0.0.1", "port": {redis_flushed.port}}}'
    monkeypatch.setenv("AIRFLOW_CONN_APISYNC_REDIS", redis_conn)
    try:
        with FakeApi(seed={"contacts": 2}) as api:
            extra = {
                "auth_type": "oauth2_client_credentials",
                "token_url": api.token_url,
                "shared_store": {"conn_id": "apisync_redis"},
            }
            set_conn("crm_fleet", api.url, login=CLIENT_ID, password=CLIENT_SECRET, extra=extra)
            for _ in range(3):  # three tasks, one after the other (or on three workers)
                ApiSyncHook("crm_fleet").request("GET", "/contacts/1")
            assert len(api.auth.grants("client_credentials")) == 1
            import redis

            raw = redis.Redis(port=redis_flushed.port)
            keys = [k.decode() for k in raw.keys("*")]
            assert any(k.startswith(f"apisync:{api.origin}:crm_fleet:token:") for k in keys)
            values = b"".join(raw.get(k) or b"" for k in keys if raw.type(k) == b"string")
            assert api.auth.minted_secrets[0].encode() not in values
    finally:
        get_fernet.cache_clear()
