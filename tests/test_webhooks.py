"""Webhooks through the real plugin: a running ``airflow api-server`` with the provider installed.

One migrated sqlite AIRFLOW_HOME per module, the example DAG serialized into it, and an API
server (2 workers) that mounts our plugin the way Airflow does for any installed provider.
Deliveries are real HTTP on 127.0.0.1; asset events and queued DAG runs are read back
through Airflow's public REST API; the last test runs the scheduler so the example DAG is
actually triggered by a webhook and reads the stored payload.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import conn_json

from airflow_provider_apisync import get_provider_info
from airflow_provider_apisync.testing.dagrun import AirflowEnv
from airflow_provider_apisync.webhooks.signatures import sign_github, sign_hmac, sign_stripe

pytestmark = pytest.mark.standalone  # an `airflow api-server` with LocalExecutor serves the module

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAG = ROOT / "example_dags" / "webhook_to_asset_example.py"
DAG_ID = "webhook_to_asset_example"
GITHUB_SECRET = "gh-hook-secret-7f3a9c11"
STRIPE_SECRET = "whsec_stripe_secret_5d2e8b40"
SHOP_SECRET = "shop-hmac-secret-91c4aa07"
BODY_MARKER = "BODY-MARKER-5b1e0c"  # appears in every body; must never reach the logs

SOURCES = {
    "github": (GITHUB_SECRET, {"webhook_scheme": "github"}),
    "stripe": (STRIPE_SECRET, {"webhook_scheme": "stripe"}),
    "shop": (
        SHOP_SECRET,
        {
            "webhook_scheme": "hmac",
            "signature_header": "X-Shop-Hmac-Sha256",
            "signature_encoding": "base64",
            "event_type_header": "X-Shop-Topic",
            "delivery_id_header": "X-Shop-Webhook-Id",
        },
    ),
    "tiny": (GITHUB_SECRET, {"webhook_scheme": "github", "max_body_bytes": 256}),
    "broken": (None, {"webhook_scheme": "github"}),
    "blank": ("   \t ", {"webhook_scheme": "github"}),  # whitespace is no secret
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(env: AirflowEnv, log: Path, *args: str) -> subprocess.Popen[bytes]:
    exe = str(Path(sys.executable).parent / "airflow")
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - fixed executable
            [exe, *args],
            env=env.environ(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class Site:
    env: AirflowEnv
    url: str
    log: Path

    def post(self, source: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        headers = {"Content-Type": "application/json", **headers}
        return requests.post(
            f"{self.url}/apisync/webhooks/{source}", data=body, headers=headers, timeout=30
        )

    def api(self, path: str, **params: Any) -> Any:
        resp = requests.get(f"{self.url}/api/v2/{path}", params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def events(self, uri: str | None = None) -> list[dict[str, Any]]:
        """Asset events in the metadata DB, via the public REST API."""
        data = self.api("assets/events", limit=100)
        assert data["total_entries"] <= 100, "raise the page size"
        events = sorted(data["asset_events"], key=lambda e: e["id"])
        return [e for e in events if uri is None or e["uri"] == uri]

    def payload_file(self, source: str, body: bytes) -> Path:
        """Bodies are stored content-addressed: ``<source>/<sha256 of the body>.json``."""
        digest = hashlib.sha256(body).hexdigest()
        return self.env.home / "apisync" / "webhooks" / source / f"{digest}.json"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("webhooks")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAG, dags / EXAMPLE_DAG.name)
    port = free_port()
    env = {
        f"AIRFLOW_CONN_APISYNC_WEBHOOK_{name.upper()}": conn_json("", password=pw, extra=extra)
        for name, (pw, extra) in SOURCES.items()
    }
    env.update(
        {
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        }
    )
    airflow = AirflowEnv(base / "home", dags, env=env).setup()
    log = base / "api-server.log"
    proc = start(airflow, log, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # 2 workers importing Airflow on a busy machine
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.RequestException:  # refused, or a worker still booting (timeout)
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Site(airflow, url, log)
    finally:
        stop(proc)


def github(body: bytes, delivery: str, event: str = "push", secret: str = GITHUB_SECRET):
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign_github(body, secret),
    }


def push_body(commits: int = 2) -> bytes:
    """A push payload; unique like a real one (``after`` is the new head commit)."""
    payload = {
        "ref": "refs/heads/main",
        "after": uuid.uuid4().hex,
        "repository": {"full_name": "acme/widget"},
        "commits": [{"id": f"c{i}", "message": BODY_MARKER} for i in range(commits)],
    }
    return json.dumps(payload).encode()


def stripe_body(event_id: str, kind: str = "invoice.paid") -> bytes:
    return json.dumps({"id": event_id, "type": kind, "data": {"note": BODY_MARKER}}).encode()


def delivery_id() -> str:
    return str(uuid.uuid4())


# -- the plugin ---------------------------------------------------------------------------
def test_plugin_declared_in_provider_info_and_entry_point():
    from importlib.metadata import entry_points

    from airflow._shared.module_loading import import_string
    from airflow.plugins_manager import is_valid_plugin

    (declared,) = get_provider_info()["plugins"]
    plugin = import_string(declared["plugin-class"])
    assert is_valid_plugin(plugin) and plugin.name == declared["name"]
    (mount,) = plugin.fastapi_apps
    assert mount["url_prefix"] == "/apisync"
    eps = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert eps["apisync_webhooks"].replace(":", ".") == declared["plugin-class"]


def test_example_dag_parses_and_is_scheduled_on_the_webhook_asset(site: Site):
    from airflow_provider_apisync.compat import dagbag_class

    DagBag = dagbag_class()

    bag = DagBag(dag_folder=str(EXAMPLE_DAG))
    assert bag.import_errors == {}
    assert DAG_ID in bag.dags
    # ... and the API server's DB knows it as a consumer of apisync://github/push.
    (asset,) = site.api("assets", uri_pattern="apisync://github/push")["assets"]
    assert [d["dag_id"] for d in asset["scheduled_dags"]] == [DAG_ID]


# -- accepted deliveries ------------------------------------------------------------------
def test_valid_github_delivery_records_exactly_one_event_and_queues_the_dag(site: Site):
    body, delivery = push_body(), delivery_id()
    resp = site.post("github", body, github(body, delivery))
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "recorded"
    assert resp.json()["asset"] == "apisync://github/push"

    mine = [
        e for e in site.events("apisync://github/push") if e["extra"]["delivery_id"] == delivery
    ]
    assert len(mine) == 1
    extra = mine[0]["extra"]
    assert extra["event_type"] == "push" and extra["source"] == "github"
    assert extra["size_bytes"] == len(body)
    assert BODY_MARKER not in json.dumps(extra)  # a reference, not the payload
    assert extra["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert extra["payload_uri"] == f"file://{site.payload_file('github', body)}"
    assert site.payload_file("github", body).read_bytes() == body

    queued = site.api(f"dags/{DAG_ID}/assets/queuedEvents")["queued_events"]
    assert [q["asset_id"] for q in queued] == [mine[0]["asset_id"]]


def test_replayed_github_delivery_creates_no_event(site: Site):
    body, delivery = push_body(1), delivery_id()
    headers = github(body, delivery)
    assert site.post("github", body, headers).status_code == 202
    before = len(site.events())
    for _ in range(2):
        resp = site.post("github", body, headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "duplicate"
    assert len(site.events()) == before


def test_valid_stripe_delivery_records_exactly_one_event(site: Site):
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = stripe_body(event_id)
    resp = site.post("stripe", body, {"Stripe-Signature": sign_stripe(body, STRIPE_SECRET)})
    assert resp.status_code == 202, resp.text
    mine = [
        e
        for e in site.events("apisync://stripe/invoice.paid")
        if e["extra"]["delivery_id"] == event_id
    ]
    assert len(mine) == 1
    assert site.payload_file("stripe", body).read_bytes() == body

    # Stripe's retry of the same event carries a fresh timestamp and signature: still one.
    later = sign_stripe(body, STRIPE_SECRET, int(time.time()) + 5)
    resp = site.post("stripe", body, {"Stripe-Signature": later})
    assert (resp.status_code, resp.json()["status"]) == (200, "duplicate")
    assert len([e for e in site.events() if e["extra"].get("delivery_id") == event_id]) == 1


def test_stripe_rolled_secret_with_two_v1_signatures(site: Site):
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    body = stripe_body(event_id, "customer.created")
    ts = int(time.time())
    old = sign_stripe(body, "whsec_previous_secret", ts).split("v1=")[1]
    header = sign_stripe(body, STRIPE_SECRET, ts) + f",v1={old}"
    assert site.post("stripe", body, {"Stripe-Signature": header}).status_code == 202
    assert len(site.events("apisync://stripe/customer.created")) == 1


def test_generic_hmac_source(site: Site):
    body = json.dumps({"order": 17, "note": BODY_MARKER}).encode()
    headers = {
        "X-Shop-Hmac-Sha256": sign_hmac(body, SHOP_SECRET, encoding="base64"),
        "X-Shop-Topic": "orders/create",
        "X-Shop-Webhook-Id": "wh-0001",
    }
    assert site.post("shop", body, headers).status_code == 202
    assert site.post("shop", body, headers).status_code == 200
    (event,) = site.events("apisync://shop/orders/create")
    assert event["extra"]["delivery_id"] == "wh-0001"


def test_concurrent_copies_of_one_delivery_record_one_event(site: Site):
    body, delivery = push_body(3), delivery_id()
    headers = github(body, delivery, event="release")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(
            pool.map(lambda _: site.post("github", body, headers).status_code, range(8))
        )
    assert statuses == [200] * 7 + [202]
    assert len(site.events("apisync://github/release")) == 1


def test_replay_in_a_fresh_process_is_still_a_duplicate(site: Site):
    """Nothing lives in API-server memory: a new process (FastAPI TestClient) sees the delivery."""
    body, delivery = push_body(1), delivery_id()
    headers = github(body, delivery, event="create")
    assert site.post("github", body, headers).status_code == 202
    script = (
        "import json, sys\n"
        "from fastapi.testclient import TestClient\n"
        "from airflow_provider_apisync.webhooks.app import create_app\n"
        "body, headers = sys.stdin.buffer.read(), json.loads(sys.argv[1])\n"
        "resp = TestClient(create_app()).post('/webhooks/github', content=body, headers=headers)\n"
        "print('RESULT', resp.status_code, resp.json()['status'])\n"
    )
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script, json.dumps(headers)],
        input=body,
        env=site.env.environ(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout.decode()
    assert "RESULT 200 duplicate" in out, out + proc.stderr.decode()[-3000:]
    assert len(site.events("apisync://github/create")) == 1


# -- refused deliveries: 401 and nothing recorded -----------------------------------------
def _stale(body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign_stripe(body, STRIPE_SECRET, int(time.time()) - 600)}


REJECTED = {
    "github-tampered-body": (
        "github",
        lambda b, d: github(b.replace(b"main", b"prod"), d),
        "signature_mismatch",
    ),
    "github-wrong-secret": (
        "github",
        lambda b, d: github(b, d, secret="guess"),
        "signature_mismatch",
    ),
    "github-missing-signature": (
        "github",
        lambda b, d: {k: v for k, v in github(b, d).items() if k != "X-Hub-Signature-256"},
        "missing_signature",
    ),
    "stripe-wrong-secret": (
        "stripe",
        lambda b, d: {"Stripe-Signature": sign_stripe(b, "whsec_guess")},
        "signature_mismatch",
    ),
    "stripe-stale-timestamp": ("stripe", lambda b, d: _stale(b), "stale_timestamp"),
    "stripe-future-timestamp": (
        "stripe",
        lambda b, d: {"Stripe-Signature": sign_stripe(b, STRIPE_SECRET, int(time.time()) + 600)},
        "stale_timestamp",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_bad_signatures_get_401_and_create_nothing(site: Site, case: str):
    source, make_headers, reason = REJECTED[case]
    delivery = f"evt_{uuid.uuid4().hex[:24]}"
    body = push_body() if source == "github" else stripe_body(delivery, "charge.refunded")
    before = site.events()
    resp = site.post(source, body, make_headers(body, delivery))
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == reason
    assert site.events() == before
    assert not site.payload_file(source, body).exists()


# -- malformed input: clear 4xx, nothing recorded -----------------------------------------
def test_malformed_deliveries_get_clear_4xx(site: Site):
    before = site.events()
    not_json = b"payload=" + BODY_MARKER.encode()
    not_utf8 = b'{"note": "\xff\xfe"}'
    push, big = push_body(), push_body(20)
    cases = [
        ("github", not_json, github(not_json, delivery_id()), 400, "invalid_json"),
        ("github", b"", github(b"", delivery_id()), 400, "empty_body"),
        ("github", not_utf8, github(not_utf8, delivery_id()), 400, "invalid_json"),
        (
            "github",
            push,
            {k: v for k, v in github(push, delivery_id()).items() if k != "X-GitHub-Event"},
            400,
            "missing_event_type",
        ),
        (
            "github",
            push,
            github(push, "../../etc/passwd"),
            400,
            "invalid_delivery_id",
        ),
        (
            "github",
            push,
            github(push, delivery_id(), event="a b"),
            400,
            "invalid_event_type",
        ),
        (
            "stripe",
            b"{}",
            {"Stripe-Signature": sign_stripe(b"{}", STRIPE_SECRET)},
            400,
            "missing_event_type",
        ),
        ("tiny", big, github(big, delivery_id()), 413, "body_too_large"),
        ("nobody", b"{}", {}, 404, "unknown_source"),
        ("Not-Valid", b"{}", {}, 404, "unknown_source"),
        ("broken", push, github(push, delivery_id()), 500, "source_misconfigured"),
    ]
    for source, body, headers, status, reason in cases:
        resp = site.post(source, body, headers)
        assert (resp.status_code, resp.json()["error"]) == (status, reason), (source, resp.text)
    assert site.events() == before


def test_body_limit_holds_without_content_length(site: Site):
    body = push_body(20)
    headers = {"Content-Type": "application/json", **github(body, delivery_id())}
    chunks = (body[i : i + 100] for i in range(0, len(body), 100))  # chunked transfer
    resp = requests.post(
        f"{site.url}/apisync/webhooks/tiny", data=chunks, headers=headers, timeout=30
    )
    assert resp.status_code == 413


# -- an untrusted sender: replays, overwrites, inputs that used to crash to 503 -------------
def _events_with_body(site: Site, body: bytes) -> list[dict[str, Any]]:
    digest = hashlib.sha256(body).hexdigest()
    return [e for e in site.events() if e["extra"].get("body_sha256") == digest]


def test_replay_under_a_new_delivery_id_is_a_duplicate(site: Site):
    """GitHub signs only the body: a captured delivery with a fresh X-GitHub-Delivery."""
    body = push_body(4)
    first = site.post("github", body, github(body, delivery_id(), event="watch"))
    assert first.status_code == 202, first.text
    for _ in range(2):
        resp = site.post("github", body, github(body, delivery_id(), event="watch"))
        assert (resp.status_code, resp.json()["status"]) == (200, "duplicate"), resp.text
        assert resp.json()["asset_event_id"] == first.json()["asset_event_id"]
    assert len(_events_with_body(site, body)) == 1


def test_replay_under_another_event_type_is_refused_and_triggers_no_dag(site: Site):
    """A captured ``star`` delivery replayed as ``push`` must not queue the push DAG."""
    body, delivery = push_body(5), delivery_id()
    assert site.post("github", body, github(body, delivery, event="star")).status_code == 202
    pushes = site.events("apisync://github/push")
    queued = site.api(f"dags/{DAG_ID}/assets/queuedEvents")["queued_events"]
    for replay in (github(body, delivery_id(), event="push"), github(body, delivery, "push")):
        resp = site.post("github", body, replay)
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "event_type_conflict"
    assert site.events("apisync://github/push") == pushes
    assert site.api(f"dags/{DAG_ID}/assets/queuedEvents")["queued_events"] == queued
    assert [e["uri"] for e in _events_with_body(site, body)] == ["apisync://github/star"]


def test_concurrent_replays_of_one_body_record_one_event(site: Site):
    """Two API-server workers, two event types, eight delivery ids, one signed body."""
    body = push_body(6)
    copies = [github(body, delivery_id(), event=("fork", "gollum")[i % 2]) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda h: site.post("github", body, h).status_code, copies))
    assert statuses.count(202) == 1 and set(statuses) <= {200, 202, 409}, statuses
    assert len(_events_with_body(site, body)) == 1


def test_a_body_posted_with_another_deliverys_id_cannot_replace_its_payload(site: Site):
    body_a, delivery = push_body(7), delivery_id()
    resp = site.post("github", body_a, github(body_a, delivery, event="issues"))
    assert resp.status_code == 202, resp.text
    body_b = json.dumps({"action": "published", "note": BODY_MARKER}).encode()
    for event in ("release", "issues"):  # signed B, A's delivery id, any event type
        resp = site.post("github", body_b, github(body_b, delivery, event=event))
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "delivery_id_conflict"
    (event_a,) = [e for e in site.events() if e["extra"]["delivery_id"] == delivery]
    assert event_a["uri"] == "apisync://github/issues"
    stored = Path(event_a["extra"]["payload_uri"].removeprefix("file://"))
    assert stored.read_bytes() == body_a  # event A still points at A's bytes
    assert not site.payload_file("github", body_b).exists()
    assert _events_with_body(site, body_b) == []


DEEP = b"[" * 100_000 + b"]" * 100_000
NEWLINE_TYPE = json.dumps({"id": "evt_nl", "type": "invoice.paid\n"}).encode()


#: case -> (source, body, headers(body), status, error). Each answered 5xx or 2xx before.
HOSTILE = {
    "100k-deep-json": ("github", DEEP, lambda b: github(b, delivery_id()), 400, "invalid_json"),
    "stripe-superscript-t": (
        "stripe",
        b"{}",
        lambda b: {"Stripe-Signature": "t=\u00b2,v1=00"},  # "²".isdigit() is True
        401,
        "malformed_signature",
    ),
    "event-type-trailing-newline": (
        "stripe",
        NEWLINE_TYPE,
        lambda b: {"Stripe-Signature": sign_stripe(b, STRIPE_SECRET)},
        400,
        "invalid_event_type",
    ),
    "whitespace-secret": (
        "blank",
        push_body(),
        lambda b: github(b, delivery_id()),
        500,
        "source_misconfigured",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_inputs_get_a_clear_4xx_never_503(site: Site, case: str):
    """Answers a sender must not retry forever (or wrongly accepts); nothing recorded."""
    source, body, make_headers, status, reason = HOSTILE[case]
    before = site.events()
    resp = site.post(source, body, make_headers(body))
    assert (resp.status_code, resp.json()["error"]) == (status, reason), resp.text
    assert site.events() == before
    if case == "100k-deep-json":
        assert "nested too deeply" in resp.json()["detail"]
    if case == "whitespace-secret":  # reported exactly like a missing secret
        log = site.log.read_text(errors="replace")
        assert "connection 'apisync_webhook_blank' has no webhook signing secret" in log


def test_valid_json_with_numbers_beyond_64_bits_is_recorded(site: Site):
    body = b'{"id": 123456789012345678901234567890, "ratio": 1e400, "note": "big"}'
    resp = site.post("github", body, github(body, delivery_id(), event="deployment"))
    assert resp.status_code == 202, resp.text
    assert site.payload_file("github", body).read_bytes() == body


# -- audit --------------------------------------------------------------------------------
def test_one_audit_line_per_delivery_without_secrets_or_bodies(site: Site):
    body, delivery = push_body(), delivery_id()
    site.post("github", body, github(body, delivery))
    site.post("github", body, github(body, delivery))
    site.post("github", body, github(body, delivery, secret="guess"))
    deadline = time.monotonic() + 10
    while True:  # log lines are flushed by the worker processes
        text = site.log.read_text(errors="replace")
        lines = [ln for ln in text.splitlines() if "apisync-webhook " in ln and delivery in ln]
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(lines) == 2, lines  # recorded + duplicate; the 401 is logged without the id
    assert "outcome=recorded" in lines[0] and "status=202" in lines[0]
    assert "outcome=duplicate" in lines[1] and "status=200" in lines[1]
    assert "status=401 outcome=signature_mismatch" in text
    for secret in (GITHUB_SECRET, STRIPE_SECRET, SHOP_SECRET, BODY_MARKER):
        assert secret not in text
    assert sign_github(body, GITHUB_SECRET) not in text


# -- end to end: the scheduler runs the example DAG from a webhook ------------------------
def test_webhook_triggers_the_example_dag_which_reads_the_payload(site: Site):
    pushes = site.events("apisync://github/push")
    assert len(pushes) >= 2  # deliveries from the tests above are queued for the DAG
    scheduler = start(site.env, site.log.with_name("scheduler.log"), "scheduler")
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            runs = site.api(f"dags/{DAG_ID}/dagRuns")["dag_runs"]
            if runs and runs[0]["state"] in ("success", "failed"):
                break
            time.sleep(1)
    finally:
        stop(scheduler)
    (run,) = runs
    assert (run["run_type"], run["state"]) == ("asset_triggered", "success"), run
    xcom = site.api(
        f"dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/summarize_pushes"
        "/xcomEntries/return_value"
    )["value"]
    # Airflow hands a run the events up to the moment the DAG was queued (the first push);
    # later ones wait for the next run. The task read each payload back from storage.
    run_after = datetime.fromisoformat(run["run_after"].replace("Z", "+00:00"))
    expected = [
        e["extra"]["delivery_id"]
        for e in pushes
        if datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) <= run_after
    ]
    assert expected and [s["delivery_id"] for s in xcom] == expected
    assert all(s["repository"] == "acme/widget" and s["ref"] == "refs/heads/main" for s in xcom)
