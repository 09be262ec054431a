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


#: The only Airflow modules a package module other than compat.py may import directly, by
#: the package folder allowed to. Everything else (``airflow.sdk.*``, ``airflow.models.*``,
#: ``airflow.hooks.base``, ``airflow.timetables``, ``airflow.stats``...) moved or changed
#: between 2.11 and 3.3 and goes through compat. Widening this list needs a reason here:
ALLOWED_DIRECT = {
    # Anywhere: the shim itself, and the optional OpenLineage provider (own compat policy).
    "": ("airflow.providers.common.compat", "airflow.providers.openlineage"),
    # The webhook API-server plugin loads on Airflow 3 only (2.11 says so at start-up); these
    # modules are unchanged from 3.0 to 3.3 (test_the_allowed_direct_imports_resolve_here
    # checks that on each line of `make compat`).
    "webhooks/": ("airflow.models.asset", "airflow.assets.manager", "airflow.utils.session"),
}
#: Names the allowed modules may give (so a moved name re-exported there still fails).
ALLOWED_NAMES = {
    "airflow.models.asset": {"AssetEvent", "AssetModel"},
    "airflow.assets.manager": {"asset_manager"},
    "airflow.utils.session": {"create_session"},
}


def _airflow_imports(path: Path) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` for every Airflow import in ``path``, however written:
    ``from airflow.x import y``, ``import airflow.x``, ``from airflow import sdk``,
    ``importlib.import_module("airflow.x")`` / ``__import__`` with a literal, in any scope."""
    found: list[tuple[int, str, str]] = []

    def airflow(module: str) -> bool:
        return module == "airflow" or module.startswith("airflow.")

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if airflow(node.module):
                for alias in node.names:
                    if node.module == "airflow":  # `from airflow import sdk` is a module
                        found.append((node.lineno, f"airflow.{alias.name}", "*"))
                    else:
                        found.append((node.lineno, node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, "*") for a in node.names if airflow(a.name)]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (
                called in ("import_module", "__import__", "find_spec")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and airflow(arg.value)
            ):
                found.append((node.lineno, arg.value, "*"))
    return found


def _direct_imports(path: Path, covered: frozenset[str], rel: str = "") -> list[str]:
    """The imports in ``path`` (``rel``: its path inside the package) that must go through
    compat: a compat-covered name from anywhere in ``airflow``, or any module not in
    :data:`ALLOWED_DIRECT` for that file (or a name the allowed module is not allowed for)."""
    found = []
    for lineno, module, name in _airflow_imports(path):
        allowed = any(
            (rel.startswith(where) if where else True)
            and any(module == m or module.startswith(m + ".") for m in modules)
            for where, modules in ALLOWED_DIRECT.items()
        )
        if allowed and module in ALLOWED_NAMES and name not in ALLOWED_NAMES[module]:
            allowed = False
        if name in covered and not module.startswith("airflow.providers.common.compat"):
            allowed = False
        if not allowed:
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{shown}:{lineno}: {module}.{name}")
    return found


def _package_files() -> list[tuple[Path, str]]:
    files = [
        (p, p.relative_to(PACKAGE).as_posix())
        for p in sorted(PACKAGE.rglob("*.py"))
        if p != PACKAGE / "compat.py"
    ]
    # Example DAGs may not use the package's allowances (they get none).
    return files + [
        (p, "example_dags/" + p.name) for p in sorted((ROOT / "example_dags").glob("*.py"))
    ]


def test_no_module_imports_a_compat_covered_name_directly_from_airflow():
    covered = _covered()
    offenders = [
        hit for path, rel in _package_files() for hit in _direct_imports(path, covered, rel)
    ]
    assert offenders == [], (
        "import these from airflow_provider_apisync.compat (add the name there, from "
        "airflow.providers.common.compat.sdk when it covers it), so every supported "
        "Airflow line keeps working:\n" + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    ("source", "rel", "expected"),
    [
        (
            "from airflow.sdk import BaseHook, dag\n",
            "pull/engine.py",
            ["airflow.sdk.BaseHook", "airflow.sdk.dag"],
        ),
        (
            "from airflow.sdk.log import mask_secret\n",
            "runtime/deferral.py",
            ["airflow.sdk.log.mask_secret"],
        ),
        (
            "from airflow.sdk.observability.stats import Stats\n",
            "hooks/apisync.py",
            ["airflow.sdk.observability.stats.Stats"],
        ),
        (
            "import airflow.sdk.definitions.asset\n",
            "bulk/job.py",
            ["airflow.sdk.definitions.asset.*"],
        ),
        ("from airflow import sdk\n", "push/runner.py", ["airflow.sdk.*"]),
        (
            "def f():\n    from airflow.models.dagbag import DagBag\n",
            "runtime/x.py",
            ["airflow.models.dagbag.DagBag"],
        ),
        ("from airflow.models import Variable\n", "runtime/state.py", ["airflow.models.Variable"]),
        (
            "from airflow.hooks.base import BaseHook\n",
            "hooks/apisync.py",
            ["airflow.hooks.base.BaseHook"],
        ),
        ("from airflow.stats import Stats\n", "client/metrics.py", ["airflow.stats.Stats"]),
        (
            "from airflow.timetables.trigger import CronTriggerTimetable\n",
            "x.py",
            ["airflow.timetables.trigger.CronTriggerTimetable"],
        ),
        (
            "import importlib\nimportlib.import_module('airflow.sdk.crypto')\n",
            "x.py",
            ["airflow.sdk.crypto.*"],
        ),
        (
            "from airflow.models.asset import AssetModel\n",
            "pull/assets.py",
            ["airflow.models.asset.AssetModel"],
        ),
        (
            "from airflow.models.asset import Asset\n",
            "webhooks/events.py",
            ["airflow.models.asset.Asset"],
        ),
        # allowed: the shim, and the 3.x-only webhook plugin's unchanged modules
        ("from airflow.providers.common.compat.sdk import BaseHook\n", "hooks/x.py", []),
        ("from airflow.models.asset import AssetModel\n", "webhooks/events.py", []),
    ],
)
def test_the_drift_check_catches_a_direct_import(tmp_path, source, rel, expected):
    module = tmp_path / "drift.py"
    module.write_text(source)
    hits = [h.split(": ", 1)[1] for h in _direct_imports(module, _covered(), rel)]
    assert hits == expected


def test_the_allowed_direct_imports_resolve_here():
    """What ALLOWED_DIRECT lets the package import really exists on this Airflow line (run
    by `make compat` on every line): an allowance cannot hide a moved module."""
    import importlib

    missing = []
    for path, rel in _package_files():
        for lineno, module, name in _airflow_imports(path):
            if module.startswith(
                ("airflow.providers.common.compat", "airflow.providers.openlineage")
            ):
                continue  # the shim is installed everywhere; OpenLineage is optional
            if rel.startswith("webhooks/") and not compat.AIRFLOW_V_3_0_PLUS:
                continue  # the webhook plugin does not load on 2.11
            try:
                found = importlib.import_module(module)
            except ImportError:
                missing.append(f"{rel}:{lineno}: {module}")
                continue
            if name != "*" and not hasattr(found, name):
                missing.append(f"{rel}:{lineno}: {module}.{name}")
    assert missing == []


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
