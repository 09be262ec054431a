"""An untrusted server (issue 13): drip-fed and oversized bodies, gzip bombs, deep JSON,
endless empty pages, ``Retry-After: 0``, echoed secrets, empty OAuth2 tokens and API keys
echoed into next-page URLs. Each against a real server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from email.utils import formatdate
from urllib.parse import urlencode

import pytest
from pull_support import MemoryStore, make_context, read_output
from push_helpers import read_jsonl_folder, task_context
from resilience_support import API_KEY, client_for

from airflow_provider_apisync.client import (
    ApiAuthError,
    ApiClient,
    ApiClientError,
    ApiContractError,
    ApiServerError,
    ApiTransportError,
    config_from_connection,
)
from airflow_provider_apisync.client.pagination import CursorPaginator, NextUrlPaginator
from airflow_provider_apisync.operators import ApiPullOperator, ApiPushOperator
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.fakeapi.http import Response

pytest_plugins = ["_servers"]  # fixtures: api (module-scoped FakeApi, reset per test)


# -- a server that drips its body -------------------------------------------------------
@contextlib.contextmanager
def drip_server(interval: float = 0.5) -> Iterator[tuple[str, list[float]]]:
    """HTTP/1.1 on 127.0.0.1 that announces 10 kB and sends one byte per ``interval``.

    Yields the base URL and the list of connection times (one per attempt).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[float] = []
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10000\r\n\r\n["
            )
            while not stop.is_set():
                time.sleep(interval)
                conn.sendall(b" ")

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(time.monotonic())
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1", accepted
    finally:
        stop.set()
        thread.join(2)
        listener.close()


@pytest.mark.timeout(60)
def test_drip_fed_body_is_cut_at_the_request_deadline_and_retried_as_a_timeout():
    with drip_server() as (url, accepted):
        extra = {"timeout": [1, 2], "request_deadline": 1.5, "max_retries": 1}
        client = ApiClient(config_from_connection(host=url, extra=extra), sleep=lambda s: None)
        started = time.monotonic()
        with pytest.raises(ApiTransportError, match="request_deadline") as caught:
            client.get_json("/slow")
        elapsed = time.monotonic() - started
    assert caught.value.retryable and caught.value.attempts == 2
    assert "1.5 s" in str(caught.value)
    assert len(accepted) == 2  # retried once, as a timeout
    assert elapsed < 2 * (1.5 + 2) + 1  # each attempt: deadline + at most one read timeout


def test_default_deadline_is_derived_from_the_read_timeout():
    config = config_from_connection(host="https://h.example", extra={"timeout": [1, 2]})
    assert config.deadline == 10  # 5 x the read timeout
    assert config_from_connection(host="https://h.example").deadline == 300


