"""Deterministic, realistic-looking records for the demo world's tenants.

Everything is derived from the record number and a reference time ``now``, so tests can
recompute what a system holds, and timestamps sit where incremental pulls and windowed
pulls find them (the last hours and days before ``now``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Tim")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Perlman")
COMPANIES = (
    ("Acme Corp", "acme.test", "DE"),
    ("Globex", "globex.test", "US"),
    ("Initech", "initech.test", "US"),
    ("Umbrella", "umbrella.test", "GB"),
    ("Stark Industries", "stark.test", "US"),
    ("Wayne Enterprises", "wayne.test", "FR"),
)
STAGES = ("lead", "customer", "customer", "opportunity", "customer")
TICKET_STATUSES = ("new", "open", "pending", "solved", "closed")
SUBJECTS = ("Invoice question", "Login fails", "Export is slow", "Refund request", "API 429s")
EVENT_TYPES = ("page_view", "signup", "checkout", "search", "feature_used")
CURRENCIES = ("EUR", "USD", "GBP")

# Invoices the ERP must reject (they end in the push's dead letters), by CRM invoice id.
INVALID_INVOICES = {7: "currency 'eur' is not an ISO 4217 code", 23: "no customer linked"}
DRAFT_INVOICES = {12, 31}  # not sent at all: filtered by the DAG's transform


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, millisecond precision (what most SaaS APIs send)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def contacts(count: int, now: datetime) -> list[dict[str, Any]]:
    """CRM contacts; ``updated_at`` grows with the id, the newest a minute before ``now``."""
    out = []
    for i in range(1, count + 1):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        company, domain, country = COMPANIES[i % len(COMPANIES)]
        out.append(
            {
                "id": i,
                "firstname": first,
                "lastname": last,
                "email": f"{first}.{last}{i}@{domain}".lower(),
                "company": company,
                "country": country,
                "lifecycle_stage": STAGES[i % len(STAGES)],
                "updated_at": iso(now - timedelta(minutes=(count - i) * 7 + 1)),
            }
        )
    return out


def customer_number(contact_id: int) -> str:
    """The ERP's business key for a CRM contact (what the example DAG derives)."""
    return f"C{contact_id:06d}"


def stale_customers(crm_contacts: list[dict[str, Any]], ids: Iterable[int]) -> list[dict[str, Any]]:
    """ERP customers that already exist with out-of-date data (the sync must update them)."""
    by_id = {c["id"]: c for c in crm_contacts}
    return [
        {
            "customer_number": customer_number(i),
            "name": f"{by_id[i]['firstname']} {by_id[i]['lastname']}",
            "email": f"old-address-{i}@example.test",
            "country": by_id[i]["country"],
            "crm_id": i,
        }
        for i in ids
        if i in by_id
    ]


def invoices(count: int, contact_count: int, now: datetime) -> list[dict[str, Any]]:
    """CRM (commerce) invoices with lines; a few drafts and a few the ERP will reject."""
    out = []
    for i in range(1, count + 1):
        contact_id: int | None = (i * 7) % contact_count + 1
        currency = CURRENCIES[i % len(CURRENCIES)]
        if i == 7:
            currency = "eur"
        if i == 23:
            contact_id = None
        lines: list[dict[str, Any]] = [
            {"sku": f"SKU-{(i + n) % 9 + 1:03d}", "qty": n + 1, "unit_price": 19.5 + n * 10}
            for n in range(i % 3 + 1)
        ]
        issued = now - timedelta(days=(count - i) % 20, hours=3)
        out.append(
            {
                "id": i,
                "number": f"INV-2026-{i:05d}",
                "contact_id": contact_id,
                "currency": currency,
                "amount": round(sum(x["qty"] * x["unit_price"] for x in lines), 2),
                "status": "draft" if i in DRAFT_INVOICES else ("paid", "open")[i % 2],
                "issued_on": issued.date().isoformat(),
                "due_on": (issued + timedelta(days=30)).date().isoformat(),
                "lines": lines,
                "updated_at": iso(issued),
            }
        )
    return out


def tickets(count: int, recent: int, now: datetime) -> list[dict[str, Any]]:
    """Helpdesk tickets in ``updated_at`` order: ``recent`` of them changed in the last
    ten minutes, the others spread over the three days before."""
    out = []
    older = count - recent
    for i in range(1, count + 1):
        if i <= older:
            updated = now - timedelta(hours=72) + timedelta(minutes=(i - 1) * (71 * 60) // older)
        else:
            updated = now - timedelta(seconds=600 - (i - older) * (570 // recent))
        out.append(
            {
                "id": i,
                "subject": f"{SUBJECTS[i % len(SUBJECTS)]} #{i}",
                "status": TICKET_STATUSES[(i * 3) % len(TICKET_STATUSES)],
                "priority": ("low", "normal", "high", "urgent")[i % 4],
                "requester_email": f"customer{i}@example.test",
                "updated_at": iso(updated),
            }
        )
    return out


def comments_per_ticket(ticket_id: int) -> int:
    """How many comments ticket ``ticket_id`` has: 0 to 4 (so some need several pages)."""
    return ticket_id % 5


def merged_ticket(count: int) -> int:
    """A recently changed ticket whose comments answer 404 (merged into another one)."""
    return count - 1


def ticket_comments(helpdesk_tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comments of every ticket, written after the ticket's last change, in order."""
    out: list[dict[str, Any]] = []
    for ticket in helpdesk_tickets:
        stamp = datetime.fromisoformat(ticket["updated_at"].replace("Z", "+00:00"))
        for n in range(1, comments_per_ticket(ticket["id"]) + 1):
            out.append(
                {
                    "id": len(out) + 1,
                    "ticket_id": ticket["id"],
                    "author_email": ticket["requester_email"] if n % 2 else "agent@example.test",
                    "body": f"comment {n} on ticket {ticket['id']}",
                    "public": n % 3 != 0,
                    "created_at": iso(stamp - timedelta(seconds=10 * n)),
                    "updated_at": iso(stamp - timedelta(seconds=10 * n)),
                }
            )
    return out


def crm_ticket_mirror(helpdesk_tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CRM's copy of every helpdesk ticket, as of the last sync (status not yet known)."""
    return [
        {
            "id": t["id"],
            "subject": t["subject"],
            "status": "unknown",
            "source": "helpdesk",
            "updated_at": "2026-01-01T00:00:00.000Z",
        }
        for t in helpdesk_tickets
    ]


def events(per_day: int, days: int, now: datetime) -> list[dict[str, Any]]:
    """Product analytics events, evenly spread over the ``days`` days before ``now``."""
    total = per_day * days
    start = now - timedelta(days=days)
    step = timedelta(days=days) / total
    return [
        {
            "id": i + 1,
            "event_type": EVENT_TYPES[(i * 7) % len(EVENT_TYPES)],
            "user_id": f"u{(i * 13) % 97:03d}",
            "value": round((i % 50) * 1.5, 2),
            "updated_at": iso(start + step * i),
        }
        for i in range(total)
    ]
