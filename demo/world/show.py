"""Print the simulated systems the example DAGs run against (``make demo``, ``make airflow``)."""

from __future__ import annotations

from demo.world.model import World


def print_world(world: World) -> None:
    """The simulated systems: name, connection id, URL (open it in a browser) and role."""
    print("\nthe simulated systems (FakeApi tenants):")
    for tenant in world:
        print(f"  {tenant.name:<10} {tenant.conn_id:<18} {tenant.api.url}  {tenant.description}")
    for conn_id, name in world.aliases.items():
        print(f"  {'':<10} {conn_id:<18} = {name}")
