"""The Redis backend of the shared store (optional extra ``redis``, imported lazily).

Every decision that must be atomic across a fleet runs in one Lua script on the server, on
the server's clock (``TIME``), so one request costs one round trip and workers on machines
with skewed clocks still agree:

- ``admit``: the fleet's closed window (a 429's ``Retry-After``; a spent quota until its
  reset) and the budget as GCRA with a burst of one — each request reserves the next slot
  ``interval`` seconds after the previous one, so N processes together send evenly at the
  budget's rate, which stays under the vendor's limit whatever the phase of its window.
- ``publish``: what one response announced, merged (same window: the lower remaining wins).

Values are opaque bytes (the :class:`~airflow_provider_apisync.client.store.Fleet` encrypts
them). Every Redis error (connection, timeout, auth, a read-only replica, out of memory)
becomes :class:`StoreUnavailable`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any

from airflow_provider_apisync.client.store import Admission, SharedQuota, StoreUnavailable

SOCKET_TIMEOUT_S = 2.0

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local g = redis.call('HMGET', KEYS[1], 'blocked_until', 'remaining', 'reset_at')
local start = now
local quota = 0
local blocked = tonumber(g[1])
if blocked and blocked > start then start = blocked; quota = 1 end
local remaining = tonumber(g[2])
local reset = tonumber(g[3])
local counted = false
if remaining and reset and reset > now then
  if remaining <= floor then
    if reset > start then start = reset; quota = 1 end
  else
    counted = true
  end
end
if quota == 1 and start - now > max_wait then
  return {tostring(start - now), 0, 1}
end
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[2]))
  if tat and tat > start then start = tat end
  local ttl = math.ceil((start + interval - now) * 1000) + 1000
  redis.call('SET', KEYS[2], string.format('%.6f', start + interval), 'PX', ttl)
end
if counted and start < reset then redis.call('HINCRBY', KEYS[1], 'remaining', -1) end
return {tostring(start - now), 1, quota}
"""

_PUBLISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local retry_after = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local reset_in = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local keep = 60
if retry_after >= 0 then
  local until_ = now + retry_after
  local old = tonumber(redis.call('HGET', KEYS[1], 'blocked_until'))
  if not old or old < until_ then
    redis.call('HSET', KEYS[1], 'blocked_until', string.format('%.6f', until_))
  end
  keep = keep + retry_after
end
if remaining >= 0 and reset_in >= 0 then
  local reset = now + reset_in
  local g = redis.call('HMGET', KEYS[1], 'remaining', 'reset_at')
  local old_rem = tonumber(g[1])
  local old_reset = tonumber(g[2])
  if old_rem and old_reset and old_reset > now then
    if remaining < old_rem then redis.call('HSET', KEYS[1], 'remaining', remaining) end
  else
    redis.call('HSET', KEYS[1], 'remaining', remaining, 'reset_at', string.format('%.6f', reset))
  end
  keep = keep + reset_in
end
if limit >= 0 then redis.call('HSET', KEYS[1], 'limit', limit) end
redis.call('PEXPIRE', KEYS[1], math.ceil(keep * 1000))
return 1
"""

_QUOTA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local g = redis.call('HMGET', KEYS[1], 'blocked_until', 'remaining', 'reset_at', 'limit')
local out = {'-1', '-1', '-1', '-1'}
if g[1] and tonumber(g[1]) > now then out[1] = tostring(tonumber(g[1]) - now) end
if g[2] and g[3] and tonumber(g[3]) > now then
  out[2] = g[2]
  out[3] = tostring(tonumber(g[3]) - now)
end
if g[4] then out[4] = g[4] end
return out
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _num(value: Any) -> float:
    return float(value.decode() if isinstance(value, bytes) else value)


class RedisStore:
    """A :class:`~airflow_provider_apisync.client.store.SharedStore` on one Redis database."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        ssl: bool = False,
        socket_timeout: float = SOCKET_TIMEOUT_S,
    ) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the shared store needs the redis package: "
                "pip install 'airflow-provider-apisync[redis]'"
            ) from None
        self.name = f"redis://{host}:{port}/{db}"
        # any Redis failure (down, auth, READONLY replica, OOM) means "no shared state now":
        # the caller falls back per process; a request never fails because of the store
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._redis = redis.Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            ssl=ssl,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),  # the Fleet falls back at once instead
            health_check_interval=30,
        )
        self._admit = self._redis.register_script(_ADMIT)
        self._publish = self._redis.register_script(_PUBLISH)
        self._quota = self._redis.register_script(_QUOTA)
        self._unlock = self._redis.register_script(_UNLOCK)

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    def admit(self, key: str, interval: float, max_wait: float, floor: int) -> Admission:
        wait, reserved, quota = self._run(
            self._admit, keys=[key, key + ":tat"], args=[f"{interval:.6f}", max_wait, floor]
        )
        return Admission(max(0.0, _num(wait)), bool(int(reserved)), bool(int(quota)))

    def publish(
        self,
        key: str,
        *,
        remaining: int | None = None,
        reset_in: float | None = None,
        limit: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        args = [
            -1 if retry_after is None else max(0.0, retry_after),
            -1 if remaining is None else max(0, remaining),
            -1 if reset_in is None else max(0.0, reset_in),
            -1 if limit is None else limit,
        ]
        self._run(self._publish, keys=[key], args=args)

    def quota(self, key: str) -> SharedQuota:
        blocked, remaining, reset_in, limit = (
            _num(v) for v in self._run(self._quota, keys=[key], args=[])
        )
        return SharedQuota(
            remaining=int(remaining) if remaining >= 0 else None,
            limit=int(limit) if limit >= 0 else None,
            reset_in=reset_in if reset_in >= 0 else None,
            blocked_for=max(0.0, blocked),
        )

    def get(self, key: str) -> bytes | None:
        value = self._run(self._redis.get, key)
        return value if value is None else bytes(value)

    def put(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is None:
            self._run(self._redis.set, key, value)
        else:
            self._run(self._redis.set, key, value, px=max(1, int(ttl * 1000)))

    def delete(self, key: str) -> None:
        self._run(self._redis.delete, key)

    def lock(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        ok = self._run(self._redis.set, key, token, nx=True, px=max(1, int(ttl * 1000)))
        return token if ok else None

    def unlock(self, key: str, token: str) -> None:
        self._run(self._unlock, keys=[key], args=[token])


_STORES: dict[str, RedisStore] = {}
_STORES_LOCK = threading.Lock()


def redis_store(
    host: str,
    port: int,
    *,
    db: int = 0,
    username: str | None = None,
    password: str | None = None,
    ssl: bool = False,
) -> RedisStore:
    """One :class:`RedisStore` (one connection pool) per server and credentials per process."""
    ident = hashlib.sha256(
        f"{host}\x1f{port}\x1f{db}\x1f{username}\x1f{password}\x1f{ssl}".encode()
    ).hexdigest()
    with _STORES_LOCK:
        store = _STORES.get(ident)
        if store is None:
            store = _STORES[ident] = RedisStore(
                host, port, db=db, username=username, password=password, ssl=ssl
            )
        return store
