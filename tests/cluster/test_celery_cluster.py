"""apisync on a distributed Airflow: CeleryExecutor, two workers, Postgres, Redis, S3.

The cluster (``cluster_harness.py``) starts once for the session: ~60 s of start-up, then
each DAG run below takes 20-60 s. Files go to ``[apisync] output_base`` in moto's S3 and
every connection comes from moto's Secrets Manager through the Amazon provider's
``SecretsManagerBackend``; the workers share nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from airflow_provider_apisync.testing import FakeApi, FakeAuth, Request
from cluster.cluster_harness import BUCKET, WORKERS, Cluster
from demo.world import World
from demo.world import seed as world_seed

pytestmark = pytest.mark.timeout(900)

OLD_KEY = "sk-fleet-old-5c0f2a7e"
NEW_KEY = "sk-fleet-new-91d4b6c3"
SEGMENTS = 8
CONTACTS = 40  # 8 pages of 5 per mapped task


def local_outputs(cluster: Cluster) -> list[str]:
    """Anything apisync wrote to a local disk: under any AIRFLOW_HOME or temp dir."""
    return [str(p) for p in cluster.root.rglob("apisync") if p.is_dir()]


def test_crm_contacts_to_erp_spreads_over_two_workers_with_files_only_in_s3(
    cluster: Cluster, world: World
):
    dag_id = "crm_contacts_to_erp"
    with cluster.alternating_workers(dag_id):  # every handoff crosses machines
        run_id = cluster.trigger(dag_id)
        state = cluster.wait(dag_id, run_id, timeout=300)
    tis = cluster.task_instances(dag_id, run_id)
    assert state == "success", (tis, cluster.diagnostics())
    assert {ti["task_id"]: ti["state"] for ti in tis} == dict.fromkeys(
        ["crm_quota", "pull_contacts", "to_customers", "upsert_customers", "reconcile"], "success"
    )
    hosts = {ti["task_id"]: ti["hostname"] for ti in tis}
    print("crm_contacts_to_erp task hosts:", hosts)
    order = ["crm_quota", "pull_contacts", "to_customers", "upsert_customers", "reconcile"]
    assert all(hosts[a] != hosts[b] for a, b in zip(order, order[1:])), hosts

    # Every file of the run is in the bucket; no worker has an apisync folder on its disk.
    keys = cluster.bucket_keys(f"apisync/{dag_id}/")
    tasks_with_files = {k.split("/")[2] for k in keys}
    assert {"pull_contacts", "to_customers", "upsert_customers"} <= tasks_with_files, keys
    assert any(k.endswith("_manifest.json") for k in keys)
    assert any("/ledger/" in k for k in keys)
    assert local_outputs(cluster) == []

    # And the integration did its job across machines.
    crm = world["crm"].api.collection("contacts").all()
    expected = {
        world_seed.customer_number(c["id"]): c for c in crm if c["lifecycle_stage"] == "customer"
    }
    erp = {c["customer_number"]: c for c in world["erp"].api.collection("customers").all()}
    assert set(erp) == set(expected)


@dataclass
class Rotation:
    """Rotates ``fleet_api``'s key once every mapped task has fetched its first page.

    Each task's second page waits here until all eight are running, so every task holds
    the old key when the vendor and Secrets Manager switch to the new one.
    """

    api: FakeApi
    cluster: Cluster
    first_pages: set[str] = field(default_factory=set)
    rotated: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, request: Request) -> None:
        segment = request.query.get("segment")
        if segment is None:
            return None
        with self.cond:
            if segment not in self.first_pages:
                self.first_pages.add(segment)
                self.cond.notify_all()
                return None
            if not self.rotated:
                self.cond.wait_for(lambda: len(self.first_pages) >= SEGMENTS, timeout=180)
            if not self.rotated:
                self.api.auth.api_keys = {NEW_KEY}
                conn = fleet_connection(self.api, NEW_KEY)
                self.cluster.put_connection("fleet_api", conn)
                self.rotated = True
        return None


def fleet_connection(api: FakeApi, key: str) -> dict:
    return {
        "conn_type": "apisync",
        "host": api.url,
        "password": key,
        "extra": {"auth_type": "api_key"},
    }


@pytest.fixture
def fleet_api(cluster: Cluster) -> Iterator[tuple[FakeApi, Rotation]]:
    with FakeApi(seed={"contacts": CONTACTS}, auth=FakeAuth(api_keys={OLD_KEY})) as api:
        rotation = Rotation(api, cluster)
        api.middlewares.append(rotation)
        cluster.put_connection("fleet_api", fleet_connection(api, OLD_KEY))
        yield api, rotation


def test_key_rotated_in_secrets_manager_mid_run_is_picked_up_on_both_workers(
    cluster: Cluster, fleet_api: tuple[FakeApi, Rotation]
):
    api, rotation = fleet_api
    run_id = cluster.trigger("cluster_fleet")
    state = cluster.wait("cluster_fleet", run_id, timeout=300)
    tis = cluster.task_instances("cluster_fleet", run_id)
    assert state == "success", (tis, cluster.diagnostics())
    assert rotation.rotated
    assert len(tis) == SEGMENTS and all(ti["state"] == "success" for ti in tis)
    assert all(ti["try_number"] == 1 for ti in tis), "a 401 must not cost a task retry"
    hosts = {ti["map_index"]: ti["hostname"] for ti in tis}
    print("cluster_fleet map index -> host:", hosts)
    assert set(hosts.values()) == set(WORKERS), hosts

    # Per mapped task (= segment): old key accepted, then one 401, then the new key only.
    for segment in map(str, range(SEGMENTS)):
        seen = [
            (r.status, r.headers.get("X-API-Key"))
            for r in api.log("GET", "/contacts")
            if r.query.get("segment") == segment
        ]
        assert seen[0] == (200, OLD_KEY), (segment, seen)
        assert seen[1] == (401, OLD_KEY), (segment, seen)
        assert all(s == (200, NEW_KEY) for s in seen[2:]), (segment, seen)
        assert len(seen) == 1 + CONTACTS // 5, (segment, seen)  # every page once, one 401

    keys = cluster.bucket_keys("apisync/cluster_fleet/pull/")
    maps = {k.split("/")[4] for k in keys}
    assert maps == {f"map_{i}" for i in range(SEGMENTS)}, keys
    assert local_outputs(cluster) == []
    assert all(k.startswith("apisync/") for k in cluster.bucket_keys()), BUCKET
