"""A distributed Airflow on one machine: CeleryExecutor, two workers, Postgres, Redis, S3.

Every service is a real server started from its Debian package or Python distribution on
a free loopback port, in its own process group and temp dir:

- PostgreSQL 15 (``initdb`` + ``postgres``; as the ``postgres`` user when run as root),
  the metadata DB and Celery's result backend;
- ``redis-server``, the Celery broker (and the shared apisync store when one is named);
- ``moto_server``: S3 (the ``[apisync] output_base`` bucket) and Secrets Manager (the
  ``[secrets] backend`` every connection comes from);
- Airflow: ``api-server`` (REST + Execution API), ``scheduler``, ``dag-processor``,
  ``triggerer``, and two ``celery worker`` processes, each with its own AIRFLOW_HOME, temp
  dir, DAGs copy and ``--celery-hostname``. Task instances record the worker they ran on
  through ``[core] hostname_callable`` (``worker_host.hostname``): two "machines".

:meth:`Cluster.stop` kills every process group, also after a failed start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = Path(sys.executable).parent
BUCKET = "apisync-fleet"
REGION = "us-east-1"
WORKERS = ("worker-a", "worker-b")
CONN_PREFIX = "airflow/connections"
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name} exited: {log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} not open after {timeout:.0f}s; see {log}")


def which(name: str) -> str:
    """A Debian binary: on PATH or in PostgreSQL's versioned bin folder."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise FileNotFoundError(f"{name} not found: run `make debs` (scripts/debian-deps.sh)")


