"""Benchmark helpers: a FakeApi in its own process (so client and server do not share one
GIL and timings are the client's own), and a small table printer.

Usage from a bench script (``bench/`` is on ``sys.path`` when a script there runs):

    from _common import RemoteFakeApi
    with RemoteFakeApi(rate_limit={"limit": 50, "window": 1.0}) as api:
        requests.get(api.url + "/contacts/1")
        print(api.stats())  # {"allowed": 1, "rejected": 0, "requests": 1, ...}
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="apisync-bench-"))


def _serve(conn: Any, seed: dict[str, int], rate_limit: dict[str, Any] | None) -> None:
    from airflow_provider_apisync.testing import FakeApi, FakeAuth, RateLimit

    limit = RateLimit(**rate_limit) if rate_limit else None
    api = FakeApi(seed=seed, rate_limit=limit, auth=FakeAuth(required=False)).start()
    conn.send((api.url, api.origin))
    while True:
        command = conn.recv()
        if command == "stats":
            conn.send(
                {
                    "requests": len(api.requests),
                    "allowed": limit.allowed if limit else len(api.requests),
                    "rejected": limit.rejected if limit else 0,
                    "retry_after_sent": list(limit.retry_after_sent) if limit else [],
                    "admitted_at": [r.at for r in api.requests if r.status and r.status < 400],
                    "window_start": limit._window_start if limit else None,
                }
            )
        elif command == "stop":
            api.stop()
            conn.send("stopped")
            return


class RemoteFakeApi:
    """A FakeApi (no auth) with an optional ``RateLimit(**rate_limit)`` in a child process."""

    def __init__(
        self, *, rate_limit: dict[str, Any] | None = None, seed: dict[str, int] | None = None
    ) -> None:
        self._args = (seed or {"contacts": 10}, rate_limit)
        self.url = self.origin = ""

    def __enter__(self) -> RemoteFakeApi:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, *self._args), daemon=True)
        self._proc.start()
        self.url, self.origin = self._conn.recv()
        return self

    def stats(self) -> dict[str, Any]:
        self._conn.send("stats")
        result: dict[str, Any] = self._conn.recv()
        return result

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._conn.recv()
        self._proc.join(5)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [
        [f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(padded))
        if n == 0:
            print("  ".join("-" * w for w in widths))
