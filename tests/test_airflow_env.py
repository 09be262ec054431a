"""``AirflowEnv`` (the throwaway AIRFLOW_HOME behind ``make demo`` and the tests) passes the
caller's ``AIRFLOW__*`` settings through to Airflow, but never the metadata DB's."""

from __future__ import annotations

import subprocess
import sys

from airflow_provider_apisync.testing.dagrun import AirflowEnv

READ = (
    "from airflow.configuration import conf\n"
    "print(conf.get('core', 'test_connection'))\n"
    "print(conf.get('database', 'sql_alchemy_conn'))\n"
)


def test_airflow_settings_pass_through_but_the_db_stays_in_the_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://prod.example/airflow")
    env = AirflowEnv(tmp_path / "home", tmp_path / "dags")
    (tmp_path / "home").mkdir()

    proc = subprocess.run(  # noqa: S603 - this interpreter, fixed script
        [sys.executable, "-c", READ],
        env=env.environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    setting, db = proc.stdout.strip().splitlines()[-2:]
    assert setting == "Enabled"
    assert db.startswith("sqlite:") and str(tmp_path / "home") in db, db
