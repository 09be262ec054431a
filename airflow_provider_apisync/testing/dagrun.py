"""Run DAGs under a real Airflow (``airflow dags test``) in a throwaway AIRFLOW_HOME.

Used by the demo and the end-to-end tests, and shipped so users can test their own DAGs
offline against :class:`FakeApi`. Everything happens in subprocesses: the calling process
imports no Airflow internals and its environment is left untouched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Caller settings not passed through: they would point this throwaway home at another DB.
_PINNED = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",)
_RUN_STATE = re.compile(r"DagRun Finished: dag_id=(\S+?),.*?state=(\w+)")


@dataclass
class DagTestResult:
    """Outcome of one ``airflow dags test`` run."""

    dag_id: str
    returncode: int
    output: str
    state: str | None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.state == "success"


@dataclass
class AirflowEnv:
    """An AIRFLOW_HOME with a sqlite metadata DB and a DAGs folder.

    ``env`` adds variables (``AIRFLOW_CONN_*`` connections, ``AIRFLOW_VAR_*`` ...). The
    caller's ``AIRFLOW__*`` settings pass through (e.g. ``AIRFLOW__CORE__TEST_CONNECTION``),
    except the metadata DB's (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN*``): the DB is this
    home's sqlite unless ``env`` names another. The home, DAGs folder, examples off and
    unit-test mode off are always this environment's.
    """

    home: Path
    dags_folder: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 600.0

    def environ(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_PINNED)}
        bin_dir = str(Path(sys.executable).parent)
        base.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "PATH": bin_dir + os.pathsep + base.get("PATH", ""),
            }
        )
        base.update(self.env)
        return base

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` with this environment; output captured as text."""
        exe = str(Path(sys.executable).parent / "airflow")
        proc = subprocess.run(  # noqa: S603 - fixed executable, arguments from the caller
            [exe, *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        return proc

    def setup(self) -> AirflowEnv:
        """Create the folders, migrate the DB and serialize the DAGs."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        self.reserialize()
        return self

    def reserialize(self) -> None:
        self.airflow("dags", "reserialize")

    def dags_test(self, dag_id: str, *args: str) -> DagTestResult:
        """``airflow dags test DAG_ID [ARGS]``; the run state is read from its output."""
        proc = self.airflow("dags", "test", dag_id, *args, check=False)
        output = proc.stdout + proc.stderr
        states = [s for d, s in _RUN_STATE.findall(output) if d == dag_id]
        return DagTestResult(dag_id, proc.returncode, output, states[-1] if states else None)
