"""Every paginator against FakeApi over real HTTP: exact record sets, stops, guards, resume."""

from __future__ import annotations

import itertools
import logging

import pytest
from pull_support import client_for, ids_of

from airflow_provider_apisync.client import (
    ApiConfigError,
    ApiContractError,
    ForeignHostError,
    PaginationLoopError,
)
from airflow_provider_apisync.client.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePagePaginator,
    paginate,
)
from airflow_provider_apisync.client.paginators import parse_link_header
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.testing import FakeApi, Response

N = 95  # not a multiple of the page size: the last page is short

# style -> (explicit paginator, request params, class "auto" must choose)
STYLES = {
    "offset": (OffsetPaginator(limit=10, total_path="total"), {"limit": 10}, OffsetPaginator),
    "page": (
        PageNumberPaginator(page_size=10, size_param="per_page", total_pages_path="total_pages"),
        {"page": 1, "per_page": 10},
        PageNumberPaginator,
    ),
    "cursor": (CursorPaginator("response_metadata.next_cursor"), {"limit": 10}, CursorPaginator),
    "stripe": (
        CursorPaginator("data.-1.id", "starting_after", "has_more"),
        {"limit": 10},
        CursorPaginator,
    ),
    "zendesk": (
        CursorPaginator("meta.after_cursor", "page[after]", "meta.has_more"),
        {"page[size]": 10},
        NextUrlPaginator,
    ),
    "link": (LinkHeaderPaginator(), {"per_page": 10}, LinkHeaderPaginator),
    "hubspot": (NextUrlPaginator("paging.next.link"), {"limit": 10}, NextUrlPaginator),
    "salesforce": (NextUrlPaginator("nextRecordsUrl"), {"limit": 10}, NextUrlPaginator),
    "graph": (NextUrlPaginator("@odata.nextLink"), {"$top": 10}, NextUrlPaginator),
    "header": (NextUrlPaginator(header="Next-Page"), {"_limit": 10}, NextUrlPaginator),
    "single": (SinglePagePaginator(), {}, SinglePagePaginator),
}


@pytest.fixture(scope="module")
def api():
    with FakeApi(seed={"contacts": N}) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(api):
    api.faults.clear()
    api.clear_log()
    api.pagination.max_page_size = 1000
    api.pagination.include_total = True
    api.pagination.relative_links = False
    api.pagination.short_pages = False
    yield


def pull(api, style, paginator, params, client=None, **kwargs):
    client = client or client_for(api)
    return paginate(
        client, f"/paged/{style}/contacts", paginator=paginator, params=params, **kwargs
    )


@pytest.mark.parametrize("style", STYLES)
def test_explicit_paginator_pulls_exact_set(api, style):
    paginator, params, _ = STYLES[style]
    ids = ids_of(pull(api, style, paginator, params))
    assert ids == list(range(1, N + 1))
    expected_requests = 1 if style == "single" else 10
    assert len(api.log("GET")) == expected_requests


@pytest.mark.parametrize("style", STYLES)
def test_auto_detects_style_and_logs_choice(api, style, caplog):
    _, params, chosen = STYLES[style]
    caplog.set_level(logging.INFO, logger="airflow_provider_apisync.client.pagination")
    ids = ids_of(pull(api, style, "auto", params))
    assert ids == list(range(1, N + 1))
    choice = [r.getMessage() for r in caplog.records if "paginator 'auto' chose" in r.message]
    assert len(choice) == 1 and chosen.__name__ in choice[0]


@pytest.mark.parametrize("style", [s for s in STYLES if s != "single"])
@pytest.mark.parametrize("kind", ["status", "drop"])
def test_faults_mid_pagination_are_retried_without_gaps_or_duplicates(api, style, kind):
    paginator, params, _ = STYLES[style]
    mid = api.faults.add(kind, path="/paged/", after=3, times=2, status=503)  # page 4, twice
    api.faults.add(kind, path="/paged/", rate=0.25, status=503)  # and random ones
    ids = ids_of(pull(api, style, paginator, params, client=client_for(api, max_retries=10)))
    assert ids == list(range(1, N + 1))
    assert mid.fired == 2 and api.faults.total >= 2