@dataclass
class Processes:
    """Started process groups with their log files; ``stop`` ends them all."""

    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - fixed executables
            argv,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM every group, then SIGKILL what is left (reverse start order)."""
        for proc in reversed(list(self.procs.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()


def as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: use the ``postgres`` system user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def start_postgres(root: Path, procs: Processes) -> str:
    """A fresh cluster on a free port; returns the SQLAlchemy URL of its ``airflow`` DB."""
    data, sock = root / "pgdata", root / "pgsock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(  # noqa: S603
        as_postgres(
            [which("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            + ["--no-sync", "--no-instructions"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(sock),
        "max_connections": "300",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "64MB",
    }
    args = [which("postgres"), "-D", str(data), "-p", str(port)]
    for key, value in settings.items():
        args += ["-c", f"{key}={value}"]
    proc = procs.start("postgres", as_postgres(args))
    wait_port(port, 60, proc, procs.logs / "postgres.log")
    import psycopg2

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE airflow")
    conn.close()
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"


def start_redis(root: Path, procs: Processes) -> int:
    port = free_port()
    argv = [which("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(root), "--protected-mode", "no"]
    proc = procs.start("redis", argv)
    wait_port(port, 30, proc, procs.logs / "redis.log")
    return port


def start_moto(procs: Processes) -> str:
    port = free_port()
    proc = procs.start("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    wait_port(port, 60, proc, procs.logs / "moto.log")
    return f"http://127.0.0.1:{port}"


@dataclass
class Cluster:
    """The running cluster: REST, S3 and Secrets Manager access for the tests."""

    root: Path
    dags: list[Path]
    procs: Processes
    redis_port: int = 0
    moto_url: str = ""
    api_port: int = 0
    worker_homes: dict[str, Path] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    _token: str | None = None

    # -- start ------------------------------------------------------------------------
    def start(self) -> Cluster:
        sql = start_postgres(self.root, self.procs)
        self.redis_port = start_redis(self.root, self.procs)
        self.moto_url = start_moto(self.procs)
        self.s3().create_bucket(Bucket=BUCKET)
        self.api_port = free_port()
        self.env = self._base_env(sql)
        control = self.home("control")
        migrate = subprocess.run(  # noqa: S603
            [str(BIN / "airflow"), "db", "migrate"],
            env=self.environ(control),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-3000:]}"
            )
        for part in ("api-server", "scheduler", "dag-processor", "triggerer"):
            self.procs.start(part, [str(BIN / "airflow"), part], self.environ(control))
        for name in WORKERS:
            home = self.home(name)
            self.worker_homes[name] = home
            argv = [str(BIN / "airflow"), "celery", "worker", "--celery-hostname"]
            argv += [f"{name}@%h", "--concurrency", "4"]
            self.procs.start(name, argv, self.environ(home, hostname=name))
        self._wait_ready()
        return self

    def home(self, name: str) -> Path:
        """An AIRFLOW_HOME with its own temp dir and its own copy of the DAG files."""
        home = self.root / name
        (home / "dags").mkdir(parents=True, exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
        for dag in self.dags:
            shutil.copy(dag, home / "dags" / dag.name)
        return home

    def _base_env(self, sql: str) -> dict[str, str]:
        from cryptography.fernet import Fernet

        api = f"http://127.0.0.1:{self.api_port}"
        backend = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
        kwargs = {
            "connections_prefix": CONN_PREFIX,
            "variables_prefix": None,
            "endpoint_url": self.moto_url,
            "region_name": REGION,
        }
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sql,
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs a test triggers
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SECRETS__BACKEND": backend,
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(kwargs),
            # The output base names its connection (aws_default, from Secrets Manager).
            "AIRFLOW__APISYNC__OUTPUT_BASE": f"s3://aws_default@{BUCKET}/apisync",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def environ(self, home: Path, hostname: str | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
        base.update(self.env)
        base.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "TMPDIR": str(home / "tmp"),
                "PATH": str(BIN) + os.pathsep + base.get("PATH", ""),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), base.get("PYTHONPATH")])),
            }
        )
        if hostname:
            base["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "worker_host.hostname"
            base["APISYNC_CLUSTER_HOSTNAME"] = hostname
        return base

    def _wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {"health", *WORKERS}
        while pending and time.monotonic() < deadline:
            for name, proc in self.procs.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.procs.log(name)[-4000:]}")
            for worker in WORKERS:
                if (
                    worker in pending
                    and f"{worker}@" in self.procs.log(worker)
                    and (" ready." in self.procs.log(worker))
                ):
                    pending.discard(worker)
            if "health" in pending:
                with contextlib.suppress(requests.RequestException, ValueError):
                    health = requests.get(self.url + "/api/v2/monitor/health", timeout=5).json()
                    parts = ("scheduler", "triggerer", "dag_processor")
                    if all(health.get(p, {}).get("status") == "healthy" for p in parts):
                        pending.discard("health")
            time.sleep(1)
        if pending:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(pending)}")

    def stop(self) -> None:
        self.procs.stop()

    # -- Celery remote control -------------------------------------------------------
    def celery_control(self) -> Any:
        from celery import Celery

        app = Celery(broker=f"redis://127.0.0.1:{self.redis_port}/0")
        return app.control

    def node(self, worker: str) -> str:
        return f"{worker}@{socket.gethostname()}"

    @contextlib.contextmanager
    def alternating_workers(self, dag_id: str) -> Iterator[None]:
        """Hand each new task of ``dag_id`` to the other worker (Celery remote control).

        Only one worker consumes the queue at a time; as soon as a task instance runs on
        it, the consumers swap. A sequential DAG then crosses machines at every step: each
        task reads what a task on the other worker wrote. Both consume again afterwards.
        """
        control, queue = self.celery_control(), "default"
        active = WORKERS[0]
        control.cancel_consumer(queue, destination=[self.node(WORKERS[1])], reply=True)
        stop = threading.Event()
        seen: set[tuple[str, int]] = set()

        def steer() -> None:
            nonlocal active
            while not stop.wait(0.3):
                with contextlib.suppress(Exception):
                    runs = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=5")["dag_runs"]
                    for run in runs:
                        for ti in self.task_instances(dag_id, run["dag_run_id"]):
                            key = (ti["task_id"], ti["map_index"])
                            if ti["hostname"] == active and key not in seen:
                                seen.add(key)
                                other = WORKERS[1] if active == WORKERS[0] else WORKERS[0]
                                control.add_consumer(
                                    queue, destination=[self.node(other)], reply=True
                                )
                                control.cancel_consumer(
                                    queue, destination=[self.node(active)], reply=True
                                )
                                active = other

        thread = threading.Thread(target=steer, name="steer-workers", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(10)
            for worker in WORKERS:
                control.add_consumer(queue, destination=[self.node(worker)], reply=True)

    # -- AWS (moto) -------------------------------------------------------------------
    def boto(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def s3(self) -> Any:
        return self.boto("s3")

    def bucket_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def put_connection(self, conn_id: str, conn: dict[str, Any]) -> None:
        """Create or update ``airflow/connections/<conn_id>`` in Secrets Manager."""
        client, name = self.boto("secretsmanager"), f"{CONN_PREFIX}/{conn_id}"
        try:
            client.put_secret_value(SecretId=name, SecretString=json.dumps(conn))
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=json.dumps(conn))

    def aws_connection(self) -> dict[str, Any]:
        """``aws_default``: the S3 endpoint of the output base (moto here)."""
        return {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": self.moto_url, "region_name": REGION},
        }

    # -- REST -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        if self._token is None:
            self._token = self._login()
        resp = requests.request(
            method,
            self.url + path,
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def _login(self) -> str:
        passwords = self.root / "control" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        resp = requests.post(
            self.url + "/auth/token",
            json={"username": "admin", "password": password},
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        deadline = time.monotonic() + 180
        while True:
            try:
                self.api("GET", f"/api/v2/dags/{dag_id}")
                break
            except requests.HTTPError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"DAG {dag_id} not parsed") from None
                time.sleep(2)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        return str(run["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 240.0) -> str:
        """Poll until the run is terminal; prints how long it took from the trigger."""
        started = time.monotonic()
        deadline = started + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            state = str(run["state"])
            if state in TERMINAL:
                print(f"{dag_id} {state} in {time.monotonic() - started:.0f}s")
                return state
            time.sleep(1.5)
        raise TimeoutError(f"{dag_id} {run_id} still {state} after {timeout:.0f}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return list(self.api("GET", path + "?limit=100")["task_instances"])

    def diagnostics(self) -> str:
        """The tail of every process log, for assertion messages."""
        return "\n".join(f"--- {name}\n{self.procs.log(name)[-1500:]}" for name in self.procs.procs)


@contextlib.contextmanager
def running_cluster(dags: list[Path]) -> Iterator[Cluster]:
    """Start everything once; stop every process group and remove the temp dir after."""
    root = Path(tempfile.mkdtemp(prefix="apisync-cluster-"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    cluster = Cluster(root=root, dags=dags, procs=Processes(logs))
    started = time.monotonic()
    try:
        cluster.start()
        print(f"\ncluster up in {time.monotonic() - started:.0f}s (services, migrate, Airflow)")
        yield cluster
    finally:
        cluster.stop()
        if os.environ.get("APISYNC_KEEP_CLUSTER") != "1":
            shutil.rmtree(root, ignore_errors=True)
