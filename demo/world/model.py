"""The pieces of a simulated world: tenants (one FakeApi each) and their connections."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_apisync.testing.fakeapi import FakeApi, RateLimit, Request, Response


@dataclass
class Tenant:
    """One simulated system and the Airflow connection that reaches it."""

    name: str
    api: FakeApi
    conn_id: str
    description: str = ""
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)  # e.g. "bulk": the BulkJobs

    def connection(self) -> dict[str, Any]:
        """The connection as a dict in Airflow's JSON form (``conn_type``, ``host`` ...)."""
        fields = {
            "conn_type": "apisync",
            "host": self.api.url,
            "login": self.login,
            "password": self.password,
            "extra": self.extra,
        }
        return {k: v for k, v in fields.items() if v not in (None, {})}

    def connection_json(self) -> str:
        """What ``AIRFLOW_CONN_<ID>`` holds."""
        return json.dumps(self.connection())

    def stats(self) -> dict[str, int]:
        """What the system saw: requests, injected faults by kind, 429s, 422s."""
        log = self.api.log()
        out = {"requests": len(log)}
        for kind, count in sorted(self.api.faults.injected.items()):
            out[f"fault_{kind}"] = count
        limit = self.api.rate_limit
        out["rate_limited_429"] = limit.rejected if limit is not None else 0
        out["rejected_4xx"] = self.rejections.count
        return out

    def __post_init__(self) -> None:
        self.rejections = Rejections()
        self.api.finishers.append(self.rejections)


class Rejections:
    """FakeApi finisher counting writes the system refused: 4xx answers other than
    401/429, plus failed items inside a 207 batch answer."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request, response: Response) -> None:
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        if replayed or request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return
        refused = 0
        if 400 <= response.status < 500 and response.status not in (401, 429):
            refused = 1
        elif response.status == 207:
            try:
                results = json.loads(response.body).get("results", [])
            except (ValueError, AttributeError):
                results = []
            refused = sum(1 for r in results if isinstance(r, dict) and r.get("status", 0) >= 400)
        if refused:
            with self._lock:
                self.count += refused


class WindowGate:
    """Closes a rate-limit window "now", as if another integration had spent the quota.

    While closed the limit admits nothing; the first 429 announces the reset of the current
    window (``Retry-After``) and the gate reopens at exactly that moment. A deferrable
    ``RateLimitWindowSensor`` probing the system therefore defers once and succeeds on
    its next check; ``refused_at``/``retry_after`` tell a test when that happened.
    """

    def __init__(self, api: FakeApi, limit: RateLimit) -> None:
        self.api = api
        self.limit = limit
        self.open_limit = limit.limit
        self.closed = False
        self.refused_at: float | None = None
        self.retry_after: float | None = None
        self._lock = threading.Lock()
        api.finishers.append(self._finish)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self.refused_at = self.retry_after = None
            self.limit.limit = 0

    def _finish(self, request: Request, response: Response) -> None:
        if response.status != 429:
            return
        with self._lock:
            if not self.closed or self.refused_at is not None:
                return
            self.refused_at = request.at
            self.retry_after = float(response.headers.get("Retry-After", "1"))
        timer = threading.Timer(self.retry_after, self._reopen)
        timer.daemon = True
        timer.start()

    def _reopen(self) -> None:
        with self._lock:
            self.limit.limit = self.open_limit
            self.closed = False


@dataclass
class World:
    """Started tenants by name, plus connection ids that alias a tenant."""

    tenants: dict[str, Tenant] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # conn id -> tenant name
    gates: dict[str, WindowGate] = field(default_factory=dict)
    extra_connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    _stoppers: list[Any] = field(default_factory=list, repr=False)

    def __getitem__(self, name: str) -> Tenant:
        return self.tenants[name]

    def __iter__(self) -> Iterator[Tenant]:
        return iter(self.tenants.values())

    def connections(self) -> dict[str, dict[str, Any]]:
        """Connection id -> connection dict, aliases included."""
        out = {t.conn_id: t.connection() for t in self}
        for conn_id, name in self.aliases.items():
            out[conn_id] = self.tenants[name].connection()
        out.update(self.extra_connections)
        return out

    def env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_<CONN_ID>`` for every connection."""
        conns = self.connections().items()
        return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(c) for cid, c in conns}

    def secrets(self) -> list[str]:
        """Every credential in play, minted tokens included (for leak checks)."""
        out: list[str] = []
        for t in self:
            out += [s for s in (t.password, t.extra.get("refresh_token")) if s]
            out += t.api.auth.minted_secrets
        out += [str(c["password"]) for c in self.extra_connections.values() if c.get("password")]
        return out

    def close_window(self, name: str = "crm") -> WindowGate:
        """Spend ``name``'s rate-limit window now (see :class:`WindowGate`)."""
        gate = self.gates[name]
        gate.close()
        return gate

    def stats(self) -> dict[str, dict[str, int]]:
        return {t.name: t.stats() for t in self}

    def on_stop(self, stopper: Any) -> None:
        """Call ``stopper()`` before the servers stop (background activity threads)."""
        self._stoppers.append(stopper)

    def stop(self) -> None:
        for stopper in self._stoppers:
            stopper()
        self._stoppers.clear()
        for t in self:
            t.api.stop()
