"""The demo world: a CRM, an ERP, a helpdesk and an analytics API, each a FakeApi tenant.

Each tenant accepts only its own credential type, announces (or hides) its own rate
limit and, with ``chaos=True``, misbehaves like a real SaaS API. See ``docs/examples.md``.

========== ======================= ============================ =================================
tenant     connection id           auth                         behaviour
========== ======================= ============================ =================================
crm        ``apisync_crm``         OAuth2 client credentials    25 req / 5 s, ``RateLimit`` and
           (``apisync_default``)                                ``X-RateLimit-*`` headers; cursor
                                                                pages (contacts), offset (invoices)
erp        ``apisync_erp``         API key (``X-API-Key``)      40 req / s enforced with 429 +
                                                                ``Retry-After`` only (no quota
                                                                headers); validation (422); lost
                                                                acknowledgements on writes
helpdesk   ``apisync_helpdesk``    basic (``email/token``)      Zendesk-style cursor pages,
                                                                ``X-RateLimit-*`` with delta reset
analytics  ``apisync_analytics``   bearer token                 page-number pages with
                                                                ``total_pages``
salesforce ``apisync_salesforce``  OAuth2 client credentials    Bulk API 2.0 query jobs (only
                                                                when FakeApi has bulk routes)
========== ======================= ============================ =================================

Chaos (every tenant, never on the OAuth2 token endpoint): 5 % of requests answered 503,
2 % of connections dropped before the server reads the request; on the ERP 3 % of
customer upserts commit and then lose their acknowledgement, and the second invoice
batch loses its acknowledgement once. Two CRM invoices are invalid for the ERP.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_apisync.testing.fakeapi import FakeApi, FakeAuth, RateLimit, Request
from airflow_provider_apisync.testing.fakeapi.auth import TOKEN_PATH
from airflow_provider_apisync.testing.fakeapi.collections import make_records
from demo.world import seed
from demo.world.model import Tenant, WindowGate, World

CRM_CLIENT_ID = "demo-crm-client"
CRM_CLIENT_SECRET = "demo-crm-client-secret-0001"  # FakeApi credentials, not real ones
ERP_API_KEY = "demo-erp-api-key-0001"
HELPDESK_LOGIN = "integrations@example.test/token"
HELPDESK_TOKEN = "demo-helpdesk-token-0001"
ANALYTICS_TOKEN = "demo-analytics-token-0001"
SALESFORCE_CLIENT_ID = "demo-salesforce-consumer-key"
SALESFORCE_CLIENT_SECRET = "demo-salesforce-consumer-secret-0001"
GITHUB_WEBHOOK_SECRET = "demo-github-webhook-secret-0001"


@dataclass
class WorldConfig:
    """Sizes and switches; ``now`` anchors every seeded timestamp (default: start time)."""

    now: datetime | None = None
    chaos: bool = True
    contacts: int = 240
    invoices: int = 40
    tickets: int = 60
    recent_tickets: int = 12
    events_per_day: int = 600
    event_days: int = 3
    crm_limit: int = 25
    crm_window: float = 5.0
    erp_limit: int = 40
    fault_seed: int = 1234

    def anchor(self) -> datetime:
        return self.now or datetime.now(timezone.utc)


def _only(**accepted: Any) -> FakeAuth:
    """A FakeAuth accepting only the given credentials (no test defaults)."""
    base: dict[str, Any] = {
        "api_keys": set(),
        "bearer_tokens": set(),
        "basic_users": {},
        "oauth_clients": {},
        "refresh_tokens": {},
    }
    return FakeAuth(**{**base, **accepted})


def _not_token(request: Request) -> bool:
    return not request.path.endswith(TOKEN_PATH)


def _read_only(request: Request) -> bool:
    return request.method == "GET" and _not_token(request)


def add_chaos(
    api: FakeApi, cfg: WorldConfig, salt: int, when: Callable[[Request], bool] = _not_token
) -> None:
    """5 % 503s and 2 % dropped connections on every path except the token endpoint."""
    api.faults.rng = random.Random(cfg.fault_seed + salt)
    api.faults.add("status", status=503, rate=0.05, when=when)
    api.faults.add("drop", rate=0.02, when=when)


def crm(cfg: WorldConfig, tickets: list[dict[str, Any]]) -> Tenant:
    """Contacts, invoices and a mirror of the helpdesk's tickets; OAuth2; quota headers."""
    now = cfg.anchor()
    auth = _only(oauth_clients={CRM_CLIENT_ID: CRM_CLIENT_SECRET}, token_ttl=900)
    limit = RateLimit(limit=cfg.crm_limit, window=cfg.crm_window, headers="both")
    api = FakeApi(prefix="/crm/v3", auth=auth, rate_limit=limit)
    api.seed("contacts", seed.contacts(cfg.contacts, now))
    api.seed("invoices", seed.invoices(cfg.invoices, cfg.contacts, now))
    api.seed("tickets", seed.crm_ticket_mirror(tickets))
    api.pagination.styles.update({"contacts": "cursor", "tickets": "cursor"})
    if cfg.chaos:
        add_chaos(api, cfg, 1)
    tenant = Tenant(
        name="crm",
        api=api.start(),
        conn_id="apisync_crm",
        description="CRM (HubSpot-like): OAuth2, 25 req/5 s announced in headers",
        login=CRM_CLIENT_ID,
        password=CRM_CLIENT_SECRET,
        extra={
            "auth_type": "oauth2_client_credentials",
            "oauth2_url": api.token_url,
            "scope": "crm.objects.contacts.read crm.objects.invoices.read tickets",
        },
    )
    return tenant


