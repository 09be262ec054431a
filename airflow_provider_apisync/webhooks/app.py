"""The FastAPI app behind ``POST /apisync/webhooks/{source}`` on the Airflow API server.

Per delivery: resolve the source's connection, read at most ``max_body_bytes`` of raw
body, verify the signature on those exact bytes, then parse; a verified, new delivery
becomes one asset event (``apisync://<source>/<event type>``). Refusals have no side
effect: 404 unknown source, 413 too large, 401 bad/stale signature, 400 malformed,
409 a known body under another event type or a known delivery id with another body.
Duplicates are acknowledged with 200 so the sender stops retrying. Bad input never
answers 5xx (senders retry those for days); 5xx means our side failed. One audit line
per delivery: never a secret, a signature or a body.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.webhooks.events import record_delivery
from airflow_provider_apisync.webhooks.signatures import SignatureError
from airflow_provider_apisync.webhooks.source import (
    DeliveryError,
    WebhookSource,
    conn_id_for,
    source_from_connection,
    valid_source_name,
)

log = logging.getLogger("airflow_provider_apisync.webhooks")

AUDIT_MARKER = "apisync-webhook"
CONTENT_LENGTH = re.compile(r"[0-9]{1,20}")


def load_source(source: str) -> WebhookSource:
    """The source's connection (any secrets backend), validated; 404 when there is none."""
    from airflow_provider_apisync.compat import AirflowNotFoundException, BaseHook

    conn_id = conn_id_for(source)
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise DeliveryError(404, "unknown_source", f"no webhook source '{source}'") from None
    return source_from_connection(
        source, password=conn.password, extra=conn.extra_dejson, conn_id=conn_id
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        # ASCII digits only (str.isdigit() accepts "²"); a 20-digit cap keeps int() cheap.
        if not CONTENT_LENGTH.fullmatch(declared.strip()):
            raise DeliveryError(400, "invalid_content_length", "Content-Length is not a number")
        if int(declared) > limit:
            raise DeliveryError(413, "body_too_large", f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DeliveryError(413, "body_too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The JSON body; anything unusable is a 400 (never a 5xx the sender would retry)."""
    if not body:
        raise DeliveryError(400, "empty_body", "the delivery has no body")
    try:
        try:
            payload = msgspec.json.decode(body)
        except msgspec.ValidationError:
            # Valid JSON with an integer beyond 64 bits or a float beyond double range:
            # msgspec refuses it, the standard library decodes it (ints exactly).
            payload = json.loads(body)
    except RecursionError:
        raise DeliveryError(
            400, "invalid_json", "body is nested too deeply to parse (JSON arrays/objects)"
        ) from None
    except (msgspec.DecodeError, ValueError):  # ValueError: bad UTF-8 / a 5000-digit number
        raise DeliveryError(
            400, "invalid_json", "body is not JSON; configure the sender for application/json"
        ) from None
    if not isinstance(payload, dict | list):
        raise DeliveryError(400, "invalid_json", "body must be a JSON object or array")
    return payload


@dataclass
class Audit:
    """The one line logged per delivery (identifiers only once they are authenticated)."""

    source: str
    client: str
    started: float = field(default_factory=time.monotonic)
    scheme: str = "-"
    event_type: str = "-"
    delivery_id: str = "-"
    size: int = 0
    status: int = 500
    outcome: str = "error"

    def emit(self) -> None:
        level = logging.INFO if self.status < 500 else logging.ERROR
        log.log(
            level,
            "%s source=%s scheme=%s status=%d outcome=%s event=%s delivery=%s bytes=%d "
            "ms=%.1f client=%s",
            AUDIT_MARKER,
            self.source,
            self.scheme,
            self.status,
            self.outcome,
            self.event_type,
            self.delivery_id,
            self.size,
            (time.monotonic() - self.started) * 1000,
            self.client,
        )


def _refuse(audit: Audit, status: int, reason: str, detail: str) -> JSONResponse:
    audit.status, audit.outcome = status, reason
    return JSONResponse({"error": reason, "detail": detail}, status_code=status)


def create_app() -> FastAPI:
    """A fresh app (the plugin mounts one at ``/apisync``)."""
    app = FastAPI(
        title="apisync webhooks",
        description="Signed webhook deliveries -> Airflow asset events.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.post("/webhooks/{source}")
    async def receive(source: str, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "-"
        audit = Audit(source=source if valid_source_name(source) else "<invalid>", client=client)
        try:
            return await _handle(source, request, audit)
        except DeliveryError as exc:
            return _refuse(audit, exc.status, exc.reason, exc.detail)
        except SignatureError as exc:
            return _refuse(audit, 401, exc.reason, exc.detail)
        except ApiConfigError as exc:
            log.error("webhook source %s is misconfigured: %s", audit.source, exc)
            return _refuse(audit, 500, "source_misconfigured", "see the Airflow API server log")
        except Exception:
            log.exception("webhook source %s: recording the delivery failed", audit.source)
            return _refuse(audit, 503, "recording_failed", "not recorded; retry later")
        finally:
            audit.emit()

    return app


async def _handle(source: str, request: Request, audit: Audit) -> JSONResponse:
    if not valid_source_name(source):
        raise DeliveryError(404, "unknown_source", "source names are [a-z0-9_-], max 64")
    ws = await run_in_threadpool(load_source, source)
    audit.scheme = ws.scheme
    body = await read_body(request, ws.max_body_bytes)
    audit.size = len(body)
    ws.verify(body, request.headers)
    payload = parse_json(body)
    audit.event_type = ws.event_type_of(request.headers, payload)
    audit.delivery_id = ws.delivery_id_of(request.headers, payload, body)
    outcome = await run_in_threadpool(
        record_delivery,
        ws,
        event_type=audit.event_type,
        delivery_id=audit.delivery_id,
        body=body,
    )
    audit.status = 202 if outcome.recorded else 200
    audit.outcome = "recorded" if outcome.recorded else "duplicate"
    return JSONResponse(
        {
            "status": audit.outcome,
            "asset": outcome.asset_uri,
            "event_type": audit.event_type,
            "delivery_id": audit.delivery_id,
            "asset_event_id": outcome.event_id,
        },
        status_code=audit.status,
    )


app = create_app()
