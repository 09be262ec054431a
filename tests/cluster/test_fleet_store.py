"""The shared store (Redis) on the Celery cluster: one budget, one token chain per fleet.

Every ``apisync`` connection below names ``"shared_store": {"conn_id": "apisync_redis"}``,
a ``redis`` connection (in Secrets Manager like all others) to the cluster's own
redis-server, database 1 (the Celery broker uses 0). The vendors are FakeApi tenants in
this process; tasks run on both Celery workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from airflow_provider_apisync.testing import FakeApi, FakeAuth, RateLimit
from cluster.cluster_harness import WORKERS, Cluster

pytestmark = pytest.mark.timeout(900)

API_KEY = "sk-fleet-budget-3e1a"
CLIENT_ID, CLIENT_SECRET = "client-1", "test-client-secret-0001"
FIRST_REFRESH = "test-refresh-token-0001"
SHARED = {"shared_store": {"conn_id": "apisync_redis"}}
LIMIT, WINDOW = 60, 10.0
CONTACTS = 30  # 8 mapped tasks x 30 pages of 1 = 240+ requests: four windows' worth


@pytest.fixture(scope="module")
def redis_conn(cluster: Cluster) -> None:
    cluster.put_connection(
        "apisync_redis",
        {"conn_type": "redis", "host": "127.0.0.1", "port": cluster.redis_port, "extra": {"db": 1}},
    )


def api_key_conn(api: FakeApi, **extra: object) -> dict:
    return {
        "conn_type": "apisync",
        "host": api.url,
        "password": API_KEY,
        "extra": {"auth_type": "api_key", **extra},
    }


def utilisation(api: FakeApi) -> float:
    """Admitted requests per second while any mapped task was fetching, as a share of the limit.

    One pull alone already wants far more than the budget (FakeApi answers in microseconds),
    so whenever a task is fetching the budget is what limits the rate. Celery starts the
    tasks seconds apart (more on a loaded machine, sometimes in two waves), so the time
    measured is the union of the tasks' busy spans (told apart by their ``segment``
    parameter): the gaps when no task had started yet or all were between waves do not count.
    """
    ok = [r for r in api.log("GET") if r.status == 200]
    spans: dict[str, list[float]] = {}
    for r in ok:
        span = spans.setdefault(r.query.get("segment", ""), [r.at, r.at])
        span[0], span[1] = min(span[0], r.at), max(span[1], r.at)
    assert len(spans) == 8, sorted(spans)
    busy, reach = 0.0, float("-inf")
    for first, last in sorted(spans.values()):
        busy += max(0.0, last - max(first, reach))
        reach = max(reach, last)
    return (len(ok) - 1) / busy / (LIMIT / WINDOW)


def hosts(cluster: Cluster, dag_id: str, run_id: str) -> set[str]:
    return {ti["hostname"] for ti in cluster.task_instances(dag_id, run_id)}


def run_budget(cluster: Cluster, dag_id: str, conn_id: str, shared: bool) -> tuple[FakeApi, str]:
    limit = RateLimit(LIMIT, WINDOW, headers="none")  # a bare 429 + Retry-After, nothing else
    auth = FakeAuth(api_keys={API_KEY})
    with FakeApi(seed={"contacts": CONTACTS}, rate_limit=limit, auth=auth) as api:
        budget = {"rate_limit": {"requests": LIMIT, "per_seconds": WINDOW}}
        cluster.put_connection(conn_id, api_key_conn(api, **budget, **(SHARED if shared else {})))
        run_id = cluster.trigger(dag_id)
        state = cluster.wait(dag_id, run_id, timeout=300)
    assert state == "success" or not shared, cluster.diagnostics()
    return api, run_id


def test_eight_mapped_tasks_on_two_workers_share_one_budget(cluster: Cluster, redis_conn: None):
    base, base_run = run_budget(cluster, "cluster_budget_local", "fleet_local", shared=False)
    spread = sorted(hosts(cluster, "cluster_budget_local", base_run))
    print(
        f"\nper-process budgets, 8 tasks: {base.rate_limit.rejected} x 429, "
        f"utilisation {utilisation(base):.2f}, hosts {spread}"
    )
    api, run_id = run_budget(cluster, "cluster_budget_shared", "fleet_shared", shared=True)
    used = utilisation(api)
    print(f"shared budget, 8 tasks: {api.rate_limit.rejected} x 429, utilisation {used:.2f}")
    assert hosts(cluster, "cluster_budget_shared", run_id) == set(WORKERS)
    assert len([r for r in api.log("GET") if r.status == 200]) >= 8 * CONTACTS
    assert api.rate_limit.rejected == 0
    assert used >= 0.85


@pytest.fixture
def rotating_vendor(cluster: Cluster, redis_conn: None) -> Iterator[FakeApi]:
    auth = FakeAuth(
        oauth_clients={CLIENT_ID: CLIENT_SECRET},
        refresh_tokens={FIRST_REFRESH: CLIENT_ID},
        rotate_refresh_tokens=True,  # each refresh token is valid once
    )
    with FakeApi(seed={"contacts": 10}, auth=auth) as api:
        cluster.put_connection(
            "fleet_rt",
            {
                "conn_type": "apisync",
                "host": api.url,
                "login": CLIENT_ID,
                "password": CLIENT_SECRET,
                "extra": {
                    "auth_type": "oauth2_refresh_token",
                    "token_url": api.token_url,
                    "refresh_token": FIRST_REFRESH,  # never updated: the store keeps the chain
                    **SHARED,
                },
            },
        )
        yield api


def test_rotating_refresh_tokens_survive_three_runs_on_both_workers(
    cluster: Cluster, rotating_vendor: FakeApi
):
    api = rotating_vendor
    seen_hosts: set[str] = set()
    for run in (1, 2, 3):
        run_id = cluster.trigger("cluster_refresh")
        state = cluster.wait("cluster_refresh", run_id, timeout=240)
        assert state == "success", (run, cluster.diagnostics())
        seen_hosts |= hosts(cluster, "cluster_refresh", run_id)
        # One refresh per expiry for the whole fleet: the first task of the run refreshes,
        # the other three use the token it shared.
        assert len(api.auth.grants("refresh_token")) == run, api.auth.grants("refresh_token")
        api.auth.expire_all_tokens()  # the access token expires between runs
    assert seen_hosts == set(WORKERS)
    print(f"refresh grants over 3 runs x 4 tasks: {len(api.auth.grants('refresh_token'))}")


def test_sensor_sends_no_probe_while_the_fleet_knows_the_window_is_closed(
    cluster: Cluster, redis_conn: None
):
    # Three requests per 45 s (sliding): the 4th is refused with Retry-After ~45 s.
    limit = RateLimit(3, 45.0, headers="none", mode="sliding")
    with FakeApi(seed={"contacts": 2}, rate_limit=limit) as api:
        cluster.put_connection(
            "fleet_window",
            {
                "conn_type": "apisync",
                "host": api.url,
                "password": "test-bearer-token-0001",
                "extra": {"auth_type": "bearer", "max_retries": 0, **SHARED},
            },
        )
        run_id = cluster.trigger("cluster_window")
        state = cluster.wait("cluster_window", run_id, timeout=240)
        tis = {ti["task_id"]: ti for ti in cluster.task_instances("cluster_window", run_id)}
        assert state == "success", cluster.diagnostics()
        refused = [r for r in api.log("GET") if r.status == 429]
        probes = [r for r in api.log("GET", "/contacts")]
    assert len(refused) == 1 and refused[0].path.endswith("/contacts/1")
    reopens = refused[0].at + api.rate_limit.retry_after_sent[0]
    sensor_started = datetime.fromisoformat(tis["wait_for_window"]["start_date"]).timestamp()
    print(
        f"window closed until +{reopens - refused[0].at:.0f}s; sensor started "
        f"+{sensor_started - refused[0].at:.0f}s on {tis['wait_for_window']['hostname']}, "
        f"the 429 was on {tis['spend_window']['hostname']}"
    )
    assert sensor_started < reopens  # the sensor ran while the window was closed ...
    assert probes and all(p.at >= reopens - 1.0 for p in probes)  # ... and did not probe
    assert [p.status for p in probes] == [200]
