"""A real ``redis-server`` for tests: free port, temp dir, own process group, always killed.

Import it from any test module::

    import redis_support

    redis_server = redis_support.redis_server    # the fixtures, in your module
    redis_flushed = redis_support.redis_flushed

    def test_x(redis_server):
        redis_server.port, redis_server.url     # 127.0.0.1, random free port
        redis_server.stop()                      # kill it mid-test (e.g. fallback tests)

``redis_server`` is module-scoped (one server per test module, flushed before each test
by ``redis_flushed``); ``RedisServer()`` can also be used directly (context manager). The
binary is Debian's ``redis-server`` (``make debs``); tests skip with a clear reason when it
is missing, e.g. on a laptop without it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` on 127.0.0.1 (no persistence, no default port)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.dir = tempfile.mkdtemp(prefix="apisync-redis-")
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        if not os.path.exists(self.binary):
            pytest.skip("redis-server is not installed (make debs installs it)")
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    self.host,
                    "--dir",
                    self.dir,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                    "--loglevel",
                    "warning",
                ],  # fmt: skip
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False  # port taken meanwhile: try another
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def flush(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)

    def stop(self) -> None:
        """Kill the server (its whole process group) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A started :class:`RedisServer` for the module; killed afterwards, whatever happens."""
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def redis_flushed(redis_server: RedisServer) -> RedisServer:
    """The module's server, emptied (restarted if a test killed it)."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis_server.flush()
    return redis_server
