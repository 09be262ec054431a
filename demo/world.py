"""The simulated world the example DAGs run against: one FakeApi per SaaS tenant.

``build_world()`` starts every tenant and hands back the ``AIRFLOW_CONN_*`` variables
that point Airflow at them. To add a system (issue 7: ERP, helpdesk, analytics ...), write
one ``_tenant()`` factory below and list it in ``TENANTS``; ``demo/run.py`` needs no change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_apisync.testing import FakeApi, FakeAuth

CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-client-secret-0001"  # a FakeApi credential, not a real one


@dataclass
class Tenant:
    """One simulated system and the Airflow connection that reaches it."""

    name: str
    api: FakeApi
    conn_id: str
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def connection_json(self) -> str:
        """The connection in Airflow's JSON form (what ``AIRFLOW_CONN_<ID>`` holds)."""
        fields = {
            "conn_type": "apisync",
            "host": self.api.url,
            "login": self.login,
            "password": self.password,
            "extra": self.extra,
        }
        return json.dumps({k: v for k, v in fields.items() if v not in (None, {})})


@dataclass
class World:
    """Started tenants, by name."""

    tenants: dict[str, Tenant] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_<CONN_ID>`` for every tenant."""
        return {f"AIRFLOW_CONN_{t.conn_id.upper()}": t.connection_json() for t in self}

    def secrets(self) -> list[str]:
        """Every credential in play, minted tokens included (for leak checks)."""
        out: list[str] = []
        for t in self:
            out += [s for s in (t.password, t.extra.get("refresh_token")) if s]
            out += t.api.auth.minted_secrets
        return out

    def __iter__(self) -> Iterator[Tenant]:
        return iter(self.tenants.values())

    def stop(self) -> None:
        for t in self:
            t.api.stop()


def _crm() -> Tenant:
    """A CRM with contacts and companies, reached with OAuth2 client credentials."""
    auth = FakeAuth(oauth_clients={CLIENT_ID: CLIENT_SECRET}, token_ttl=900)
    api = FakeApi(seed={"contacts": 120, "companies": 15}, auth=auth).start()
    return Tenant(
        name="crm",
        api=api,
        conn_id="apisync_crm",
        login=CLIENT_ID,
        password=CLIENT_SECRET,
        extra={
            "auth_type": "oauth2_client_credentials",
            "token_url": api.token_url,
            "scope": "contacts.read companies.read",
            "headers": {"X-Api-Version": "2026-01-01"},
        },
    )


TENANTS: list[Callable[[], Tenant]] = [_crm]


def build_world() -> World:
    """Start every tenant; the caller stops them with ``World.stop()``."""
    world = World()
    try:
        for factory in TENANTS:
            tenant = factory()
            world.tenants[tenant.name] = tenant
    except BaseException:
        world.stop()
        raise
    return world


@contextmanager
def running_world() -> Iterator[World]:
    """``with running_world() as world:`` — tenants up for the block, stopped after."""
    world = build_world()
    try:
        yield world
    finally:
        world.stop()
