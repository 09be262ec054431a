"""Idempotency keys on ``FakeApi``, per draft-ietf-httpapi-idempotency-key-header.

- first request with a key: the route runs; its response is stored under the key, even
  when the connection then drops (the ``ack_lost`` fault) — the write committed;
- same key, same payload, finished: the stored response is replayed
  (``Idempotent-Replayed: true``) and the route does not run again;
- same key while the first request is still processing: 409;
- same key with a different payload: 422;
- missing key: accepted, unless ``required`` (then 400 for POST/PATCH).
Responses that mean "not processed" (429, 5xx) are not stored: the key is released.
Collections listed in ``ignored`` (or ``enabled=False``) ignore keys entirely, like the
many APIs that have no idempotency support.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_KEY_LENGTH = 255


@dataclass
class _Entry:
    fingerprint: str
    created: float
    response: Response | None = None  # None while the first request is processing


@dataclass
class IdempotencyKeys:
    """The key store of one server; counters tell tests what happened."""

    enabled: bool = True
    header: str = "Idempotency-Key"
    required: bool = False
    ttl: float = 24 * 3600.0
    ignored: set[str] = field(default_factory=set)
    replayed: int = 0
    in_flight_conflicts: int = 0
    mismatches: int = 0
    stored: int = 0
    _entries: dict[str, _Entry] = field(default_factory=dict, repr=False)
    _owners: dict[int, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _api: FakeApi | None = field(default=None, repr=False)

    def install(self, api: FakeApi) -> IdempotencyKeys:
        self._api = api
        api.middlewares.append(self.before)
        api.finishers.append(self.after)
        return self

    def ignore(self, *collections: str) -> None:
        """Make these collections ignore idempotency keys (a legacy API)."""
        self.ignored.update(collections)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    # -- middleware and finisher ------------------------------------------------------
    def before(self, request: Request) -> Response | None:
        api = self._api
        if not self.enabled or api is None or request.method in SAFE_METHODS:
            return None
        local = _local(api, request.path)
        if local.strip("/").split("/")[0] in self.ignored:
            return None
        if api.auth.check(request) is not None:
            return None  # unauthenticated: the normal flow answers 401, nothing stored
        raw = request.headers.get(self.header)
        if raw is None:
            if self.required and request.method in ("POST", "PATCH"):
                return Response.error(400, f"{self.header} header is required")
            return None
        key = raw.strip().strip('"')
        if not key or len(key) > MAX_KEY_LENGTH:
            return Response.error(400, f"{self.header} must be 1..{MAX_KEY_LENGTH} characters")
        fingerprint = _fingerprint(request, local)
        with self._lock:
            self._expire()
            entry = self._entries.get(key)
            if entry is None:
                self._entries[key] = _Entry(fingerprint, time.time())
                self._owners[id(request)] = key
                return None
            if entry.fingerprint != fingerprint:
                self.mismatches += 1
                return Response.error(
                    422, "idempotency key reused with a different payload", code="key_mismatch"
                )
            if entry.response is None:
                self.in_flight_conflicts += 1
                return Response.error(
                    409, "a request with this idempotency key is in progress", code="in_flight"
                )
            self.replayed += 1
            stored = entry.response
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        return Response(stored.status, stored.body, headers)

    def after(self, request: Request, response: Response) -> None:
        with self._lock:
            key = self._owners.pop(id(request), None)
            if key is None:
                return
            if response.status == 429 or response.status >= 500:
                self._entries.pop(key, None)  # not processed: the key may be used again
                return
            entry = self._entries.get(key)
            if entry is not None:
                entry.response = Response(response.status, response.body, dict(response.headers))
                self.stored += 1

    def _expire(self) -> None:
        horizon = time.time() - self.ttl
        stale = [k for k, e in self._entries.items() if e.response and e.created < horizon]
        for key in stale:
            del self._entries[key]


def _local(api: FakeApi, path: str) -> str:
    return path[len(api.prefix) :] or "/" if path.startswith(api.prefix) else path


def _fingerprint(request: Request, local: str) -> str:
    """Method, path and payload; JSON bodies compared by content, not by formatting."""
    body = request.body
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(
        request.method.encode() + b" " + local.encode() + b"\n" + body
    ).hexdigest()