def erp(cfg: WorldConfig) -> Tenant:
    """Customers and invoices; API key; a limit enforced without quota headers."""
    now = cfg.anchor()
    api = FakeApi(
        prefix="/api/v1",
        auth=_only(api_keys={ERP_API_KEY}),
        rate_limit=RateLimit(limit=cfg.erp_limit, window=1.0, headers="none"),
    )
    contacts = seed.contacts(cfg.contacts, now)
    customers = [c["id"] for c in contacts if c["lifecycle_stage"] == "customer"][:5]
    api.seed("customers", seed.stale_customers(contacts, customers), key="customer_number")
    api.seed("invoices", [], key="invoice_number")
    api.validation.add(
        "customers", required=["customer_number", "name", "email"], patterns={"email": r".+@.+"}
    )
    api.validation.add(
        "invoices",
        required=["invoice_number", "customer_number", "currency", "total"],
        patterns={"currency": "[A-Z]{3}", "customer_number": r"C\d{6}"},
    )
    if cfg.chaos:
        add_chaos(api, cfg, 2)
        api.faults.add("ack_lost", method="PUT", path="/customers/", rate=0.03)
        api.faults.add("ack_lost", method="POST", path="/invoices/batch", after=1, times=1)
    return Tenant(
        name="erp",
        api=api.start(),
        conn_id="apisync_erp",
        description="ERP: API key, 40 req/s enforced with bare 429 + Retry-After",
        password=ERP_API_KEY,
        extra={
            "auth_type": "api_key",
            "key_header": "X-API-Key",
            "rate_limit": {"requests": 30, "per_seconds": 1},  # no quota headers: pace ourselves
        },
    )


def helpdesk(cfg: WorldConfig, tickets: list[dict[str, Any]]) -> Tenant:
    """Tickets with Zendesk-style cursor pages; basic auth with an API token."""
    api = FakeApi(
        prefix="/api/v2",
        auth=_only(basic_users={HELPDESK_LOGIN: HELPDESK_TOKEN}),
        rate_limit=RateLimit(limit=400, window=60.0, headers="x", reset_format="delta"),
    )
    api.seed("tickets", tickets)
    api.pagination.styles["tickets"] = "zendesk"
    api.seed("comments", seed.ticket_comments(tickets))  # GET /tickets/{id}/comments
    api.pagination.styles["comments"] = "zendesk"
    api.children.relate("tickets", "comments", foreign_key="ticket_id")
    merged = seed.merged_ticket(cfg.tickets)  # its comments moved with the merge: 404
    api.faults.add("status", path=f"/tickets/{merged}/comments", status=404)
    if cfg.chaos:
        add_chaos(api, cfg, 3)
    return Tenant(
        name="helpdesk",
        api=api.start(),
        conn_id="apisync_helpdesk",
        description="helpdesk (Zendesk-like): basic email/token, cursor pages, ticket comments",
        login=HELPDESK_LOGIN,
        password=HELPDESK_TOKEN,
        extra={"auth_type": "basic"},
    )


