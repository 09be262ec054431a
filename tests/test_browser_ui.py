"""What a person sees in Airflow's UI, in a real browser: connection form, Test button, task log.

One ``airflow standalone`` (loopback port, sqlite) for the module, the demo world's CRM in
this process, its connections stored in the metadata DB. Debian's Chromium (``make debs``),
driven by Playwright (no browser download), logs in with the simple auth manager's generated
password and uses the UI as a user would: the Add Connection dialog, the Test button of the
connections list, a task's log page.

``APISYNC_SCREENSHOTS=docs/img`` also writes the screenshots used in the docs there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from airflow_provider_apisync.testing.dagrun import AirflowEnv
from demo.airflow_standalone import AirflowStandalone
from demo.world import World, WorldConfig, running_world

pytestmark = pytest.mark.timeout(600)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAG_ID = "hello_apisync"
DAG_FILE = Path(__file__).resolve().parents[1] / "example_dags" / f"{DAG_ID}.py"
UI_WAIT_MS = 30_000


class Ui:
    """The running Airflow, the simulated world and a logged-in browser page."""

    def __init__(self, airflow: AirflowStandalone, world: World, page: Any) -> None:
        self.airflow = airflow
        self.world = world
        self.page = page

    def goto(self, path: str) -> None:
        self.page.goto(self.airflow.url + path)

    def screenshot(self, name: str, dialog: Any = None) -> None:
        """Save a PNG under $APISYNC_SCREENSHOTS (the docs' images) when it is set.

        The viewport, or the visible part of ``dialog``.
        """
        folder = os.environ.get("APISYNC_SCREENSHOTS")
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        clip = None
        if dialog is not None:
            box = dialog.bounding_box()
            top = max(box["y"], 0)
            bottom = min(box["y"] + box["height"], self.page.viewport_size["height"])
            clip = {"x": box["x"], "y": top, "width": box["width"], "height": bottom - top}
        self.page.screenshot(path=str(Path(folder) / name), clip=clip)

    def toast(self, title: str) -> str:
        """Text of the toast with ``title`` (Airflow shows a test's message in one)."""
        toast = self.page.locator("[data-scope=toast][data-part=root]").filter(has_text=title).last
        toast.wait_for(timeout=UI_WAIT_MS)
        return str(toast.inner_text())

    def test_button(self, conn_id: str) -> None:
        row = self.page.locator("tr").filter(has_text=conn_id).first
        row.locator("button").first.click()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make debs` (Debian package chromium)")
    base = tmp_path_factory.mktemp("browser")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    with running_world(WorldConfig(chaos=False)) as world:
        settings = {
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the run we trigger
            # On a saturated CI machine a task process can miss the API server once before
            # it starts (the executor then fails it while queued): one quick retry.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "1",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5",
        }
        env = AirflowEnv(base / "home", dags, env=settings)
        with AirflowStandalone(env, start_timeout=420) as airflow:
            crm = world["crm"].connection()
            airflow.add_connection("apisync_crm", crm)
            airflow.add_connection("crm_wrong_secret", {**crm, "password": "not-the-secret"})
            password = json.loads(
                (base / "home" / "simple_auth_manager_passwords.json.generated").read_text()
            )["admin"]
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.set_default_timeout(UI_WAIT_MS)
                    page.goto(airflow.url + "/")
                    page.fill("input[name=username]", "admin")
                    page.fill("input[name=password]", password)
                    page.keyboard.press("Enter")
                    page.get_by_text("Dags").first.wait_for()
                    yield Ui(airflow, world, page)
                finally:
                    browser.close()


def _field_row(dialog: Any, label: str) -> Any:
    """The form row whose label is exactly ``label`` (label, input, description)."""
    return dialog.locator("[data-scope=field][data-part=root]").filter(
        has=dialog.page.get_by_text(label, exact=True)
    )


def _choose(page: Any, row: Any, value: str) -> list[str]:
    """Open a select, return its options, pick ``value``."""
    select = row.locator("input[role=combobox]")
    select.wait_for()
    select.focus()
    page.keyboard.press("ArrowDown")  # opens the menu (a click may land on the placeholder)
    options = page.locator("[id*='-option-']")
    options.first.wait_for()
    texts = [str(t).strip() for t in options.all_inner_texts()]
    options.filter(has_text=value).first.click()
    return texts


def test_connection_form_has_no_null_and_keeps_the_token_url_readable(ui: Ui) -> None:
    page = ui.page
    conn = ui.world["crm"].connection()
    token_url = conn["extra"]["oauth2_url"]
    ui.goto("/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill("crm_from_form")
    dialog.locator("input[role=combobox]").first.click(force=True)
    page.keyboard.type("API Sync")
    page.keyboard.press("Enter")
    _field_row(dialog, "Base URL").locator("input").fill(conn["host"])
    _field_row(dialog, "Login / client id").locator("input").fill(conn["login"])
    _field_row(dialog, "Secret").locator("input").fill(conn["password"])
    _field_row(dialog, "Port").locator("input").fill(str(urlsplit(conn["host"]).port))
    ui.screenshot("connection-form-standard.png", dialog)

    dialog.get_by_text("Extra Fields", exact=True).click()
    auth_options = _choose(page, _field_row(dialog, "Auth type"), "oauth2_client_credentials")
    client_auth_options = _choose(
        page, _field_row(dialog, "OAuth2 client auth"), "client_secret_basic"
    )
    _field_row(dialog, "OAuth2 token URL").locator("input").fill(token_url)
    _field_row(dialog, "OAuth2 scope").locator("input").fill(conn["extra"]["scope"])
    page.mouse.move(0, 0)
    dialog.get_by_text("Extra Fields", exact=True).evaluate(
        "e => e.scrollIntoView({block: 'start'})"
    )
    ui.screenshot("connection-form.png", dialog)
    assert auth_options == [
        "none",
        "api_key",
        "bearer",
        "basic",
        "oauth2_client_credentials",
        "oauth2_refresh_token",
    ]
    assert client_auth_options == ["client_secret_basic", "client_secret_post"]
    assert "null" not in dialog.inner_text().split()  # no literal null anywhere in the form
    verify = _field_row(dialog, "Verify TLS")
    assert verify.locator("input[type=checkbox]").is_checked()  # a switch, on by default

    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")

    # Stored as typed; Airflow does not mask the token URL (its key has no "token" in it).
    stored = ui.airflow.api("GET", "/api/v2/connections/crm_from_form")
    extra = json.loads(stored["extra"])
    assert extra["oauth2_url"] == token_url
    assert extra["auth_type"] == "oauth2_client_credentials"

    # ... and it reads back in the edit dialog, not as ***.
    page.locator("tr").filter(has_text="crm_from_form").locator("button").nth(1).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Extra Fields", exact=True).click()
    assert _field_row(dialog, "OAuth2 token URL").locator("input").input_value() == token_url
    dialog.get_by_role("button", name="Close").click()

    # What the form saved works: the Test button in the list gets a token and a 200.
    ui.test_button("crm_from_form")
    assert "Connection successfully tested" in ui.toast("Test Connection Successful")


def test_test_button_reports_success_and_a_one_line_reason(ui: Ui) -> None:
    ui.goto("/connections")
    ui.test_button("apisync_crm")
    good = ui.toast("Test Connection Successful")
    assert "Connection successfully tested: GET " in good and "-> 200" in good
    ui.page.wait_for_timeout(800)  # let the toast finish sliding in
    ui.screenshot("connection-test.png")

    ui.page.reload()
    ui.test_button("crm_wrong_secret")
    bad = ui.toast("Failed")
    reason = bad.split("\n", 1)[1].strip() if "\n" in bad else bad
    assert reason.startswith("Credentials rejected (401)"), bad
    assert "\n" not in reason and len(reason) < 300, bad
    assert "not-the-secret" not in bad


def test_task_log_page_shows_the_human_summary_and_the_machine_line(ui: Ui) -> None:
    airflow = ui.airflow
    run_id = airflow.trigger(DAG_ID)
    assert airflow.wait(DAG_ID, run_id, timeout=300) == "success"
    ui.goto(f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/pull_contacts")
    # The human table (one log record per row), then the machine line.
    ui.page.get_by_text("apisync summary — pull_contacts").first.wait_for()
    ui.page.get_by_text("apisync-summary").first.wait_for()
    text = ui.page.inner_text("body")
    assert re.search(r"records\s+25\b", text), text[-3000:]
    assert re.search(r"requests\s+1\b", text), text[-3000:]
    assert '"task_id": "pull_contacts"' in text
    ui.page.mouse.move(0, 0)
    ui.screenshot("task-log.png")
