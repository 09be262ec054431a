"""A webhook source: its connection turned into a validated, ready-to-use description.

No Airflow imports here: the app hands over the connection's password and extra. Source
``github`` is configured by connection ``apisync_webhook_github``; the password holds the
signing secret, ``extra`` names the scheme and overrides defaults. Configuration problems
are :class:`ApiConfigError` (field + fix); problems with one delivery are
:class:`DeliveryError` (HTTP status + a reason that is safe to return).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.client.records import get_path
from airflow_provider_apisync.webhooks.signatures import (
    ALGORITHMS,
    ENCODINGS,
    STRIPE_TOLERANCE,
    verify_github,
    verify_hmac,
    verify_stripe,
)

CONN_ID_PREFIX = "apisync_webhook_"
SCHEMES = ("github", "stripe", "hmac")
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
EVENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")

#: Per-scheme defaults; every value can be overridden in the connection extra.
SCHEME_DEFAULTS: dict[str, dict[str, Any]] = {
    "github": {
        "signature_header": "X-Hub-Signature-256",
        "event_type_header": "X-GitHub-Event",
        "delivery_id_header": "X-GitHub-Delivery",
    },
    "stripe": {
        "signature_header": "Stripe-Signature",
        "event_type_path": "type",
        "delivery_id_path": "id",
    },
    "hmac": {"signature_header": "X-Signature"},
}


class DeliveryError(Exception):
    """One delivery is refused: ``status`` (400/401/413...) and a log- and sender-safe reason."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        self.status = status
        self.reason = reason
        self.detail = detail
        super().__init__(f"{status} {reason}: {detail}")


def conn_id_for(source: str) -> str:
    """Connection id of a source (``github`` -> ``apisync_webhook_github``)."""
    return CONN_ID_PREFIX + source


def valid_source_name(source: str) -> bool:
    return bool(SOURCE_NAME.fullmatch(source))


@dataclass(frozen=True)
class WebhookSource:
    """How to authenticate and interpret deliveries from one sender."""

    name: str
    scheme: str
    secret: str = field(repr=False)
    signature_header: str
    signature_algorithm: str = "sha256"
    signature_prefix: str = ""
    signature_encoding: str = "hex"
    tolerance_seconds: float = STRIPE_TOLERANCE
    event_type: str | None = None
    event_type_header: str | None = None
    event_type_path: str | None = None
    delivery_id_header: str | None = None
    delivery_id_path: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    payload_folder: str | None = None
    dedupe_window_days: float | None = None

    def verify(
        self, body: bytes, headers: Mapping[str, str], now: Callable[[], float] = time.time
    ) -> None:
        """Authenticate the raw body; raises :class:`SignatureError`."""
        header = header_value(headers, self.signature_header)
        if self.scheme == "github":
            verify_github(body, header, self.secret)
        elif self.scheme == "stripe":
            verify_stripe(body, header, self.secret, tolerance=self.tolerance_seconds, now=now)
        else:
            verify_hmac(
                body,
                header,
                self.secret,
                algorithm=self.signature_algorithm,
                prefix=self.signature_prefix,
                encoding=self.signature_encoding,
                header_name=self.signature_header,
            )

    def event_type_of(self, headers: Mapping[str, str], payload: Any) -> str:
        """The event type (``push``, ``invoice.paid`` ...) naming the asset."""
        if self.event_type:
            return self.event_type
        value = self._pick(headers, payload, self.event_type_header, self.event_type_path)
        where = self.event_type_header or self.event_type_path
        return _checked(value, EVENT_TYPE, "event_type", f"event type ({where})")

    def delivery_id_of(self, headers: Mapping[str, str], payload: Any, body: bytes) -> str:
        """The sender's delivery/event id; without one configured, a hash of the signed body."""
        if not (self.delivery_id_header or self.delivery_id_path):
            return "sha256-" + hashlib.sha256(body).hexdigest()[:40]
        value = self._pick(headers, payload, self.delivery_id_header, self.delivery_id_path)
        where = self.delivery_id_header or self.delivery_id_path
        return _checked(value, DELIVERY_ID, "delivery_id", f"delivery id ({where})")

    @staticmethod
    def _pick(
        headers: Mapping[str, str], payload: Any, header: str | None, path: str | None
    ) -> Any:
        if header:
            return header_value(headers, header)
        return get_path(payload, path)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup for plain dicts and Starlette ``Headers`` alike."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def _checked(value: Any, pattern: re.Pattern[str], reason: str, what: str) -> str:
    if value is None or value == "":
        raise DeliveryError(400, f"missing_{reason}", f"the delivery has no {what}")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise DeliveryError(400, f"invalid_{reason}", f"{what} is not a string")
    text = str(value)
    # fullmatch, not match: "$" also matches before a trailing newline ("push\n").
    if not pattern.fullmatch(text) or ".." in text or "//" in text:
        raise DeliveryError(
            400, f"invalid_{reason}", f"{what} has characters outside {pattern.pattern}"
        )
    return text


