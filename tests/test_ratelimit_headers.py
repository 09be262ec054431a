"""Every rate-limit header dialect, served by FakeApi and parsed from the real response.

The headers travel over HTTP so case, folding and ``requests``' header dict are what a
real client sees. Parsing uses a fixed ``now`` so delta, epoch, epoch-ms and HTTP-date
resets can be compared exactly.
"""

from __future__ import annotations

import itertools
from email.utils import formatdate
from typing import Any

import pytest
import requests

from airflow_provider_apisync.client.ratelimit import (
    MAX_RESET_S,
    parse_rate_limit,
    parse_retry_after,
    parse_sf_list,
)
from airflow_provider_apisync.testing import FakeApi, FakeAuth, RateLimit, Response

NOW = 1_900_000_000.0  # a fixed "now" (2030) for epoch arithmetic

# (id, headers, expected (limit, remaining, seconds until reset, window) or None)
DIALECTS: list[tuple[str, dict[str, str], tuple[Any, Any, Any, Any] | None]] = [
    (
        "ietf-basic",
        {"RateLimit-Policy": '"default";q=100;w=60', "RateLimit": '"default";r=50;t=30'},
        (100, 50, 30, 60),
    ),
    (
        "ietf-binding-policy-is-the-emptiest",
        {
            "RateLimit-Policy": '"burst";q=100;w=60, "daily";q=1000;w=86400',
            "RateLimit": '"burst";r=50;t=30, "daily";r=0;t=3000',
        },
        (1000, 0, 3000, 86400),
    ),
    (
        "ietf-token-names-and-extra-params",
        {
            "ratelimit-policy": 'burst;q=10;w=1;qu="requests"',
            "ratelimit": "burst;r=3;t=1;pk=:YWJj:",
        },
        (10, 3, 1, 1),
    ),
    ("ietf-without-policy", {"RateLimit": '"p";r=5;t=2'}, (None, 5, 2, None)),
    ("ietf-policy-only", {"RateLimit-Policy": '"p";q=5;w=1'}, (5, None, None, None)),
    ("ietf-absurd-t-capped", {"RateLimit": '"p";r=0;t=99999999999'}, (None, 0, MAX_RESET_S, None)),
    ("ietf-fractional-t", {"RateLimit": '"p";r=1;t=0.25'}, (None, 1, 0.25, None)),
    (
        "ietf-malformed-falls-back-to-x",
        {"RateLimit": '"p;r=1', "X-RateLimit-Remaining": "7"},
        (None, 7, None, None),
    ),
    ("ietf-malformed-values-ignored", {"RateLimit": '"p";r=abc;t=-4'}, None),
    ("ietf-negative-remaining-ignored", {"RateLimit": '"p";r=-1'}, None),
    ("ietf-trailing-comma-ignored", {"RateLimit": '"p";r=1;t=1,'}, None),
    (
        "draft-dictionary-form",
        {"RateLimit": "limit=100, remaining=50, reset=30"},
        (100, 50, 30, None),
    ),
    (
        "draft06-triple",
        {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"},
        (100, 0, 12, None),
    ),
    (
        "github-epoch-seconds",
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(int(NOW) + 3600),
            "x-ratelimit-resource": "core",
        },
        (5000, 4999, 3600, None),
    ),
    (
        "github-used-without-remaining",
        {
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Used": "60",
            "X-RateLimit-Reset": str(int(NOW) + 5),
        },
        (60, 0, 5, None),
    ),
    (
        "x-twitter",
        {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": "899",
            "x-rate-limit-reset": str(int(NOW) + 900),
        },
        (900, 899, 900, None),
    ),
    (
        "epoch-milliseconds",
        {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int((NOW + 5) * 1000))},
        (None, 3, 5, None),
    ),
    (
        "delta-seconds",
        {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "17"},
        (None, 3, 17, None),
    ),
    (
        "http-date-reset",
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": formatdate(NOW + 10, usegmt=True)},
        (None, 0, 10, None),
    ),
    (
        "reset-in-the-past-is-now",
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) - 100)},
        (None, 0, 0, None),
    ),
    (
        "absurd-epoch-capped",
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"},  # year 2100
        (None, 0, MAX_RESET_S, None),
    ),
    (
        "zendesk",
        {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "699", "ratelimit-reset": "42"},
        (700, 699, 42, None),
    ),
    (
        "hubspot-secondly-binding",
        {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "247000",
            "X-HubSpot-RateLimit-Secondly": "10",
            "X-HubSpot-RateLimit-Secondly-Remaining": "0",
        },
        (10, 0, 1, 1),
    ),
    (
        "hubspot-interval",
        {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": "97",
        },
        (100, 97, None, 10),
    ),
    ("shopify", {"X-Shopify-Shop-Api-Call-Limit": "32/40"}, (40, 8, None, None)),
    ("shopify-full-bucket", {"X-Shopify-Shop-Api-Call-Limit": "40/40"}, (40, 0, 1, None)),
    ("shopify-malformed", {"X-Shopify-Shop-Api-Call-Limit": "32 of 40"}, None),
    (
        "salesforce",
        {"Sforce-Limit-Info": "api-usage=10018/100000"},
        (100000, 89982, None, None),
    ),
    ("salesforce-malformed", {"Sforce-Limit-Info": "api-usage=lots"}, None),
    ("malformed-legacy", {"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "soon"}, None),
    ("infinity-and-nan", {"X-RateLimit-Remaining": "inf", "X-RateLimit-Limit": "nan"}, None),
    ("no-headers", {}, None),
    (
        "ietf-wins-over-x",
        {"RateLimit": '"p";r=1;t=3', "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "60"},
        (None, 1, 3, None),
    ),
]

# (id, headers, JSON body or None, expected seconds)
RETRY_AFTER: list[tuple[str, dict[str, str], Any, float | None]] = [
    ("delay-seconds", {"Retry-After": "120"}, None, 120.0),
    ("http-date", {"Retry-After": formatdate(NOW + 30, usegmt=True)}, None, 30.0),
    ("http-date-past", {"Retry-After": formatdate(NOW - 30, usegmt=True)}, None, 0.0),
    ("negative-ignored", {"Retry-After": "-5"}, None, None),
    ("garbage-ignored", {"Retry-After": "soon"}, None, None),
    ("capped", {"Retry-After": "999999999"}, None, MAX_RESET_S),
    ("ms-header", {"retry-after-ms": "1500"}, None, 1.5),
    ("azure-ms-header", {"x-ms-retry-after-ms": "250"}, None, 0.25),
    ("matrix-body", {}, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1500}, 1.5),
    ("nested-body", {}, {"error": {"retry_after": 2}}, 2.0),
    ("body-bool-ignored", {}, {"retry_after": True}, None),
    ("header-wins-over-body", {"Retry-After": "3"}, {"retry_after_ms": 10}, 3.0),
    ("nothing", {}, {"error": "slow down"}, None),
]


@pytest.fixture(scope="module")
def dialect_api():
    """Serves case ``i`` of both tables at ``/dialect/{i}`` and ``/retry-after/{i}``."""
    with FakeApi(auth=FakeAuth(required=False)) as api:

        def dialect(request):
            _, headers, _ = DIALECTS[int(request.params["i"])]
            return Response.json({"ok": True}, 200, dict(headers))

        def retry_after(request):
            _, headers, body, _ = RETRY_AFTER[int(request.params["i"])]
            return Response.json(body if body is not None else {}, 429, dict(headers))

        api.route("GET", "/dialect/{i}", dialect, first=True)
        api.route("GET", "/retry-after/{i}", retry_after, first=True)
        yield api


@pytest.mark.parametrize(("index", "case"), list(enumerate(DIALECTS)), ids=[c[0] for c in DIALECTS])
def test_dialect_parsed_from_a_real_response(dialect_api, index, case):
    _, _, expected = case
    resp = requests.get(f"{dialect_api.url}/dialect/{index}", timeout=5)
    status = parse_rate_limit(resp.headers, now=NOW)
    if expected is None:
        assert status is None
        return
    limit, remaining, reset_in, window = expected
    assert status is not None
    assert (status.limit, status.remaining, status.window) == (limit, remaining, window)
    if reset_in is None:
        assert status.reset_at is None
    else:
        assert status.reset_in(now=NOW) == pytest.approx(reset_in, abs=0.001)


@pytest.mark.parametrize(
    ("index", "case"), list(enumerate(RETRY_AFTER)), ids=[c[0] for c in RETRY_AFTER]
)
def test_retry_after_parsed_from_a_real_response(dialect_api, index, case):
    _, _, _, expected = case
    resp = requests.get(f"{dialect_api.url}/retry-after/{index}", timeout=5)
    body = resp.json() if resp.content else None
    hint = parse_retry_after(resp.headers, body, now=NOW)
    assert hint == (None if expected is None else pytest.approx(expected, abs=0.001))


STYLES = [("ietf", whole, "delta") for whole in (False, True)] + list(
    itertools.product(("x", "both"), (False, True), ("epoch", "epoch_ms", "delta"))
)


@pytest.mark.parametrize(("style", "whole_seconds", "reset_format"), STYLES)
def test_fakeapi_announcements_round_trip(dialect_api, style, whole_seconds, reset_format):
    """What FakeApi announces in each style is what the parser reads back."""
    dialect_api.rate_limit = RateLimit(
        5, window=10.0, headers=style, integer_seconds=whole_seconds, reset_format=reset_format
    )
    try:
        resp = requests.get(f"{dialect_api.url}/", timeout=5)
    finally:
        dialect_api.rate_limit = None
    status = parse_rate_limit(resp.headers)
    assert status is not None
    assert (status.limit, status.remaining) == (5, 4)
    assert status.window == (10.0 if style in ("ietf", "both") else None)
    assert 0 < status.reset_in() <= 10.0 + (1.0 if whole_seconds else 0.01)


def test_structured_field_list_parser():
    assert parse_sf_list('"a;b";q=1;w=2, tok;flag;r=0') == [
        ("a;b", {"q": "1", "w": "2"}),
        ("tok", {"flag": "?1", "r": "0"}),
    ]
    assert parse_sf_list('"esc\\"aped";r=1') == [('esc"aped', {"r": "1"})]
    for bad in ('"open', "a;R=1", "a b", "a,", "a;=1"):
        with pytest.raises(ValueError):
            parse_sf_list(bad)
