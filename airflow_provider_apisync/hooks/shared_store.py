"""The Airflow side of the shared store: a ``redis`` connection -> a client ``Fleet``.

The ``apisync`` connection's extra ``"shared_store": {"conn_id": "apisync_redis"}`` names an
Airflow connection of type ``redis`` (host, port, login as ACL user, password, extra
``db`` and ``ssl``). The fleet key is the API origin + the ``apisync`` connection id, and
secrets are encrypted with Airflow's Fernet key (no Fernet key: only the budget and quota
news are shared, tokens stay per process, and one WARNING says so).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_apisync.client.config import ClientConfig
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.store import Fleet, account_key

log = logging.getLogger(__name__)
_warned_no_fernet = False


def _fernet() -> Any:
    try:
        from airflow.sdk.crypto import get_fernet
    except ImportError:  # pragma: no cover - Airflow < 3.1
        from airflow.models.crypto import get_fernet  # type: ignore[no-redef]
    return get_fernet()


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def fleet_for(config: ClientConfig, apisync_conn_id: str, get_connection: Any) -> Fleet | None:
    """The :class:`Fleet` the connection names, or None when it names none.

    ``get_connection`` is the hook's (so every secrets backend is consulted). A missing
    ``redis`` package or Redis connection is a configuration error (clear message, at
    once); an unreachable server is not (the client falls back per process).
    """
    global _warned_no_fernet
    settings = config.shared_store
    if settings is None:
        return None
    try:
        from airflow_provider_apisync.client.store_redis import redis_store
    except ImportError:  # pragma: no cover
        raise ApiConfigError(
            "shared_store",
            "needs the redis package.",
            "pip install 'airflow-provider-apisync[redis]'.",
        ) from None
    try:
        conn = get_connection(settings.conn_id)
    except Exception as exc:  # AirflowNotFoundException and friends
        raise ApiConfigError(
            "shared_store",
            f"names Redis connection '{settings.conn_id}', which cannot be read "
            f"({type(exc).__name__}) (connection '{apisync_conn_id}').",
            "create a connection of type redis with that id, or fix shared_store.conn_id.",
        ) from None
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}
    try:
        db = int(extra.get("db", 0) or 0)
        port = int(conn.port or 6379)
    except (TypeError, ValueError):
        raise ApiConfigError(
            "shared_store",
            f"Redis connection '{settings.conn_id}' has a non-numeric port or extra db.",
            'set port to e.g. 6379 and extra to {"db": 0}.',
        ) from None
    try:
        store = redis_store(
            conn.host or "127.0.0.1",
            port,
            db=db,
            username=conn.login or None,
            password=conn.password or None,
            ssl=_truthy(extra.get("ssl", False)),
        )
    except ImportError as exc:
        raise ApiConfigError(
            "shared_store", f"{exc}.", "pip install 'airflow-provider-apisync[redis]'."
        ) from None
    try:
        fernet = _fernet()
    except Exception as exc:  # a malformed [core] fernet_key
        fernet, problem = None, f"unusable ({type(exc).__name__})"
    else:
        problem = "not configured"
    encrypt = decrypt = None
    if getattr(fernet, "is_encrypted", False):
        encrypt, decrypt = fernet.encrypt, fernet.decrypt  # type: ignore[union-attr]
    elif not _warned_no_fernet:
        _warned_no_fernet = True
        log.warning(
            "Airflow's Fernet key ([core] fernet_key) is %s: OAuth2 tokens are not shared "
            "through the store (they would be stored unencrypted); the rate budget is.",
            problem,
        )
    key = account_key(config.base_url, apisync_conn_id, settings.key_prefix)
    return Fleet(store, key, encrypt=encrypt, decrypt=decrypt)
