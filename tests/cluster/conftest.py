"""One distributed Airflow for every test in tests/cluster/ (started once, stopped after them).

See ``cluster_harness.py``. The demo world (CRM, ERP ... as FakeApi tenants) runs in this
process; every connection lives in Secrets Manager (moto), none in the environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.cluster_harness import Cluster, running_cluster
from demo.world import World, WorldConfig, running_world

REPO = Path(__file__).resolve().parents[2]
DAGS = [
    REPO / "example_dags" / "crm_contacts_to_erp.py",
    *sorted((Path(__file__).parent / "dags").glob("*.py")),
]


def _missing() -> list[str]:
    needed = ("redis-server",)
    missing = [b for b in needed if shutil.which(b) is None]
    if shutil.which("initdb") is None and not list(
        Path("/usr/lib/postgresql").glob("*/bin/initdb")
    ):
        missing.append("postgresql (initdb)")
    return missing


@pytest.fixture(scope="package")
def world() -> Iterator[World]:
    with running_world(WorldConfig()) as w:
        yield w


@pytest.fixture(scope="package")
def cluster(world: World) -> Iterator[Cluster]:
    missing = _missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: run `make debs` (scripts/debian-deps.sh)")
    with running_cluster(DAGS) as running:
        running.put_connection("aws_default", running.aws_connection())
        for conn_id, conn in world.connections().items():
            running.put_connection(conn_id, conn)
        yield running