def analytics(cfg: WorldConfig) -> Tenant:
    """Product events over the last days; page-number pages with a total; bearer token."""
    api = FakeApi(prefix="/api/2", auth=_only(bearer_tokens={ANALYTICS_TOKEN}))
    api.seed("events", seed.events(cfg.events_per_day, cfg.event_days, cfg.anchor()))
    api.pagination.styles["events"] = "page"
    if cfg.chaos:
        add_chaos(api, cfg, 4)
    return Tenant(
        name="analytics",
        api=api.start(),
        conn_id="apisync_analytics",
        description="product analytics: bearer token, page numbers with total_pages",
        password=ANALYTICS_TOKEN,
        extra={"auth_type": "bearer"},
    )


def salesforce(cfg: WorldConfig) -> Tenant | None:
    """Contacts behind Salesforce Bulk API 2.0 query jobs, when FakeApi offers bulk routes.

    Chaos only on reads: creating a job is a POST without an idempotency key, which no
    client may resend blindly (the operator leaves that to a task retry).
    """
    try:
        from airflow_provider_apisync.testing.fakeapi.bulk import (  # type: ignore[import-not-found,unused-ignore]
            install_bulk_routes,
        )
    except ImportError:
        return None
    auth = _only(oauth_clients={SALESFORCE_CLIENT_ID: SALESFORCE_CLIENT_SECRET})
    api = FakeApi(prefix="/services/data/v62.0", auth=auth)
    api.seed("contacts", make_records("contacts", 120))
    bulk = install_bulk_routes(api)
    if cfg.chaos:
        add_chaos(api, cfg, 5, when=_read_only)
    return Tenant(
        name="salesforce",
        api=api.start(),
        conn_id="apisync_salesforce",
        description="Salesforce-like: OAuth2, Bulk API 2.0 query jobs",
        login=SALESFORCE_CLIENT_ID,
        password=SALESFORCE_CLIENT_SECRET,
        extra={"auth_type": "oauth2_client_credentials", "oauth2_url": api.token_url},
        features={"bulk": bulk},
    )


def build_world(config: WorldConfig | None = None) -> World:
    """Start every tenant; stop them with ``World.stop()`` (or use :func:`running_world`)."""
    cfg = config or WorldConfig()
    tickets = seed.tickets(cfg.tickets, cfg.recent_tickets, cfg.anchor())
    factories: list[Callable[[], Tenant]] = [
        lambda: crm(cfg, tickets),
        lambda: erp(cfg),
        lambda: helpdesk(cfg, tickets),
        lambda: analytics(cfg),
    ]
    world = World(aliases={"apisync_default": "crm"})
    try:
        for factory in factories:
            tenant = factory()
            world.tenants[tenant.name] = tenant
        optional = salesforce(cfg)
        if optional is not None:
            world.tenants[optional.name] = optional
        crm_api = world["crm"].api
        assert crm_api.rate_limit is not None
        world.gates["crm"] = WindowGate(crm_api, crm_api.rate_limit)
        world.extra_connections["apisync_webhook_github"] = {
            "conn_type": "apisync",
            "password": GITHUB_WEBHOOK_SECRET,
            "extra": {"webhook_scheme": "github"},
        }
    except BaseException:
        world.stop()
        raise
    return world


@contextmanager
def running_world(config: WorldConfig | None = None) -> Iterator[World]:
    """``with running_world() as world:`` — tenants up for the block, stopped after."""
    world = build_world(config)
    try:
        yield world
    finally:
        world.stop()


def start_activity(world: World, every: float = 15.0) -> Callable[[], None]:
    """Keep the world changing (for a long-running UI session): every ``every`` seconds a
    ticket changes status, a contact is edited and a few analytics events arrive.
    Returns a function that stops the activity (also registered with ``world.on_stop``)."""
    stop = threading.Event()
    rng = random.Random(7)

    def run() -> None:
        while not stop.wait(every):
            tickets = world["helpdesk"].api.collection("tickets")
            ticket = rng.randint(1, max(len(tickets), 1))
            tickets.patch(ticket, {"status": rng.choice(seed.TICKET_STATUSES)})
            contacts = world["crm"].api.collection("contacts")
            contacts.patch(rng.randint(1, max(len(contacts), 1)), {"country": "NL"})
            events = world["analytics"].api.collection("events")
            for _ in range(5):
                events.create({"event_type": rng.choice(seed.EVENT_TYPES), "value": 1.0})

    thread = threading.Thread(target=run, name="world-activity", daemon=True)
    thread.start()
    world.on_stop(stop.set)
    return stop.set
