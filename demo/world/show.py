"""The simulated world the example DAGs run against (``make demo``, ``make airflow``).

The world itself lives in the package, so tests and users can reuse it:
:mod:`demo.world` (tenants CRM, ERP, helpdesk, analytics,
their connections, faults and rate limits). This module re-exports it and prints it.
"""

from __future__ import annotations

from demo.world import (
    Tenant,
    World,
    WorldConfig,
    build_world,
    running_world,
    start_activity,
)

__all__ = [
    "Tenant",
    "World",
    "WorldConfig",
    "build_world",
    "print_world",
    "running_world",
    "start_activity",
]


def print_world(world: World) -> None:
    """The simulated systems: name, connection id, URL (open it in a browser) and role."""
    print("\nthe simulated systems (FakeApi tenants):")
    for tenant in world:
        print(f"  {tenant.name:<10} {tenant.conn_id:<18} {tenant.api.url}  {tenant.description}")
    for conn_id, name in world.aliases.items():
        print(f"  {'':<10} {conn_id:<18} = {name}")