@pytest.mark.parametrize("auto", [False, True], ids=["explicit", "auto"])
@pytest.mark.parametrize("style", [s for s in STYLES if s != "single"])
def test_resume_from_page_state_fetches_only_remaining_pages(api, style, auto):
    paginator, params, _ = STYLES[style]
    paginator = "auto" if auto else paginator
    first = list(itertools.islice(pull(api, style, paginator, params), 4))
    state = first[-1].state
    assert state is not None
    first_log = len(api.log("GET"))
    assert first_log == 4
    rest = list(pull(api, style, paginator, params, state=state))
    assert ids_of(first) + ids_of(rest) == list(range(1, N + 1))
    assert len(api.log("GET")) - first_log == 6  # pages 5..10, nothing fetched twice
    assert rest[-1].state is None


@pytest.mark.parametrize("style", ["offset", "page"])
def test_concurrent_pages_keep_order(api, style):
    paginator, params, _ = STYLES[style]
    pages = list(pull(api, style, paginator, params, concurrency=4))
    assert ids_of(pages) == list(range(1, N + 1))
    assert len(api.log("GET")) == 10
    assert [p.state is None for p in pages] == [False] * 9 + [True]
    resumed = list(pull(api, style, paginator, params, concurrency=3, state=pages[5].state))
    assert ids_of(resumed) == list(range(61, N + 1))


def test_concurrency_with_faults_and_max_pages(api):
    api.faults.add("status", path="/paged/", rate=0.25)
    client = client_for(api, max_retries=10)
    pages = list(pull(api, "offset", STYLES["offset"][0], {}, client, concurrency=4, max_pages=5))
    assert ids_of(pages) == list(range(1, 51))
    assert pages[-1].state == {"offset": 50, "size": 10}


def test_page_size_cap_without_total_is_confirmed_not_mistaken_for_the_end(api):
    api.pagination.max_page_size = 7
    api.pagination.include_total = False
    ids = ids_of(pull(api, "offset", OffsetPaginator(limit=25), {}))
    assert ids == list(range(1, N + 1))
    ids = ids_of(pull(api, "page", PageNumberPaginator(page_size=25, size_param="per_page"), {}))
    assert ids == list(range(1, N + 1))


def test_short_page_ends_offset_paging_without_total(api):
    api.pagination.include_total = False
    ids = ids_of(pull(api, "offset", OffsetPaginator(limit=10), {}))
    assert ids == list(range(1, N + 1))
    assert len(api.log("GET")) == 10  # the short 10th page ends it, no extra request


def test_exact_multiple_stops_on_empty_page(api):
    api.pagination.include_total = False
    ids = ids_of(pull(api, "offset", OffsetPaginator(limit=19), {}))
    assert ids == list(range(1, N + 1))
    assert len(api.log("GET")) == 6  # 5 full pages + 1 empty


def test_slack_short_pages_do_not_stop_cursor_paging(api):
    api.pagination.short_pages = True
    pages = list(
        pull(api, "cursor", CursorPaginator("response_metadata.next_cursor"), {"limit": 10})
    )
    assert ids_of(pages) == list(range(1, N + 1))
    assert {len(p.records) for p in pages[:-1]} == {5, 10}


def test_relative_link_targets_are_resolved(api):
    api.pagination.relative_links = True
    ids = ids_of(pull(api, "link", LinkHeaderPaginator(), {"per_page": 10}))
    assert ids == list(range(1, N + 1))
    assert all(r.path == "/v1/paged/link/contacts" for r in api.log("GET"))


