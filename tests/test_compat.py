"""``airflow_provider_apisync.compat``: one place for names that moved between Airflow lines.

The drift test keeps it that way: a module of the package (or an example DAG) that imports
a compat-covered name straight from ``airflow`` fails here with the fix, so code written for
one Airflow line cannot quietly break the others.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_apisync
from airflow_provider_apisync import compat

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(airflow_provider_apisync.__file__).resolve().parent


def _covered() -> frozenset[str]:
    from airflow.providers.common.compat import sdk

    return compat.COMPAT_NAMES | frozenset(sdk.__all__)


def _direct_imports(path: Path, covered: frozenset[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        module = node.module
        if module != "airflow" and not module.startswith("airflow."):
            continue
        if module.startswith("airflow.providers.common.compat"):
            continue
        for alias in node.names:
            if alias.name in covered or module.startswith("airflow.sdk"):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                found.append(f"{shown}:{node.lineno}: {module}.{alias.name}")
    return found


def test_no_module_imports_a_compat_covered_name_directly_from_airflow():
    covered = _covered()
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "compat.py"]
    files += sorted((ROOT / "example_dags").glob("*.py"))
    offenders = [hit for path in files for hit in _direct_imports(path, covered)]
    assert offenders == [], (
        "import these from airflow_provider_apisync.compat (add the name there, from "
        "airflow.providers.common.compat.sdk when it covers it), so every supported "
        "Airflow line keeps working:\n" + "\n".join(offenders)
    )


def test_the_drift_check_catches_a_direct_sdk_import(tmp_path):
    module = tmp_path / "drift.py"
    module.write_text("from airflow.sdk import BaseHook, dag\nfrom airflow.models import Foo\n")
    hits = [h.split(": ", 1)[1] for h in _direct_imports(module, _covered())]
    assert hits == ["airflow.sdk.BaseHook", "airflow.sdk.dag"]


def test_every_compat_name_resolves_on_this_airflow():
    missing = [name for name in sorted(compat.COMPAT_NAMES) if not hasattr(compat, name)]
    assert missing == []
    assert set(compat.__all__) >= compat.COMPAT_NAMES


def test_degraded_says_it_once(caplog):
    caplog.set_level("INFO", logger="airflow_provider_apisync.compat")
    feature = f"probe-feature-{os.getpid()}"
    compat.degraded(feature, "the fallback", needs="9.9")
    compat.degraded(feature, "the fallback", needs="9.9")
    lines = [r.getMessage() for r in caplog.records if feature in r.getMessage()]
    assert lines == [
        f"apisync: {feature} needs Airflow >= 9.9; on Airflow {compat.AIRFLOW_VERSION_STR} "
        "using the fallback instead"
    ]


@pytest.mark.skipif(not compat.AIRFLOW_V_3_0_PLUS, reason="Airflow 2 has no task comms")
def test_a_mask_secret_request_in_a_debug_log_line_hides_its_value():
    """Regression (Airflow 3.0 ``dags test``): the in-process comms debug-logged every
    ``MaskSecret`` with its value, printing bearer tokens; the guard hides the value."""
    import io

    import structlog
    from airflow.sdk.execution_time.comms import MaskSecret

    from airflow_provider_apisync.log_guard import hide_mask_secret_event

    saved = structlog.get_config()
    out = io.StringIO()
    try:
        structlog.reset_defaults()  # unconfigured, as in the `dags test` process on 3.0
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(out))
        compat.hide_mask_secret_values(MaskSecret)
        compat.hide_mask_secret_values(MaskSecret)  # idempotent
        assert structlog.get_config()["processors"].count(hide_mask_secret_event) == 1
        structlog.get_logger().debug("Sending request", msg=MaskSecret(value="tok-123456"))
    finally:
        structlog.configure(**saved)
    assert "Sending request" in out.getvalue()
    assert "tok-123456" not in out.getvalue()
    assert "MaskSecret(value=<hidden>)" in out.getvalue()


@pytest.mark.skipif(not compat.AIRFLOW_V_3_0_PLUS, reason="asset events (webhooks) need Airflow 3")
def test_delivery_lookup_runs_on_this_lines_asset_event_table(tmp_path):
    """The webhook dedupe query on a real SQLite table with this line's AssetEvent columns.

    Airflow 3.0/3.1 type ``extra`` with a column whose comparator has no JSON index
    (``NotImplementedError``: every delivery answered 503 there).
    """
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import create_engine, insert
    from sqlalchemy.orm import Session

    from airflow_provider_apisync.webhooks.dedupe import find_seen

    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    AssetModel.__table__.create(engine)
    AssetEvent.__table__.create(engine)
    with Session(engine) as session:
        for asset_id, uri in ((7, "apisync://github/push"), (8, "apisync://stripe/invoice")):
            session.execute(
                insert(AssetModel.__table__).values(id=asset_id, name=uri, uri=uri, group="")
            )
        events = [(7, "d-1", "b-1"), (7, "d-2", "b-2"), (8, "d-3", "b-3")]
        for n, (asset_id, delivery, body) in enumerate(events, start=1):
            session.execute(
                insert(AssetEvent.__table__).values(
                    id=n,
                    asset_id=asset_id,
                    extra={"delivery_id": delivery, "body_sha256": body},
                    timestamp=_now(),
                )
            )
        session.commit()

        def seen(delivery: str, body: str, prefix: str = "apisync://github/", **kw) -> list:
            found = find_seen(
                session, source_prefix=prefix, delivery_id=delivery, body_sha256=body, **kw
            )
            return [s.event_id for s in found]

        assert seen("d-1", "new") == [1]  # by delivery id
        assert seen("new", "b-2") == [2]  # by body, whatever the delivery id
        assert seen("d-1", "b-2") == [1, 2]
        assert seen("d-3", "b-3") == []  # another source's event
        assert seen("d-3", "b-3", prefix="apisync://stripe/") == [3]
        assert seen("d-2", "x", window_days=1) == [2]


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def test_refuses_to_load_on_an_older_airflow_with_one_clear_line(tmp_path):
    """As official providers do: importing the provider on Airflow 2.10 raises one line."""
    for dist in ("apache_airflow_core", "apache_airflow"):
        info = tmp_path / f"{dist}-2.10.5.dist-info"
        info.mkdir()
        name = dist.replace("_", "-")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.10.5\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PACKAGE.parent)])}
    done = subprocess.run(
        [sys.executable, "-c", "import airflow_provider_apisync"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "RuntimeError: The package `airflow-provider-apisync:"
        f"{airflow_provider_apisync.__version__}` needs Apache Airflow 2.11.0+ "
        "(installed: 2.10.5); upgrade Airflow or pin an older apisync."
    )