# -- oversized bodies -------------------------------------------------------------------
def gzip_bomb(megabytes: int) -> bytes:
    """``megabytes`` MB of zeros, gzip-compressed (about 1000:1) without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


def test_gzip_bomb_is_refused_at_the_size_cap_with_bounded_memory(api):
    bomb = gzip_bomb(64)
    assert len(bomb) < 100_000
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    api.route("GET", "/bomb", lambda r: Response(200, bomb, headers), first=True)
    client = client_for(api, max_response_mb=1)
    tracemalloc.start()
    try:
        with pytest.raises(ApiContractError, match="max_response_mb") as caught:
            client.get_json("/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "1 MB" in str(caught.value) and not caught.value.retryable
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MB while refusing a 64 MB bomb"


def test_plain_oversized_page_is_refused_and_a_page_under_the_cap_is_read(api):
    big = json.dumps({"data": ["x" * 1000] * 1500}).encode()  # 1.5 MB
    api.route(
        "GET",
        "/big",
        lambda r: Response(200, big, {"Content-Type": "application/json"}),
        first=True,
    )
    with pytest.raises(ApiContractError, match="1 MB limit"):
        client_for(api, max_response_mb=1).get_json("/big")
    assert len(client_for(api, max_response_mb=2).get_json("/big")["data"]) == 1500


def test_redirect_with_a_huge_body_is_followed_without_reading_it(api):
    bomb = gzip_bomb(64)
    headers = {"Location": api.url + "/contacts/1", "Content-Encoding": "gzip"}
    api.route("GET", "/moved", lambda r: Response(302, bomb, headers), first=True)
    client = client_for(api)
    tracemalloc.start()
    try:
        body = client.get_json("/moved")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body["id"] == 1
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MB while following a 64 MB redirect body"


# -- hostile JSON and paging ------------------------------------------------------------
DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deeply_nested_json_is_a_contract_error_not_a_recursion_error(api):
    kind = {"Content-Type": "application/json"}
    api.route("GET", "/deep", lambda r: Response(200, DEEP, kind), first=True)
    api.route("GET", "/deep422", lambda r: Response(422, DEEP, kind), first=True)
    client = client_for(api)
    with pytest.raises(ApiContractError, match="nested too deeply") as caught:
        client.get_json("/deep")
    assert not caught.value.retryable
    with pytest.raises(ApiContractError, match="nested too deeply"):
        list(client.paginate("/deep", records_path="data"))
    with pytest.raises(ApiClientError) as error_page:
        client.get_json("/deep422")
    assert error_page.value.status == 422


def test_endless_empty_pages_with_fresh_cursors_stop_with_a_clear_error(api):
    served = []

    def endless(request):
        served.append(request.query.get("cursor"))
        if len(served) > 30:  # without the guard the walk would go on forever
            return Response.error(400, "the test's own stop")
        return Response.json({"data": [], "has_more": True, "next": uuid.uuid4().hex})

    api.route("GET", "/endless", endless, first=True)
    pages = client_for(api).paginate(
        "/endless", paginator=CursorPaginator("next", "cursor", "has_more"), records_path="data"
    )
    with pytest.raises(ApiContractError, match="10 empty pages in a row"):
        list(pages)
    assert len(served) == 10
    few = client_for(api).paginate(
        "/endless",
        paginator=CursorPaginator("next", "cursor", "has_more"),
        records_path="data",
        max_empty_pages=3,
    )
    with pytest.raises(ApiContractError, match="max_empty_pages"):
        list(few)


@pytest.mark.parametrize("retry_after", ["0", "past-date"])
def test_retry_after_zero_or_in_the_past_still_waits_the_backoff_base(api, retry_after):
    value = formatdate(time.time() - 3600, usegmt=True) if retry_after == "past-date" else "0"
    calls = []

    def limited(request):
        calls.append(request)
        if len(calls) <= 4:
            return Response(429, b"", {"Retry-After": value})
        return Response.json({"ok": True})

    api.route("GET", "/limited", limited, first=True)
    waits: list[float] = []
    client = client_for(api, sleep=waits.append)
    assert client.get_json("/limited") == {"ok": True}
    assert len(waits) == 4 and min(waits) >= 0.5, waits


def test_server_assigned_bulk_job_id_cannot_climb_the_path():
    from airflow_provider_apisync.bulk.spec import BulkSpec

    spec = BulkSpec("/jobs", {}, "/jobs/{job_id}")
    assert spec.endpoint("/jobs/{job_id}/abort", "a/b") == "/jobs/a%2Fb/abort"
    for job_id in ("..", ".", ""):
        with pytest.raises(ApiContractError, match="job id"):
            spec.endpoint("/jobs/{job_id}/abort", job_id)


# -- secrets echoed by the server -------------------------------------------------------
def echo_key(request):
    key = request.headers.get("X-API-Key", "")
    body = {"error": "invalid record", "echo": {"headers": {"X-API-Key": key}}, "hint": f"k={key}"}
    return Response.json(body, 422)


def test_error_body_echoing_the_key_is_redacted_from_errors_and_dead_letters(
    api, tmp_path, set_conn
):
    api.route("POST", "/echo", echo_key, first=True)
    with pytest.raises(ApiClientError) as caught:
        client_for(api).request("POST", "/echo", json={})
    assert API_KEY not in str(caught.value) and API_KEY not in json.dumps(caught.value.to_dict())
    assert "***" in str(caught.value)

    set_conn("crm", api.url, password=API_KEY, extra={"auth_type": "api_key"})
    ApiPushOperator(
        task_id="push",
        apisync_conn_id="crm",
        endpoint="/echo",
        records=[{"id": 1}, {"id": 2}],
        record_key="id",
        max_error_ratio=1.0,
        output=str(tmp_path),
    ).execute(task_context())
    stored = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    letters = [d for sub in tmp_path.rglob("dead_letter") for d in read_jsonl_folder(sub)]
    assert len(letters) == 2 and all("***" in json.dumps(d) for d in letters)
    assert stored and not any(API_KEY in text for text in stored)


@pytest.mark.parametrize("where", ["header", "query"])
def test_non_json_page_echoing_the_credential_is_redacted(api, where):
    def echo(request):
        key = request.headers.get("X-API-Key") or request.query.get("api_key", "")
        return Response(200, f"<html>bad gateway for key {key}</html>".encode())

    api.route("GET", "/html", echo, first=True)
    extra = {"api_key_query_param": "api_key"} if where == "query" else {}
    with pytest.raises(ApiContractError, match="not valid JSON") as caught:
        client_for(api, **extra).get_json("/html")
    assert API_KEY not in str(caught.value) and "key ***" in str(caught.value)


@pytest.mark.parametrize("token", [{"access_token": ""}, {"access_token": "  "}, {}])
def test_token_endpoint_without_a_usable_access_token_is_an_auth_error(api, token):
    answer = Response.json({**token, "token_type": "bearer"})
    api.middlewares.append(lambda r: answer if r.path.endswith("/empty-token") else None)
    extra = {"auth_type": "oauth2_client_credentials", "token_url": api.url + "/empty-token"}
    config = config_from_connection(host=api.url, login="id", password="secret", extra=extra)
    with pytest.raises(ApiAuthError, match="access token"):
        ApiClient(config).get_json("/contacts")
    assert api.log("GET", "/contacts") == []  # no request went out with an empty token


# -- the API key echoed into next-page URLs ---------------------------------------------
def drf_pages(api: FakeApi, total: int = 30, size: int = 10):
    """DRF style: ``next`` repeats the request's whole query (the API key included)."""

    def handler(request):
        page = int(request.query.get("page", "1"))
        rows = [{"id": i} for i in range((page - 1) * size + 1, min(page * size, total) + 1)]
        more = page * size < total
        query = urlencode({**request.query, "page": page + 1})
        nxt = f"{api.origin}{request.path}?{query}" if more else None
        return Response.json({"results": rows, "next": nxt})

    return handler


