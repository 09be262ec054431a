"""The simulated world the example DAGs run against (``make demo``, ``make airflow``).

The world itself lives in the package, so tests and users can reuse it:
:mod:`airflow_provider_apisync.testing.world` (tenants CRM, ERP, helpdesk, analytics,
their connections, faults and rate limits). This module only re-exports it.
"""

from __future__ import annotations

from airflow_provider_apisync.testing.world import (
    Tenant,
    World,
    WorldConfig,
    build_world,
    running_world,
    start_activity,
)

__all__ = ["Tenant", "World", "WorldConfig", "build_world", "running_world", "start_activity"]