@pytest.mark.parametrize(
    ("style", "paginator"),
    [("loop", CursorPaginator("response_metadata.next_cursor")), ("loop_link", "auto")],
)
def test_repeated_cursor_or_url_raises_loop_error(api, style, paginator):
    pages = pull(api, style, paginator, {"limit": 10, "per_page": 10})
    seen = []
    with pytest.raises(PaginationLoopError, match="second time"):
        for page in pages:
            seen.append(page)
    assert seen  # the pages before the loop was noticed were delivered
    assert len(api.log("GET")) == 2


@pytest.mark.parametrize("style", ["foreign", "foreign_link"])
def test_foreign_next_url_is_refused_before_sending(api, style):
    with pytest.raises(ForeignHostError, match="foreign.invalid"):
        list(pull(api, style, "auto", {"limit": 10, "per_page": 10}))
    assert len(api.log("GET")) == 1


def test_max_records_trims_the_last_page(api):
    pages = list(pull(api, "cursor", STYLES["cursor"][0], {"limit": 10}, max_records=23))
    assert ids_of(pages) == list(range(1, 24))
    assert pages[-1].state is not None  # more existed: a caller can tell it was cut short
    assert len(api.log("GET")) == 3


def test_bad_arguments_fail_before_any_request(api):
    client = client_for(api)
    with pytest.raises(ApiConfigError, match="max_pages"):
        paginate(client, "/contacts", max_pages=0)
    with pytest.raises(ApiConfigError, match="paginator"):
        paginate(client, "/contacts", paginator="bogus")
    with pytest.raises(ApiConfigError, match="next_url_path or header"):
        NextUrlPaginator()
    assert api.log() == []


def test_auto_refuses_to_truncate_when_total_says_more(api):
    api.route(
        "GET", "/weird", lambda r: Response.json({"items": [{"id": 1}], "total": 50}), first=True
    )
    with pytest.raises(ApiConfigError, match="total=50"):
        list(paginate(client_for(api), "/weird"))


def test_records_path_errors_name_the_path_and_keys(api):
    with pytest.raises(ApiContractError, match=r"records_path 'rows'.*\['data', 'limit'"):
        list(paginate(client_for(api), "/contacts", records_path="rows"))
    api.route("GET", "/two-lists", lambda r: Response.json({"a": [1], "b": [2]}), first=True)
    with pytest.raises(ApiContractError, match="set records_path"):
        list(paginate(client_for(api), "/two-lists"))


def test_hook_style_defaults_on_plain_collection_route(api):
    # GET /contacts uses the collection's style (offset by default): auto picks offset.
    ids = ids_of(paginate(client_for(api), "/contacts", params={"limit": 30}))
    assert ids == list(range(1, N + 1))


def test_link_header_parser_handles_rfc8288_forms():
    header = (
        '<https://api.example/items?page=2>; rel="next", '
        '</items?page=9,10>; REL="last prev"; title="a, b; c", '
        "<https://api.example/items?page=1>; rel=first"
    )
    links = parse_link_header(header)
    assert links == {
        "next": "https://api.example/items?page=2",
        "last": "/items?page=9,10",
        "prev": "/items?page=9,10",
        "first": "https://api.example/items?page=1",
    }
    assert parse_link_header(None) == {} and parse_link_header("garbage") == {}


def test_resume_state_in_logs_is_redacted():
    from airflow_provider_apisync.client.pagination import safe_state

    state = {"auto": {"kind": "link"}, "next": {"url": "https://h/x?page=2&api_key=SECRET"}}
    assert "SECRET" not in str(safe_state(state))
    assert safe_state(state)["next"]["url"].startswith("https://h/x?page=2")


def test_get_path_matches_keys_with_dots_and_list_indexes():
    body = {"@odata.nextLink": "u", "meta": {"next.cursor": "c"}, "data": [{"id": 1}, {"id": 2}]}
    assert get_path(body, "@odata.nextLink") == "u"
    assert get_path(body, "meta.next.cursor") == "c"
    assert get_path(body, "data.-1.id") == 2
    assert get_path(body, "data.5.id", "missing") == "missing"
