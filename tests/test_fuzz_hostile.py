"""A short seeded fuzz pass (issue 13): random placeholder values, random ``Retry-After``,
rate-limit and ``Link`` headers, random JSON shapes at ``records_path``.

Invariants: nothing but the ``ApiError`` family or ``ApiConfigError`` escapes; placeholder
values never produce a request outside the base path; nothing reaches another origin.
Bounded: fixed seed, fixed counts, waits capped at 50 ms (a few seconds in all).
"""

from __future__ import annotations

import json
import random
from email.utils import formatdate
from typing import Any

from resilience_support import client_for

from airflow_provider_apisync.client import ApiConfigError, ApiError
from airflow_provider_apisync.client.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
)
from airflow_provider_apisync.client.urls import expand_path
from airflow_provider_apisync.testing.fakeapi.http import Response

pytest_plugins = ["_servers"]  # fixtures: api, other (module-scoped FakeApis, reset per test)

SEED = 1313
ATOMS = [".", "..", "/", "\\", "%", "%2e", "%2F", "?", "#", "&", "=", "+", ";", " ", "~", "a",
         "Z9", "é", "東", "\x00", "\n", "\t", "{id}", "..%2f", "%00", "\u2024", "．"]  # fmt: skip
ALLOWED = (ApiError, ApiConfigError)


def random_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([None, 0, -1, 10**30, 1.5, True, [], {}, ["x"], {"a": "b"}])
    return "".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 5)))


def test_fuzz_placeholder_values_never_leave_the_base_path(api, other):
    api.route(
        "GET",
        "/accounts/{account}/contacts/{id}",
        lambda r: Response.json({"ok": True}),
        first=True,
    )
    rng = random.Random(SEED)
    client = client_for(api, max_retries=0)
    sent = refused = 0
    for _ in range(150):
        values = {"account_id": random_value(rng), "id": random_value(rng)}
        try:
            path = expand_path("/accounts/{account_id}/contacts/{id}", values)
            client.request("GET", path)
            sent += 1
        except ALLOWED:
            refused += 1
    assert sent > 50 and refused > 20
    for request in api.log():
        parts = request.path.split("/")
        assert len(parts) == 6 and parts[:3] == ["", "v1", "accounts"], request.path
        assert parts[4] == "contacts" and not {".", ".."} & set(parts), request.path
    assert other.log() == []


def random_header(rng: random.Random, other_origin: str) -> str:
    now = formatdate(rng.uniform(0, 4e9), usegmt=True)
    return rng.choice(
        [
            "0", "-1", "1", "0.01", "abc", "", " 2 ", "1e309", "nan", "inf", "-inf", "²",
            "9" * 400, now, "Wed, 99 Foo 2024", str(rng.randint(-(10**12), 10**12)),
            "limit=10, remaining=0, reset=abc", "r=0;w=1", "\u00a0", ",,,", ";",
        ]
    )  # fmt: skip


def random_link(rng: random.Random, other_origin: str) -> str:
    target = rng.choice(
        [
            f"?page={rng.randint(0, 5)}", "", "<>", f"{other_origin}/contacts", "//evil.example/x",
            "javascript:alert(1)", "http://[::1", "http://127.0.0.1:1/x", "\x00", "?a=%zz",
            f"{other_origin.replace('http', 'https')}/v1", "mailto:x@y",
        ]
    )  # fmt: skip
    rel = rng.choice(['rel="next"', "rel=next", 'rel="last next"', "rel=", 'rel="prev"', ""])
    shape = rng.choice(["<{t}>; {r}", "{t}; {r}", "<{t}>; {r}, <{t}>; {r}", "<{t}", "{r}"])
    return shape.format(t=target, r=rel)


def test_fuzz_rate_limit_retry_after_and_link_headers(api, other):
    rng = random.Random(SEED + 1)

    def hostile(request):
        headers = {
            name: random_header(rng, other.origin)
            for name in ("Retry-After", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                         "X-RateLimit-Limit", "RateLimit", "RateLimit-Policy")
            if rng.random() < 0.6
        }  # fmt: skip
        headers["Link"] = random_link(rng, other.origin)
        status = rng.choice([200, 200, 200, 429, 503, 403])
        return Response.json({"data": [{"id": rng.randint(1, 9)}]}, status, headers)

    api.route("GET", "/hostile", hostile, first=True)
    outcomes: dict[str, int] = {}
    for _ in range(60):
        client = client_for(api, max_retries=2, max_retry_wait=0.05)
        paginator = rng.choice(["auto", LinkHeaderPaginator()])
        try:
            pages = client.paginate("/hostile", paginator=paginator, max_pages=3)
            list(pages)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except ALLOWED as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
    assert outcomes.get("ok", 0) > 5 and len(outcomes) > 2, outcomes
    assert all(r.path.startswith("/v1/") for r in api.log())
    assert other.log() == []


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null", "big"]
    if depth < 4:
        kinds += ["list", "dict", "dict"]
    kind = rng.choice(kinds)
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "dict":
        keys = ["data", "next", "has_more", "cursor", "total", "results", "x", "", ".", "a.b"]
        return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return {
        "str": lambda: rng.choice(["", "next", "?page=2", "http://x.example/", "..", "é"]),
        "int": lambda: rng.randint(-5, 50),
        "float": lambda: rng.choice([0.5, -0.0, 1e308]),
        "bool": lambda: rng.random() < 0.5,
        "null": lambda: None,
        "big": lambda: 10**40,
    }[kind]()


def test_fuzz_json_shapes_at_records_path(api, other):
    rng = random.Random(SEED + 2)

    def shapes(request):
        roll = rng.random()
        if roll < 0.05:
            return Response(200, b"[" * 5000 + b"]" * 5000, {"Content-Type": "application/json"})
        if roll < 0.1:
            return Response(200, b'{"data": [1, 2', {"Content-Type": "application/json"})
        body = random_json(rng)
        if rng.random() < 0.6:
            body = {"data": random_json(rng), **(body if isinstance(body, dict) else {})}
        return Response(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    api.route("GET", "/shapes", shapes, first=True)
    client = client_for(api, max_retries=0)
    outcomes: dict[str, int] = {}
    for _ in range(150):
        paginator = rng.choice(
            [
                "auto",
                CursorPaginator("next", "cursor", "has_more"),
                NextUrlPaginator("next"),
                OffsetPaginator(limit=2, total_path="total"),
            ]
        )
        records_path = rng.choice(["data", None, "data.x", "results"])
        try:
            pages = client.paginate(
                "/shapes", paginator=paginator, records_path=records_path, max_pages=3
            )
            list(pages)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except ALLOWED as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
    assert outcomes.get("ok", 0) > 10 and outcomes.get("ApiContractError", 0) > 10, outcomes
    assert other.log() == []
