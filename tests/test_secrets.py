"""Secrets in a real Airflow: a LocalFilesystemBackend, real task log files, no leaks.

The DAG runs with ``airflow dags test --use-executor``: the LocalExecutor starts each task
under Airflow's supervisor, which writes the task log file (with Airflow's redaction) under
AIRFLOW_HOME/logs and serves connections from the configured secrets backend. That needs
the Execution API, so an ``airflow api-server --apps execution`` runs for the module.
(Plain ``dags test`` runs tasks in-process, writes no task log file and does not redact
its console output.) Logging is at DEBUG, so urllib3 and Airflow internals log too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_apisync.testing import FakeApi, FakeAuth, Response
from airflow_provider_apisync.testing.dagrun import _RUN_STATE, AirflowEnv, DagTestResult

pytestmark = pytest.mark.standalone  # an `airflow api-server --apps execution` serves the module

KEY = "sk-header-key-7f3a9c21"
QKEY = "sk-query-key-5b8e0d44"
BEARER = "bearer-token-1c9d72aa"
BASIC_PW = "basic-password-93ab11"
CLIENT = "client-7"
CLIENT_SECRET = "client-secret-4d2e8f90"
REFRESH = "refresh-token-a71c3b52"
BAD_KEY = "sk-wrong-key-0e6f1d38"
FILE_KEY_1 = "sk-file-key-one-62c1"
FILE_KEY_2 = "sk-file-key-two-d83f"
STATIC_SECRETS = [KEY, QKEY, BEARER, BASIC_PW, CLIENT_SECRET, REFRESH, BAD_KEY, FILE_KEY_1]

DAG = textwrap.dedent(
    '''
    """Uses every auth type, rotates a file-backed key mid-task, and fails on a wrong key."""
    import logging
    from datetime import datetime

    from airflow_provider_apisync.compat import dag, task

    log = logging.getLogger("secrets_probe")


    @dag(dag_id="secrets_probe", schedule=None, start_date=datetime(2026, 1, 1))
    def secrets_probe():
        @task
        def every_auth_type():
            from airflow_provider_apisync.hooks import ApiSyncHook
            from airflow_provider_apisync.runtime.summary import log_summary

            statuses = {}
            for conn_id in ("sec_key", "sec_qkey", "sec_bearer", "sec_basic", "sec_cc", "sec_rt"):
                hook = ApiSyncHook(conn_id)
                statuses[conn_id] = hook.request("GET", "/contacts").status_code
                if conn_id in ("sec_cc", "sec_rt"):
                    hook.request("POST", "/admin/expire-tokens")  # next call: 401, new token
                    statuses[conn_id] = hook.request("GET", "/contacts").status_code
                    # Deliberately log minted secrets: Airflow must show *** (mask_secret).
                    log.info("probe-minted %s %s", conn_id, hook.client.auth.access_token())
                if conn_id == "sec_rt":
                    log.info("probe-rotated %s", hook.client.auth.current_refresh_token)
            log_summary(log, "every_auth_type", statuses)
            return statuses

        @task
        def file_backend_rotation():
            from airflow_provider_apisync.hooks import ApiSyncHook
            from airflow_provider_apisync.runtime.summary import log_summary

            hook = ApiSyncHook("file_key")
            first = hook.request("GET", "/contacts").status_code
            hook.request("POST", "/admin/rotate-file-key")  # vendor + secrets file rotate
            second = hook.request("GET", "/contacts").status_code  # 401, reload, 200
            log_summary(log, "file_backend_rotation", {"first": first, "second": second})

        @task
        def wrong_key_fails():
            from airflow_provider_apisync.hooks import ApiSyncHook

            ApiSyncHook("sec_bad").request("GET", "/contacts")

        # In sequence: the failing task last, so no task is running when the run ends.
        every_auth_type() >> file_backend_rotation() >> wrong_key_fails()


    secrets_probe()
    '''
)


@dataclass
class Run:
    api: FakeApi
    home: Path
    result: DagTestResult
    extra_output: str

    def task_log(self, task_id: str) -> str:
        files = sorted(self.home.glob(f"logs/dag_id=secrets_probe/run_id=*/task_id={task_id}/*"))
        assert files, f"no task log file for {task_id}"
        return "\n".join(f.read_text() for f in files)

    def every_log_file(self) -> dict[Path, str]:
        return {
            p: p.read_text(errors="replace") for p in self.home.rglob("logs/**/*") if p.is_file()
        }


def _conn(api: FakeApi, **fields) -> str:
    return json.dumps({"conn_type": "apisync", "host": api.url, **fields})


def _file_conns(api: FakeApi, key: str) -> str:
    return json.dumps(
        {
            "file_key": {
                "conn_type": "apisync",
                "host": api.url,
                "password": key,
                "extra": {"auth_type": "api_key"},
            }
        }
    )


def _backend_env(conns_file: Path) -> dict[str, str]:
    """Airflow config selecting a connections file as the secrets backend."""
    return {
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(conns_file)}),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_auth() -> FakeAuth:
    return FakeAuth(
        api_keys={KEY, QKEY, FILE_KEY_1},
        api_key_query_param="appid",
        bearer_tokens={BEARER},
        basic_users={"alice": BASIC_PW},
        oauth_clients={CLIENT: CLIENT_SECRET},
        refresh_tokens={REFRESH: CLIENT},
    )


def _admin(api: FakeApi, conns_file: Path):
    def middleware(request):
        if request.path.endswith("/admin/expire-tokens"):
            api.auth.expire_all_tokens()
            return Response.json({"ok": True})
        if request.path.endswith("/admin/rotate-file-key"):
            api.auth.api_keys = (api.auth.api_keys - {FILE_KEY_1}) | {FILE_KEY_2}
            conns_file.write_text(_file_conns(api, FILE_KEY_2))
            return Response.json({"ok": True})
        return None

    return middleware


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("secrets")
    dags, home = root / "dags", root / "home"
    dags.mkdir()
    (dags / "secrets_probe.py").write_text(DAG)
    conns_file = root / "connections.json"
    with FakeApi(seed={"contacts": 5}, auth=_fake_auth()) as api:
        api.middlewares.append(_admin(api, conns_file))
        conns_file.write_text(_file_conns(api, FILE_KEY_1))
        port = _free_port()
        cc = {
            "auth_type": "oauth2_client_credentials",
            "token_url": api.token_url,
            "token_auth_method": "client_secret_post",
        }
        rt = {
            "auth_type": "oauth2_refresh_token",
            "token_url": api.token_url,
            "refresh_token": REFRESH,
        }
        env = {
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            **_backend_env(conns_file),
            "AIRFLOW_CONN_SEC_KEY": _conn(api, password=KEY, extra={"auth_type": "api_key"}),
            "AIRFLOW_CONN_SEC_QKEY": _conn(
                api, password=QKEY, extra={"auth_type": "api_key", "api_key_query_param": "appid"}
            ),
            "AIRFLOW_CONN_SEC_BEARER": _conn(api, password=BEARER),
            "AIRFLOW_CONN_SEC_BASIC": _conn(api, login="alice", password=BASIC_PW),
            "AIRFLOW_CONN_SEC_CC": _conn(api, login=CLIENT, password=CLIENT_SECRET, extra=cc),
            "AIRFLOW_CONN_SEC_RT": _conn(api, login=CLIENT, password=CLIENT_SECRET, extra=rt),
            "AIRFLOW_CONN_SEC_BAD": _conn(api, password=BAD_KEY, extra={"auth_type": "api_key"}),
        }
        airflow = AirflowEnv(home, dags, env=env, timeout=240).setup()
        server_log = root / "api-server.log"
        with server_log.open("w") as out:
            server = subprocess.Popen(  # noqa: S603 - fixed executable
                [
                    str(Path(sys.executable).parent / "airflow"),
                    "api-server",
                    "--apps",
                    "execution",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-w",
                    "1",
                ],
                env=airflow.environ(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_for(f"http://127.0.0.1:{port}/execution/health", server)
            result = _dags_test_with_executor(airflow, "secrets_probe", root / "dags-test.log")
        finally:
            _stop_group(server)
        yield Run(api, home, result, server_log.read_text(errors="replace"))


def _dags_test_with_executor(airflow: AirflowEnv, dag_id: str, out: Path) -> DagTestResult:
    """``airflow dags test --use-executor`` in its own process group.

    Not ``AirflowEnv.dags_test``: LocalExecutor worker processes outlive the command and
    keep its stdout pipe open, so waiting for captured output would never end. Output
    goes to a file; the whole group (workers included) is stopped afterwards.
    """
    exe = str(Path(sys.executable).parent / "airflow")
    with out.open("w") as sink:
        proc = subprocess.Popen(  # noqa: S603 - fixed executable
            [exe, "dags", "test", dag_id, "--use-executor"],
            env=airflow.environ(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_run_end(proc, out, dag_id)
        finally:
            _stop_group(proc)
    output = out.read_text(errors="replace")
    states = [s for d, s in _RUN_STATE.findall(output) if d == dag_id]
    return DagTestResult(dag_id, proc.returncode, output, states[-1] if states else None)


def _wait_for_run_end(proc: subprocess.Popen, out: Path, dag_id: str) -> None:
    """Until the command exits, or 20 s after the run finished (its executor shutdown can
    hang waiting for a worker that is already gone)."""
    deadline, finished_at = time.monotonic() + 240, None
    while proc.poll() is None and time.monotonic() < deadline:
        if finished_at is None and f"DagRun Finished: dag_id={dag_id}," in out.read_text(
            errors="replace"
        ):
            finished_at = time.monotonic()
        if finished_at is not None and time.monotonic() - finished_at > 20:
            return
        time.sleep(0.5)
    if proc.poll() is None and finished_at is None:
        raise AssertionError(f"dags test did not finish:\n{out.read_text()[-3000:]}")


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop a process we started with ``start_new_session`` and everything it forked."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(15)
            time.sleep(0.2)  # let forked children see the signal too
        except subprocess.TimeoutExpired:
            continue


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"api-server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - 127.0.0.1 only
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("api-server did not become healthy")


def _secrets(run: Run) -> list[str]:
    minted = run.api.auth.minted_secrets
    assert len(minted) >= 6  # cc: 2 access; rt: 2 access + 2 refresh
    return [*STATIC_SECRETS, FILE_KEY_2, *minted]


def test_tasks_ran_under_the_executor_with_log_files(run):
    assert run.result.state == "failed"  # wrong_key_fails fails on purpose
    summary = run.task_log("every_auth_type")
    assert "apisync-summary" in summary
    # the human table comes first in the executor-written task log, one event per row
    assert summary.index("apisync summary — every_auth_type") < summary.index("apisync-summary")
    assert re.search(r"  sec key +200", summary)
    for conn_id in ("sec_key", "sec_qkey", "sec_bearer", "sec_basic", "sec_cc", "sec_rt"):
        assert f'\\"{conn_id}\\": 200' in summary


def test_no_secret_in_any_log_file(run):
    files = run.every_log_file()
    assert len(files) >= 3
    leaks = {
        (str(path.relative_to(run.home)), secret)
        for path, text in files.items()
        for secret in _secrets(run)
        if secret in text
    }
    assert leaks == set()


def test_our_code_logs_no_secret_even_unredacted(run):
    """The console of ``dags test`` is not redacted (urllib3's DEBUG line shows a query key,
    and the probe lines show minted tokens there): so it shows what our code itself logs."""
    ours = [line for line in run.result.output.splitlines() if "[airflow_provider_apisync" in line]
    assert len(ours) >= 10  # audit lines of every request, the reload warning ...
    assert [s for s in _secrets(run) for line in ours if s in line] == []
    assert [s for s in _secrets(run) if s in run.extra_output] == []  # api-server log


def test_minted_tokens_are_masked_where_a_task_logs_them(run):
    """The task logs the minted tokens on purpose; only mask_secret keeps them out."""
    text = run.task_log("every_auth_type")
    assert "probe-minted sec_cc ***" in text
    assert "probe-minted sec_rt ***" in text
    assert "probe-rotated ***" in text


def test_audit_lines_redact_the_query_key(run):
    text = run.task_log("every_auth_type")
    # Airflow also masks the parameter *name*: "appid" is the value of the extra key
    # api_key_query_param, which its heuristics treat as sensitive.
    assert re.search(r"apisync GET /v1/contacts\?(appid|\*\*\*)=\*\*\* status=200", text)
    assert "status=401" in text  # the expired-token round trips were audited too
    console = run.result.output
    assert re.search(r"apisync GET /v1/contacts\?appid=\*\*\* status=200", console)


def test_connection_rotated_in_the_secrets_file_is_reloaded(run):
    assert (
        'apisync-summary {\\"task_id\\": \\"file_backend_rotation\\", \\"first\\": 200, '
        '\\"second\\": 200}' in run.task_log("file_backend_rotation")
    )
    file_requests = [
        (r.status, r.headers.get("X-API-Key"))
        for r in run.api.log("GET", "/contacts")
        if r.headers.get("X-API-Key") in (FILE_KEY_1, FILE_KEY_2)
    ]
    assert file_requests == [(200, FILE_KEY_1), (401, FILE_KEY_1), (200, FILE_KEY_2)]


def test_failure_is_logged_with_the_reason_and_without_the_key(run):
    text = run.task_log("wrong_key_fails")
    assert "ApiAuthError" in text
    assert "401" in text and "invalid API key" in text
    assert BAD_KEY not in text


def _next_status(child: subprocess.Popen) -> str:
    for line in child.stdout:
        if line.startswith("STATUS "):
            return line.strip()
    raise AssertionError(child.stderr.read()[-2000:])


def test_local_filesystem_backend_in_a_plain_process(tmp_path):
    """Outside a task (scripts, in-process ``dags test``) the file backend is read fresh too."""
    with FakeApi(seed={"contacts": 2}, auth=FakeAuth(api_keys={FILE_KEY_1})) as api:
        conns = tmp_path / "connections.json"
        conns.write_text(_file_conns(api, FILE_KEY_1))
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
        }
        env.update(_backend_env(conns), AIRFLOW_HOME=str(tmp_path / "home"))
        script = textwrap.dedent(
            """
            import sys
            from airflow_provider_apisync.hooks import ApiSyncHook
            hook = ApiSyncHook("file_key")
            print("STATUS", hook.request("GET", "/contacts").status_code, flush=True)
            sys.stdin.readline()
            print("STATUS", hook.request("GET", "/contacts").status_code, flush=True)
            """
        )
        child = subprocess.Popen(  # noqa: S603 - our interpreter
            [sys.executable, "-c", script],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            first = _next_status(child)
            api.auth.rotate_api_key(FILE_KEY_2)
            conns.write_text(_file_conns(api, FILE_KEY_2))
            out, err = child.communicate("go\n", timeout=60)
        finally:
            child.kill()
        assert first == "STATUS 200"
        assert "STATUS 200" in out.splitlines(), err[-2000:]
        seen = [(r.status, r.headers.get("X-API-Key")) for r in api.log("GET", "/contacts")]
        assert seen == [(200, FILE_KEY_1), (401, FILE_KEY_1), (200, FILE_KEY_2)]
