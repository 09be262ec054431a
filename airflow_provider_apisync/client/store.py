"""The shared store: rate-limit budget, quota news and OAuth2 tokens shared by a fleet.

Stable interface (other modules, the hook and the fleet tests program against it):

``SharedStore`` (a backend; :class:`~airflow_provider_apisync.client.store_redis.RedisStore`
is the one shipped) — every method raises :class:`StoreUnavailable` when the backend cannot
be reached; times are *relative seconds* so workers never compare their own clocks:

- ``admit(key, interval, max_wait, floor) -> Admission`` — one atomic round trip per
  request: the budget (GCRA, one request per ``interval`` seconds, 0 = no budget) plus the
  fleet's closed window (a 429's ``Retry-After``, a spent quota until its reset).
- ``publish(key, remaining=, reset_in=, limit=, retry_after=)`` — what one worker learned.
- ``quota(key) -> SharedQuota`` — the fleet's view (sensors read it before probing).
- ``get(key)``, ``put(key, value, ttl)``, ``delete(key)`` — opaque bytes (encrypted by
  :class:`Fleet` before they get here); ``ttl=None`` keeps a value durably.
- ``lock(key, ttl) -> str | None`` and ``unlock(key, token)`` — a short mutual exclusion.

``Fleet(store, account_key, encrypt=, decrypt=, metrics=)`` binds a store to one API
origin + account and is what :class:`~airflow_provider_apisync.client.ratelimit.Throttle`
and the OAuth2 strategies use. Without a fleet (the default) every process keeps its own
state, exactly as before. When the store is unreachable, :class:`Fleet` logs ONE WARNING
per process and outage (and counts ``apisync.shared_store.unavailable``), then raises
:class:`StoreUnavailable` for ``RETRY_AFTER_S`` without trying, so callers fall back to
their per-process state at no cost; no request fails because of the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_apisync.client.metrics import MetricSink

log = logging.getLogger(__name__)

RETRY_AFTER_S = 10.0
"""After a failure the store is not tried again for this long (no latency while it is down)."""
DEFAULT_PREFIX = "apisync"

Cipher = Callable[[bytes], bytes]


class StoreUnavailable(Exception):
    """The shared store cannot be reached (or is cooling down after a failure)."""


@dataclass(frozen=True)
class Admission:
    """The store's answer for one request: wait ``wait`` seconds, then send.

    ``reserved`` is False when the fleet's closed window lasts longer than ``max_wait``:
    no slot was taken and the caller should give up (``QuotaWaitTooLong``).
    ``quota`` says whether the wait comes from the server's quota (not the budget).
    """

    wait: float
    reserved: bool = True
    quota: bool = False


@dataclass(frozen=True)
class SharedQuota:
    """The fleet's view of one account's quota, in seconds from now."""

    remaining: int | None = None
    limit: int | None = None
    reset_in: float | None = None
    blocked_for: float = 0.0  # a 429's Retry-After still running

    def closed_for(self, min_remaining: int = 1) -> float:
        """Seconds until the quota has ``min_remaining`` again, 0 when it may have now."""
        wait = self.blocked_for
        if self.remaining is not None and self.remaining < min_remaining and self.reset_in:
            wait = max(wait, self.reset_in)
        return max(0.0, wait)


class SharedStore(Protocol):
    """What a shared-store backend implements (see the module docstring)."""

    name: str

    def admit(self, key: str, interval: float, max_wait: float, floor: int) -> Admission: ...

    def publish(
        self,
        key: str,
        *,
        remaining: int | None = None,
        reset_in: float | None = None,
        limit: int | None = None,
        retry_after: float | None = None,
    ) -> None: ...

    def quota(self, key: str) -> SharedQuota: ...

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, ttl: float | None) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str, ttl: float) -> str | None: ...

    def unlock(self, key: str, token: str) -> None: ...


def account_key(base_url: str, account: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``prefix:origin:account`` — one budget per API origin and account.

    ``account`` is the connection id, or :func:`identity_hash` of the credentials'
    identity; never a secret.
    """
    parts = urlsplit(base_url)
    origin = f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"
    return f"{prefix}:{origin}:{account}"


