"""Fault injection for ``FakeApi``: scripted or random 5xx, drops, slowness, bad bodies.

Kinds:
- ``status`` — answer ``status`` (default 503) without running the route, with
  ``Retry-After: <retry_after>`` (or an HTTP-date that far ahead: ``retry_after_date``);
- ``drop`` — close the connection before answering (the route does not run);
- ``slow`` — run the route, then answer after ``delay`` seconds (beyond a read timeout);
- ``truncate`` — run the route, then send half the body and close (truncated JSON on the
  wire: the client sees a broken connection);
- ``bad_json`` — run the route, then send a complete response whose JSON is cut in half;
- ``ack_lost`` — run the route (the write commits), then drop the connection.

By rate: ``faults.add("status", rate=0.2)``. By script: ``faults.script(["drop", None,
"status"], path="/contacts")`` gives the next matching requests those outcomes in order
(``None`` lets one through).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import formatdate

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

KINDS = ("status", "drop", "slow", "truncate", "bad_json", "ack_lost")


@dataclass
class Fault:
    """One rule: which requests it matches and how often it fires."""

    kind: str
    method: str | None = None
    path: str | None = None  # substring of the local path, e.g. "/contacts"
    rate: float = 1.0  # probability per matching request
    times: int | None = None  # fire at most this many times (None = unlimited)
    after: int = 0  # let this many matching requests pass first
    status: int = 503
    delay: float = 5.0
    retry_after: float | None = None
    retry_after_date: bool = False  # send Retry-After as an HTTP-date instead of seconds
    when: Callable[[Request], bool] | None = None
    plan: list[str | None] | None = None  # scripted outcomes (kind "script")
    fired: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.kind == "script":
            bad = [k for k in self.plan or () if k is not None and k not in KINDS]
            if self.plan is None or bad:
                raise ValueError(f"a fault script needs outcomes from {KINDS} or None: {bad}")
        elif self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {KINDS}")

    def matches(self, request: Request, local_path: str) -> bool:
        if self.method and request.method != self.method.upper():
            return False
        if self.path and self.path not in local_path:
            return False
        return self.when is None or self.when(request)


@dataclass
class Faults:
    """The fault plan of one server; thread-safe; ``rng`` seeded for repeatable chaos."""

    rules: list[Fault] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))
    injected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, **kwargs: object) -> Fault:
        fault = Fault(kind, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(fault)
        return fault

    def script(self, outcomes: list[str | None], **match: object) -> Fault:
        """The next matching requests get ``outcomes`` in order (None = no fault)."""
        return self.add("script", plan=list(outcomes), **match)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.injected.clear()

    def pick(self, request: Request, local_path: str) -> Fault | None:
        """The rule that fires for this request, if any (counts it)."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(request, local_path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                fault = rule
                if rule.plan is not None:
                    if not rule.plan:
                        continue
                    kind = rule.plan.pop(0)
                    if kind is None:
                        return None
                    fault = replace(rule, kind=kind, plan=None)
                elif rule.rate < 1.0 and self.rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                return fault
        return None

    @property
    def total(self) -> int:
        return sum(self.injected.values())


def before(fault: Fault) -> Response | None:
    """The early answer for faults that skip the route."""
    if fault.kind == "status":
        headers = {}
        if fault.retry_after is not None and fault.retry_after_date:
            headers["Retry-After"] = formatdate(time.time() + fault.retry_after, usegmt=True)
        elif fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return Response.json({"error": "injected fault"}, fault.status, headers)
    if fault.kind == "drop":
        return Response(drop=True)
    return None


def after(fault: Fault, response: Response) -> Response:
    """Apply faults that let the route run first."""
    if fault.kind == "slow":
        response.delay = fault.delay
    elif fault.kind == "truncate":
        response.truncate = True
    elif fault.kind == "bad_json":
        response.body = response.body[: len(response.body) // 2]
    elif fault.kind == "ack_lost":
        response.drop = True
    return response
