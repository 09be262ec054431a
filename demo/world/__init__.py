"""A simulated company's SaaS landscape for the example DAGs, ``make demo`` and our tests.

Not in the wheel: it lives in the repository (repo root on ``sys.path``); users build
their own fixtures from :class:`~airflow_provider_apisync.testing.FakeApi`.

>>> from demo.world import running_world
>>> with running_world() as world:
...     env = world.env()  # AIRFLOW_CONN_APISYNC_CRM, _ERP, _HELPDESK, _ANALYTICS ...
...     world["erp"].api.collection("customers")  # what the ERP holds

See ``tenants.py`` for what each system does and ``docs/examples.md`` for the DAGs.
"""

from demo.world.model import Tenant, WindowGate, World
from demo.world.tenants import (
    WorldConfig,
    build_world,
    running_world,
    start_activity,
)

__all__ = [
    "Tenant",
    "WindowGate",
    "World",
    "WorldConfig",
    "build_world",
    "running_world",
    "start_activity",
]
