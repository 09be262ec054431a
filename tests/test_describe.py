"""Generated integration docs: the committed pages are current, the check catches stale
ones, pages say what the operators do and never show a secret, and errors are one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from airflow_provider_apisync.compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS
from airflow_provider_apisync.describe import (
    DescribeError,
    generate,
    refresh_command,
    stale_pages,
    write_pages,
)
from airflow_provider_apisync.describe.__main__ import main

REPO = Path(__file__).resolve().parents[1]

# describe renders Airflow 3 DAG objects; on 2.11 it is not supported (docs/compatibility.md).
pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="describe needs Airflow 3")
# docs/dags/ is generated with the newest Airflow; older lines word some schedules otherwise.
generated_here = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="docs/dags/ pages are generated on the newest Airflow"
)
REFRESH = "python -m airflow_provider_apisync.describe example_dags --out docs/dags"

SECRETS = {
    "password": "pw-7f3a9c-never-shown",
    "refresh_token": "rt-51b2e0-never-shown",
    "header": "hdr-c0ffee-never-shown",
    "query": "qk-9d8e7f-never-shown",
}

SMALL_DAG = f'''
"""Contacts from the CRM to the ERP, for the describe tests."""
from datetime import datetime, timedelta

from airflow_provider_apisync.compat import DAG, Asset
from airflow.providers.standard.operators.empty import EmptyOperator

from airflow_provider_apisync.client.pagination import CursorPaginator
from airflow_provider_apisync.operators import ApiPullOperator, ApiPushOperator, Incremental

with DAG("crm_contacts_small", schedule="@daily", start_date=datetime(2026, 1, 1)):
    start = EmptyOperator(task_id="start")
    pull = ApiPullOperator(
        task_id="pull_contacts",
        apisync_conn_id="crm_small",
        endpoint="/contacts",
        query={{"limit": 200, "api_key": "{SECRETS["query"]}"}},
        headers={{"X-Api-Token": "{SECRETS["header"]}", "Accept": "application/json"}},
        paginator=CursorPaginator("meta.next_cursor", "cursor", "meta.has_more"),
        record_key="id",
        incremental=Incremental("updated_at", "updated_since", lookback=timedelta(minutes=10)),
        outlets=[Asset("s3://lake/raw/crm/contacts")],
        retries=3,
    )
    push = ApiPushOperator(
        task_id="push_contacts",
        apisync_conn_id="erp_small",
        endpoint="/contacts",
        method="POST",
        records=pull.output,
        record_key="email",
        idempotency_header="Idempotency-Key",
        batch_size=1,
    )
    start >> pull >> push
'''


@pytest.fixture
def small_dag(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "crm_small.py").write_text(SMALL_DAG)
    return folder


@generated_here
def test_pages_do_not_depend_on_where_the_dags_live(tmp_path, monkeypatch):
    """DagBag names modules after a hash of the file path; pages must not show it."""
    import shutil

    moved = tmp_path / "elsewhere" / "example_dags"
    shutil.copytree(REPO / "example_dags", moved)
    monkeypatch.chdir(moved.parent)
    result = generate("example_dags", out="docs/dags")
    assert not stale_pages(result.pages, str(REPO / "docs" / "dags"))


@generated_here
def test_example_dag_pages_are_current(monkeypatch, set_conn):
    """docs/dags matches what the example DAGs generate (whatever connections are set)."""
    monkeypatch.chdir(REPO)
    set_conn("apisync_default", "https://api.example.test/v9", password=SECRETS["password"])
    result = generate("example_dags", out="docs/dags")
    stale = stale_pages(result.pages, "docs/dags")
    assert not stale, (
        f"docs/dags is out of date ({', '.join(stale)}): an example DAG changed. "
        f"Refresh with `{REFRESH}` (or `make docs`) and commit the pages."
    )
    example_files = sorted(
        p.name for p in (REPO / "example_dags").glob("*.py") if not p.name.startswith("_")
    )
    described = sorted({doc.source.split("/")[-1] for doc in result.docs})
    assert described == example_files, "every example DAG file must have a page"
    for doc in result.docs:
        page = (REPO / "docs" / "dags" / f"{doc.dag_id}.md").read_text()
        assert f"# DAG `{doc.dag_id}`" in page
        assert "api.example.test" not in page  # committed pages never read connections
        index = (REPO / "docs" / "dags" / "README.md").read_text()
        assert f"[`{doc.dag_id}`]({doc.dag_id}.md)" in index


def test_example_pages_cover_apisync_and_plain_tasks():
    page = (REPO / "docs" / "dags" / "apisync_rate_limit_window.md").read_text()
    assert "### 1. `wait_for_quota` · RateLimitWindowSensor" in page
    assert "| `wait_for_quota` | `apisync_default` | GET | `/contacts` |" in page
    assert "done when the remaining quota >= 2" in page
    assert "### 2. `pull_contacts` · @task" in page  # non-apisync task, listed briefly
    assert "after `wait_for_quota`" in page
    assert "| `apisync_default` | `wait_for_quota` | resolved at run time |" in page


def test_example_bulk_page():
    page = (REPO / "docs" / "dags" / "apisync_bulk_export.md").read_text()
    assert "| `export_contacts` | `apisync_salesforce` | POST | `/jobs/query` |" in page
    assert "| `export_contacts` | `apisync_salesforce` | GET | `/jobs/query/{job_id}` |" in page
    assert "polls every 5 s, growing x1.5 per poll up to 1 min, deferred between polls" in page
    assert "gives up after 6 h per try" in page


def test_reconcile_freshness_and_mapped_pull_descriptions():
    from airflow_provider_apisync.compat import DAG
    from airflow_provider_apisync.describe.model import describe_dag
    from airflow_provider_apisync.describe.render import render_dag
    from airflow_provider_apisync.operators import ApiPullOperator, ApiReconcileOperator
    from airflow_provider_apisync.sensors import DataFreshnessSensor

    with DAG("rec", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        fresh = DataFreshnessSensor(
            task_id="fresh",
            apisync_conn_id="erp",
            endpoint="/contacts",
            records_path="data",
            timestamp_field="updated_at",
            max_age=timedelta(hours=1),
            deferrable=True,
            timeout=3600,
        )
        many = ApiPullOperator.partial(
            task_id="many", apisync_conn_id="crm", paginator="offset", record_key="id"
        ).expand(endpoint=["/a", "/b"])
        rec = ApiReconcileOperator(
            task_id="reconcile",
            apisync_conn_id="erp",
            endpoint="/contacts",
            records="s3://lake/contacts/",
            record_key="id",
            query={"status": "active"},
            ignore_fields=["updated_at"],
            on_drift="repush",
            repush={"endpoint": "/contacts/{id}", "method": "PUT"},
        )
        fresh >> many >> rec
    page = render_dag(describe_dag(dag, source="rec.py"), {})
    assert (
        "done when the newest `updated_at` among the records at `data` is at most 1 h old" in page
    )
    assert "deferred while the data is stale (no worker slot held)" in page
    assert "### 2. `many` · ApiPullOperator" in page
    assert "Dynamically mapped over `endpoint`." in page
    assert '| `many` | `crm` | GET | `(mapped: ["/a", "/b"])` |' in page
    assert "| `reconcile` | `erp` | PUT | `/contacts/{id}` | repair missing/different |" in page
    assert "compared fields: those of the first source record, except `updated_at`" in page
    assert "`repair:<run_id>`" in page
    assert "de-duplicated by `record_key` `id` within the run" in page  # not `i`, `d`
    assert 'query parameters: `{"status": "active"}`' in page
    assert "skip or repeat records; repeats show up as `duplicate`" in page


def test_check_fails_when_a_dag_changes_and_names_the_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "example_dags", dags)
    out = tmp_path / "pages"
    monkeypatch.chdir(tmp_path)
    assert main(["dags", "--out", "pages"]) == 0
    assert main(["dags", "--out", "pages", "--check"]) == 0
    before = {p.name: p.read_text() for p in out.iterdir()}

    example = dags / "rate_limit_window_example.py"
    example.write_text(
        example.read_text().replace('ENDPOINT = "/contacts"', 'ENDPOINT = "/people"')
    )
    (dags / "webhook_to_asset_example.py").unlink()
    (out / "notes.md").write_text("# hand-written, not generated\n")
    capsys.readouterr()

    assert main(["dags", "--out", "pages", "--check"]) == 1
    err = capsys.readouterr().err
    assert "apisync_rate_limit_window.md" in err
    assert "webhook_to_asset_example.md (no longer generated)" in err
    assert "Refresh with: python -m airflow_provider_apisync.describe dags --out pages" in err
    assert {p.name: p.read_text() for p in out.iterdir() if p.name != "notes.md"} == before

    assert main(["dags", "--out", "pages"]) == 0
    assert "`/people`" in (out / "apisync_rate_limit_window.md").read_text()
    assert not (out / "webhook_to_asset_example.md").exists()
    assert (out / "notes.md").exists()  # files without the generated marker are kept
    assert main(["dags", "--out", "pages", "--check"]) == 0


def test_small_dag_page_content_with_connections(small_dag, set_conn):
    set_conn(
        "crm_small",
        "https://api.crm.example/v2",
        login="client-id",
        password=SECRETS["password"],
        extra={
            "auth_type": "oauth2_refresh_token",
            "token_url": "https://auth.crm.example/oauth/token",
            "refresh_token": SECRETS["refresh_token"],
            "scope": ["contacts.read", "contacts.write"],
            "headers": {"Stripe-Version": "2024-06-20", "X-Api-Key": SECRETS["header"]},
            "rate_limit": {"requests": 100, "per_seconds": 60},
            "max_retries": 3,
        },
    )
    result = generate(small_dag, connections=True)
    page = result.pages["crm_contacts_small.md"]

    # endpoints, paginator, incremental, idempotency
    assert "| `pull_contacts` | `crm_small` | GET | `/contacts` | read every page |" in page
    assert "| `push_contacts` | `erp_small` | POST | `/contacts` | write one record |" in page
    assert (
        "`CursorPaginator(cursor_path='meta.next_cursor', cursor_param='cursor', "
        "has_more_path='meta.has_more')`" in page
    )
    assert "sent as `updated_since` = mark - 10 min" in page
    assert "`Idempotency-Key` per record" in page
    assert "`POST` writes are resent on retryable failures (idempotency key)." in page
    assert "records: `return value of task pull_contacts`" in page
    assert "Airflow: 3 task retries, 5 min apart" in page
    assert "- **Assets produced**: `s3://lake/raw/crm/contacts`" in page
    assert "1. `start` (EmptyOperator) (start)" in page
    # the resolved connection: public settings only
    assert "| Base URL | `https://api.crm.example/v2` |" in page
    assert "| Scopes | `contacts.read contacts.write` |" in page
    assert "| Token URL host | `https://auth.crm.example:443` |" in page
    assert "`Stripe-Version: 2024-06-20`, `X-Api-Key: (hidden)`" in page
    assert "| Client-side rate limit | 100 requests per 1 min |" in page
    assert "`max_retries` 3" in page
    assert (
        "| `erp_small` | `push_contacts` | not available here (AirflowNotFoundException) |" in page
    )
    # no secret anywhere, in any page
    for text in result.pages.values():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} leaked"
    assert '"api_key": "(hidden)"' in page
    assert "`X-Api-Token: (hidden)`" in page


def test_small_dag_without_connections_is_environment_independent(small_dag, set_conn):
    bare = generate(small_dag).pages
    set_conn("crm_small", "https://api.crm.example/v2", password=SECRETS["password"])
    assert generate(small_dag).pages == bare
    assert (
        "| `crm_small` | `pull_contacts` | resolved at run time |" in bare["crm_contacts_small.md"]
    )
    assert "api.crm.example" not in bare["crm_contacts_small.md"]


def test_empty_data_interval_warning():
    from airflow_provider_apisync.compat import DAG, CronDataIntervalTimetable
    from airflow_provider_apisync.describe.model import describe_dag
    from airflow_provider_apisync.operators import ApiPullOperator

    def pull_dag(schedule):
        with DAG("w", schedule=schedule, start_date=datetime(2026, 1, 1)) as dag:
            ApiPullOperator(
                task_id="pull",
                endpoint="/contacts",
                query={"updated_since": "{{ data_interval_start | ts }}"},
            )
        return describe_dag(dag, source="w.py")

    trigger = pull_dag("@daily")
    assert "data interval empty" in trigger.schedule
    assert any("`pull` filters on `data_interval_start`" in note for note in trigger.notes)
    interval = pull_dag(CronDataIntervalTimetable("0 0 * * *", timezone="UTC"))
    assert interval.notes == ()
    assert "templated window: `updated_since`" in str(interval.tasks[0].aspects)


def test_asset_schedule_and_hourly_delta():
    from airflow_provider_apisync.compat import DAG, Asset
    from airflow_provider_apisync.describe.model import describe_dag

    with DAG("a", schedule=Asset("x") | Asset("y"), start_date=datetime(2026, 1, 1)) as dag:
        pass
    doc = describe_dag(dag, source="a.py")
    assert doc.schedule == "on asset events: any of (`x`, `y`)"
    assert doc.triggered_by == ("x", "y")
    with DAG("b", schedule=timedelta(hours=2), start_date=datetime(2026, 1, 1)) as dag:
        pass
    assert describe_dag(dag, source="b.py").schedule.startswith("every 2 h")


def test_import_errors_are_reported_per_file(tmp_path):
    (tmp_path / "broken_dag.py").write_text(
        "from airflow.sdk import DAG\nraise RuntimeError('boom: no DAG')\n"
    )
    with pytest.raises(DescribeError, match=r"broken_dag.py: RuntimeError: boom: no DAG"):
        generate(tmp_path)


def test_cli_missing_path_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_provider_apisync.describe", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "does not exist: give a DAG file or a folder of DAG files." in lines[0]
    assert "Traceback" not in proc.stderr


def test_refresh_command_uses_the_paths_as_given():
    assert refresh_command("./example_dags/", "docs/dags") == REFRESH


def test_write_pages_only_touches_changed_files(tmp_path):
    pages = {"README.md": "<!-- generated by airflow_provider_apisync.describe: do not edit -->\n"}
    assert write_pages(pages, tmp_path) == ["README.md"]
    assert write_pages(pages, tmp_path) == []
    assert stale_pages(pages, tmp_path) == []
