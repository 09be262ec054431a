"""Webhook signature checks (GitHub, Stripe, generic HMAC) on the raw request body.

Pure Python, no Airflow imports. Every check recomputes the HMAC over the exact bytes that
arrived (never over re-serialised JSON) and compares digests with
:func:`hmac.compare_digest`, so the comparison time does not reveal how much of a forged
signature was right. Failures raise :class:`SignatureError` whose ``reason`` is a short code
that is safe to log and to return to the sender; it never contains the secret, the expected
digest or the body. The ``sign_*`` helpers produce the headers a sender would, for tests and
for users testing their own DAGs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable

ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
ENCODINGS = ("hex", "base64")
STRIPE_TOLERANCE = 300.0


class SignatureError(Exception):
    """The request is not authentic. ``reason`` is one of:

    ``missing_signature``, ``malformed_signature``, ``signature_mismatch``,
    ``stale_timestamp``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def _key(secret: str | bytes) -> bytes:
    if not secret or not secret.strip():
        raise ValueError("webhook secret is empty or only whitespace")
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def hmac_digest(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """Raw HMAC digest of ``message`` under ``secret``."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported HMAC algorithm {algorithm!r}; use one of {ALGORITHMS}")
    return hmac.new(_key(secret), message, getattr(hashlib, algorithm)).digest()


def _decode(value: str, encoding: str) -> bytes:
    """Signature text -> raw digest bytes, or ``malformed_signature``."""
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        if encoding == "base64":
            return base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise SignatureError("malformed_signature", f"signature is not valid {encoding}") from None
    raise ValueError(f"unsupported signature encoding {encoding!r}; use one of {ENCODINGS}")


def _encode(digest: bytes, encoding: str) -> str:
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    raise ValueError(f"unsupported signature encoding {encoding!r}; use one of {ENCODINGS}")


def _present(header: str | None, name: str) -> str:
    if header is None or not header.strip():
        raise SignatureError("missing_signature", f"no {name} header")
    return header.strip()


# -- generic HMAC -------------------------------------------------------------------------
def sign_hmac(
    body: bytes,
    secret: str | bytes,
    *,
    algorithm: str = "sha256",
    prefix: str = "",
    encoding: str = "hex",
) -> str:
    """The header value a sender computes: ``prefix + encode(HMAC(secret, body))``."""
    return prefix + _encode(hmac_digest(secret, body, algorithm), encoding)


def verify_hmac(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    *,
    algorithm: str = "sha256",
    prefix: str = "",
    encoding: str = "hex",
    header_name: str = "signature",
) -> None:
    """Check ``header == prefix + encode(HMAC(secret, body))``; raise :class:`SignatureError`.

    The prefix (e.g. ``sha256=``) must be present exactly; the digest part is decoded and
    compared as raw bytes in constant time (hex case does not matter).
    """
    value = _present(header, header_name)
    if prefix:
        if not value.startswith(prefix):
            raise SignatureError("malformed_signature", f"{header_name} must start with {prefix!r}")
        value = value[len(prefix) :]
    provided = _decode(value, encoding)
    expected = hmac_digest(secret, body, algorithm)
    if not hmac.compare_digest(expected, provided):
        raise SignatureError("signature_mismatch", f"{header_name} does not match the body")


# -- GitHub -------------------------------------------------------------------------------
GITHUB_HEADER = "X-Hub-Signature-256"


def sign_github(body: bytes, secret: str | bytes) -> str:
    """``X-Hub-Signature-256`` value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return sign_hmac(body, secret, algorithm="sha256", prefix="sha256=")


def verify_github(body: bytes, header: str | None, secret: str | bytes) -> None:
    """Verify GitHub's ``X-Hub-Signature-256`` header over the raw body."""
    verify_hmac(
        body, header, secret, algorithm="sha256", prefix="sha256=", header_name=GITHUB_HEADER
    )


# -- Stripe -------------------------------------------------------------------------------
STRIPE_HEADER = "Stripe-Signature"
#: Epoch seconds as ASCII digits; 1-12 of them (year 33658) keeps int() and the HMAC cheap.
STRIPE_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def sign_stripe(
    body: bytes,
    secret: str | bytes,
    timestamp: int | None = None,
    *,
    now: Callable[[], float] = time.time,
) -> str:
    """``Stripe-Signature`` value: ``t=<ts>,v1=<hex HMAC-SHA256 of "{ts}.{body}">``."""
    ts = int(now()) if timestamp is None else int(timestamp)
    digest = hmac_digest(secret, f"{ts}.".encode("ascii") + body, "sha256")
    return f"t={ts},v1={digest.hex()}"


def parse_stripe_header(header: str) -> tuple[str, list[str]]:
    """``t=..,v1=..[,v1=..][,v0=..]`` -> (timestamp text, v1 signatures); other schemes ignored."""
    timestamp: str | None = None
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value.strip()
        elif key == "v1":
            v1.append(value.strip())
    # ASCII digits only: str.isdigit() also accepts "²" or "٣", which int()/encode() reject.
    if timestamp is None or not STRIPE_TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("malformed_signature", f"{STRIPE_HEADER} has no numeric t=")
    if not v1:
        raise SignatureError("malformed_signature", f"{STRIPE_HEADER} has no v1= signature")
    return timestamp, v1


def verify_stripe(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    *,
    tolerance: float | None = STRIPE_TOLERANCE,
    now: Callable[[], float] = time.time,
) -> int:
    """Verify a ``Stripe-Signature`` header; return its timestamp (epoch seconds).

    The signed message is ``"{t}.{raw body}"``. Any of several ``v1`` signatures may match
    (Stripe sends one per active secret while a secret is being rolled). The timestamp must
    lie within ``tolerance`` seconds of ``now()`` in either direction (``None`` disables the
    check); it is checked after the signature, so only authentic requests learn it is stale.
    """
    timestamp, signatures = parse_stripe_header(_present(header, STRIPE_HEADER))
    expected = hmac_digest(secret, timestamp.encode("ascii") + b"." + body, "sha256")
    matched = False
    for candidate in signatures:
        try:
            provided = bytes.fromhex(candidate)
        except ValueError:
            continue
        matched |= hmac.compare_digest(expected, provided)
    if not matched:
        raise SignatureError("signature_mismatch", f"no {STRIPE_HEADER} v1 matches the body")
    ts = int(timestamp)
    if tolerance is not None and abs(now() - ts) > tolerance:
        raise SignatureError(
            "stale_timestamp", f"timestamp is more than {tolerance:g} s away from now"
        )
    return ts
