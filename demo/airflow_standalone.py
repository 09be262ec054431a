"""A real Airflow (scheduler, dag-processor, triggerer, API server) for end-to-end runs.

``airflow standalone`` with LocalExecutor on sqlite, on a loopback port, in its own process
group so stopping it leaves nothing behind. Runs are triggered and watched through the
public REST API, exactly as an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from airflow_provider_apisync.testing.dagrun import AirflowEnv

TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowStandalone:
    """Context manager around ``airflow standalone``; ``trigger``/``wait`` use REST."""

    env: AirflowEnv
    port: int = field(default_factory=free_port)
    start_timeout: float = 240.0
    _proc: subprocess.Popen[bytes] | None = None
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.env.home / "standalone.log"

    def start(self) -> AirflowStandalone:
        self.env.home.mkdir(parents=True, exist_ok=True)
        environ = self.env.environ()
        # The UI's Test button (Airflow ships it disabled); a caller's setting wins.
        environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
        environ.update(
            {
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__BASE_URL": self.url,
                # Log servers on free ports too: the defaults (8793, 8794) are fixed, so a
                # second standalone on the machine would fail to bind them.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            }
        )
        exe = str(Path(sys.executable).parent / "airflow")
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed executable
            [exe, "standalone"],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_healthy()
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(grace)
                if sig == signal.SIGTERM:
                    time.sleep(1.0)  # let children of the group exit too
                    os.killpg(self._proc.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._proc = None

    def __enter__(self) -> AirflowStandalone:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- REST -------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/api/v2/...`` with a bearer token; returns decoded JSON."""
        if self._token is None:
            self._token = self._login()
        resp = requests.request(
            method,
            self.url + path,
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def add_connection(self, conn_id: str, conn: dict[str, Any]) -> None:
        """Create (or replace) a connection in the metadata DB, as the UI's form would.

        ``conn`` is Airflow's JSON form (``conn_type``, ``host``, ``login``, ``password``,
        ``port``, ``extra`` as a dict or JSON text). Stored in the DB, it is listed under
        Admin -> Connections and can be edited and tested there, unlike ``AIRFLOW_CONN_*``.
        An ``apisync`` connection without a port gets its base URL's port (443/80 when the
        URL has none): Airflow 3.3's Test button sends the stored port (a missing one as 0)
        and the server refuses a test whose port differs from the stored connection.
        """
        if conn.get("conn_type") == "apisync" and conn.get("host") and not conn.get("port"):
            parts = urlsplit(str(conn["host"]))
            conn = {**conn, "port": parts.port or (443 if parts.scheme == "https" else 80)}
        body: dict[str, Any] = {"connection_id": conn_id, "conn_type": conn["conn_type"]}
        for key in ("host", "login", "password", "port", "schema", "description"):
            if conn.get(key) not in (None, ""):
                body[key] = conn[key]
        extra = conn.get("extra")
        if extra:
            body["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        with contextlib.suppress(requests.HTTPError):  # not there yet
            self.api("DELETE", f"/api/v2/connections/{conn_id}")
        self.api("POST", "/api/v2/connections", body)

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/api/v2/dags/{dag_id}")
                return
            except (requests.HTTPError, requests.Timeout, requests.ConnectionError):
                time.sleep(2)
        raise TimeoutError(f"DAG {dag_id} was not parsed within {timeout:.0f}s")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause ``dag_id``, trigger a run; returns the run id."""
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        return str(run["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        """Poll until the run is terminal; returns its state."""
        from urllib.parse import quote

        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            try:
                run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            except (requests.Timeout, requests.ConnectionError):
                time.sleep(2)  # a busy API server; the deadline still bounds the wait
                continue
            state = run["state"]
            if state in TERMINAL:
                return str(state)
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        from urllib.parse import quote

        data = self.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        )
        return {ti["task_id"]: ti["state"] for ti in data["task_instances"]}

    # -- internals --------------------------------------------------------------------
    def _login(self) -> str:
        secrets = self.env.home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(secrets.read_text())["admin"]
        resp = requests.post(
            self.url + "/auth/token",
            json={"username": "admin", "password": password},
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited; see {self.log_path}")
            try:
                health = requests.get(self.url + "/api/v2/monitor/health", timeout=5).json()
                parts = ("scheduler", "triggerer", "dag_processor")
                if all(health.get(p, {}).get("status") == "healthy" for p in parts):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(2)
        raise TimeoutError(f"airflow standalone not healthy in {self.start_timeout:.0f}s")