def identity_hash(*parts: str | None) -> str:
    """A stable short hash of non-secret identity fields (auth type, login, token URL)."""
    text = "\x1f".join(p or "" for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Health:
    """Per-store, per-process: one WARNING when it goes away, a cool-down, one INFO back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.down = False


_HEALTH: dict[str, _Health] = {}
_HEALTH_LOCK = threading.Lock()


def _health(name: str) -> _Health:
    with _HEALTH_LOCK:
        return _HEALTH.setdefault(name, _Health())


class Fleet:
    """A :class:`SharedStore` bound to one API origin + account, with encryption.

    ``encrypt``/``decrypt`` protect every secret value (the hook passes Airflow's Fernet);
    without them tokens are never written to the store (only the budget is shared).
    """

    def __init__(
        self,
        store: SharedStore,
        key: str,
        *,
        encrypt: Cipher | None = None,
        decrypt: Cipher | None = None,
        metrics: MetricSink | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self._encrypt = encrypt
        self._decrypt = decrypt
        self.metrics = metrics
        self._health = _health(store.name)

    @property
    def keeps_secrets(self) -> bool:
        return self._encrypt is not None and self._decrypt is not None

    # -- budget and quota ---------------------------------------------------------------
    def admit(self, interval: float, max_wait: float, floor: int) -> Admission:
        return self._call(self.store.admit, self.key + ":gate", interval, max_wait, floor)

    def publish(
        self,
        *,
        remaining: int | None = None,
        reset_in: float | None = None,
        limit: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self._call(
            self.store.publish,
            self.key + ":gate",
            remaining=remaining,
            reset_in=reset_in,
            limit=limit,
            retry_after=retry_after,
        )

    def quota(self) -> SharedQuota:
        result: SharedQuota = self._call(self.store.quota, self.key + ":gate")
        return result

    # -- secrets (encrypted JSON documents) ---------------------------------------------
    def load(self, name: str) -> dict[str, Any] | None:
        """The decrypted document ``name``, or None (missing, or not decryptable)."""
        if self._decrypt is None:
            raise StoreUnavailable("no cipher: secrets are not shared")
        raw = self._call(self.store.get, f"{self.key}:{name}")
        if raw is None:
            return None
        try:
            data = json.loads(self._decrypt(raw))
        except Exception:  # Fernet key rotated, or a foreign value: treat as missing
            log.warning("shared store: %s cannot be decrypted (Fernet key changed?)", name)
            return None
        return data if isinstance(data, dict) else None

    def save(self, name: str, doc: dict[str, Any], ttl: float | None) -> None:
        """Encrypt and write ``doc``; ``ttl=None`` keeps it until overwritten."""
        if self._encrypt is None:
            raise StoreUnavailable("no cipher: secrets are not shared")
        blob = self._encrypt(json.dumps(doc).encode())
        self._call(self.store.put, f"{self.key}:{name}", blob, ttl)

    def forget(self, name: str) -> None:
        self._call(self.store.delete, f"{self.key}:{name}")

    def lock(self, name: str, ttl: float) -> str | None:
        result: str | None = self._call(self.store.lock, f"{self.key}:lock:{name}", ttl)
        return result

    def unlock(self, name: str, token: str) -> None:
        self._call(self.store.unlock, f"{self.key}:lock:{name}", token)

    # -- health -------------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        health = self._health
        if health.down and time.monotonic() < health.down_until:
            raise StoreUnavailable(f"shared store {self.store.name} is cooling down")
        try:
            result = fn(*args, **kwargs)
        except StoreUnavailable as exc:
            self._went_down(exc)
            raise
        if health.down:
            with health.lock:
                if health.down:
                    health.down = False
                    log.info("shared store %s reachable again: fleet state shared", self.store.name)
        return result

    def _went_down(self, exc: StoreUnavailable) -> None:
        health = self._health
        with health.lock:
            first_episode = not health.down  # one WARNING and one count per outage
            health.down = True
            health.down_until = time.monotonic() + RETRY_AFTER_S
        if first_episode:
            log.warning(
                "shared store %s unreachable (%s): each worker falls back to its own rate-limit "
                "budget and token cache; tasks go on. See docs/runbooks.md 'Redis unavailable'.",
                self.store.name,
                exc,
            )
        else:
            log.debug("shared store %s still unreachable: %s", self.store.name, exc)
        if first_episode and self.metrics is not None:
            try:
                self.metrics("incr", "shared_store.unavailable", 1)
            except Exception:  # metrics never break a request
                log.debug("metric not emitted", exc_info=True)