def source_from_connection(
    source: str,
    *,
    password: str | None,
    extra: str | Mapping[str, Any] | None,
    conn_id: str | None = None,
) -> WebhookSource:
    """Validate a source's connection fields; every problem names the field and the fix."""
    conn_id = conn_id or conn_id_for(source)
    ex = _extra(extra, conn_id)
    if not password or not password.strip():  # whitespace is no secret: misconfigured too
        raise ApiConfigError(
            "password",
            f"connection '{conn_id}' has no webhook signing secret (empty or only whitespace).",
            "put the secret configured at the sender in the password field.",
        )
    scheme = _text(ex, "webhook_scheme")
    if scheme is None or scheme.lower() not in SCHEMES:
        raise ApiConfigError(
            "webhook_scheme",
            f"connection '{conn_id}' has webhook_scheme {scheme!r}.",
            f"set extra webhook_scheme to one of {', '.join(SCHEMES)}.",
        )
    scheme = scheme.lower()
    merged = {**SCHEME_DEFAULTS[scheme], **ex}
    ws = WebhookSource(
        name=source,
        scheme=scheme,
        secret=password,
        signature_header=_text(merged, "signature_header") or "X-Signature",
        signature_algorithm=_one_of(merged, "signature_algorithm", ALGORITHMS, "sha256"),
        signature_prefix=_text(merged, "signature_prefix", strip=False) or "",
        signature_encoding=_one_of(merged, "signature_encoding", ENCODINGS, "hex"),
        tolerance_seconds=_tolerance(merged.get("tolerance_seconds")),
        event_type=_text(merged, "event_type"),
        event_type_header=_text(merged, "event_type_header"),
        event_type_path=_text(merged, "event_type_path"),
        delivery_id_header=_text(merged, "delivery_id_header"),
        delivery_id_path=_text(merged, "delivery_id_path"),
        max_body_bytes=_positive_int(merged, "max_body_bytes", DEFAULT_MAX_BODY_BYTES),
        payload_folder=_text(merged, "payload_folder"),
        dedupe_window_days=_window(merged.get("dedupe_window_days")),
    )
    if ws.event_type is not None and not EVENT_TYPE.fullmatch(ws.event_type):
        raise ApiConfigError("event_type", f"{ws.event_type!r} is not a usable event type.")
    if not (ws.event_type or ws.event_type_header or ws.event_type_path):
        raise ApiConfigError(
            "event_type_header",
            f"connection '{conn_id}' does not say where the event type is.",
            'set extra event_type_header (e.g. "X-Event-Type"), event_type_path '
            '(e.g. "type") or a fixed event_type.',
        )
    return ws


def _extra(extra: str | Mapping[str, Any] | None, conn_id: str) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise ApiConfigError(
                "extra", f"connection '{conn_id}' extra is not valid JSON ({exc.msg})."
            ) from None
    if not isinstance(extra, Mapping):
        raise ApiConfigError("extra", "must be a JSON object.", '{"webhook_scheme": "github"}')
    return {
        k.removeprefix("extra__apisync__"): v for k, v in extra.items() if v is not None and v != ""
    }


def _text(ex: Mapping[str, Any], key: str, *, strip: bool = True) -> str | None:
    value = ex.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiConfigError(key, f"must be a string, got {type(value).__name__}.")
    return (value.strip() if strip else value) or None


def _one_of(ex: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = (_text(ex, key) or default).lower()
    if value not in allowed:
        raise ApiConfigError(
            key, f"{value!r} is not supported.", f"use one of {', '.join(allowed)}."
        )
    return value


def _positive_int(ex: Mapping[str, Any], key: str, default: int) -> int:
    value = ex.get(key, default)
    try:
        number = int(value)
        if number != float(value) or number <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ApiConfigError(key, f"{value!r} is not a positive whole number of bytes.") from None
    return number


def _tolerance(value: Any) -> float:
    if value is None:
        return STRIPE_TOLERANCE
    try:
        number = float(value)
        if number <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ApiConfigError(
            "tolerance_seconds",
            f"{value!r} is not a positive number of seconds.",
            "keep the default 300 unless clocks are known to drift.",
        ) from None
    return number


def _window(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
        if number <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ApiConfigError(
            "dedupe_window_days", f"{value!r} is not a positive number of days."
        ) from None
    return number