def test_api_key_echoed_into_next_urls_never_reaches_the_checkpoint(api, tmp_path, monkeypatch):
    from conftest import conn_json

    api.route("GET", "/drf", drf_pages(api), first=True)
    extra = {"auth_type": "api_key", "api_key_query_param": "api_key", "max_retries": 0}
    monkeypatch.setenv("AIRFLOW_CONN_DRF", conn_json(api.url, password=API_KEY, extra=extra))
    op = ApiPullOperator(
        task_id="pull",
        apisync_conn_id="drf",
        endpoint="/drf",
        paginator=NextUrlPaginator("next"),
        records_path="results",
        output=f"file://{tmp_path}/out",
    )
    store = MemoryStore()
    api.faults.add("status", path="/drf", after=2, status=503)
    with pytest.raises(ApiServerError):
        op.execute(make_context(task_state_store=store, try_number=1))
    assert any("api_key=" in r.path + urlencode(r.query) for r in api.log("GET", "/drf"))
    checkpoints = json.dumps(store.data)
    assert "page=3" in checkpoints and API_KEY not in checkpoints
    api.faults.clear()
    api.clear_log()
    manifest = op.execute(make_context(task_state_store=store, try_number=2))
    assert [r["id"] for r in read_output(manifest)] == list(range(1, 31))
    assert [r.query.get("api_key") for r in api.log("GET", "/drf")] == [API_KEY]  # re-applied
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(API_KEY in text for text in files)
