"""Pure signature checks (client/signatures.py) and webhook source configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from airflow_provider_apisync.client.config import unknown_extra_keys
from airflow_provider_apisync.client.errors import ApiConfigError
from airflow_provider_apisync.webhooks.signatures import (
    SignatureError,
    sign_github,
    sign_hmac,
    sign_stripe,
    verify_github,
    verify_hmac,
    verify_stripe,
)
from airflow_provider_apisync.webhooks.source import DeliveryError, source_from_connection

BODY = b'{"id": "evt_1", "type": "invoice.paid", "data": {"amount": 4200}}'
SECRET = "whsec_test_signing_key_0001"
NOW = 1_750_000_000


def reason(exc_info: pytest.ExceptionInfo[SignatureError]) -> str:
    return exc_info.value.reason


# -- GitHub -------------------------------------------------------------------------------
def test_github_documented_test_vector():
    # Values published in GitHub's "Validating webhook deliveries" guide.
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify_github(b"Hello, World!", header, "It's a Secret to Everybody")
    assert sign_github(b"Hello, World!", "It's a Secret to Everybody") == header


def test_github_accepts_uppercase_hex_and_surrounding_space():
    header = sign_github(BODY, SECRET)
    verify_github(BODY, "  sha256=" + header.split("=", 1)[1].upper() + " ", SECRET)


@pytest.mark.parametrize(
    ("body", "header", "secret", "expected"),
    [
        (BODY + b" ", sign_github(BODY, SECRET), SECRET, "signature_mismatch"),
        (BODY, sign_github(BODY, "another-secret"), SECRET, "signature_mismatch"),
        (BODY, None, SECRET, "missing_signature"),
        (BODY, "   ", SECRET, "missing_signature"),
        (BODY, sign_github(BODY, SECRET).removeprefix("sha256="), SECRET, "malformed_signature"),
        (BODY, "sha1=" + "0" * 40, SECRET, "malformed_signature"),
        (BODY, "sha256=not-hex", SECRET, "malformed_signature"),
        (BODY, sign_github(BODY, SECRET)[:-2], SECRET, "signature_mismatch"),
    ],
    ids=["tampered", "wrong-secret", "missing", "blank", "no-prefix", "sha1", "not-hex", "short"],
)
def test_github_rejections(body, header, secret, expected):
    with pytest.raises(SignatureError) as exc_info:
        verify_github(body, header, secret)
    assert reason(exc_info) == expected
    assert SECRET not in str(exc_info.value)


def test_comparison_is_over_raw_bytes_not_reserialised_json():
    # Same JSON value, different bytes: a verifier that re-encoded the payload would pass.
    compact = b'{"a":1,"b":2}'
    spaced = b'{"a": 1, "b": 2}'
    with pytest.raises(SignatureError):
        verify_github(spaced, sign_github(compact, SECRET), SECRET)


# -- Stripe -------------------------------------------------------------------------------
def test_stripe_roundtrip_returns_timestamp():
    header = sign_stripe(BODY, SECRET, NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify_stripe(BODY, header, SECRET, now=lambda: NOW + 10) == NOW


def test_stripe_signature_is_hmac_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_stripe(BODY, SECRET, NOW) == f"t={NOW},v1={expected}"


def test_stripe_any_of_several_v1_signatures_may_match_during_secret_rotation():
    old = sign_stripe(BODY, "whsec_old_key", NOW).split("v1=")[1]
    new = sign_stripe(BODY, SECRET, NOW).split("v1=")[1]
    header = f"t={NOW},v1={old},v1={new},v0=deadbeef"
    verify_stripe(BODY, header, SECRET, now=lambda: NOW)
    verify_stripe(BODY, header, "whsec_old_key", now=lambda: NOW)
    with pytest.raises(SignatureError) as exc_info:
        verify_stripe(BODY, header, "whsec_unrelated", now=lambda: NOW)
    assert reason(exc_info) == "signature_mismatch"


@pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_stripe_tolerance_is_300_seconds_both_ways(skew, ok):
    header = sign_stripe(BODY, SECRET, NOW)
    if ok:
        verify_stripe(BODY, header, SECRET, now=lambda: NOW - skew)
    else:
        with pytest.raises(SignatureError) as exc_info:
            verify_stripe(BODY, header, SECRET, now=lambda: NOW - skew)
        assert reason(exc_info) == "stale_timestamp"


def test_stripe_custom_tolerance():
    header = sign_stripe(BODY, SECRET, NOW)
    verify_stripe(BODY, header, SECRET, tolerance=1000, now=lambda: NOW + 900)


def test_stripe_signature_checked_before_timestamp():
    # A forged, stale request learns "mismatch", never that its timestamp was the problem.
    header = sign_stripe(BODY, "whsec_forged", NOW - 10_000)
    with pytest.raises(SignatureError) as exc_info:
        verify_stripe(BODY, header, SECRET, now=lambda: NOW)
    assert reason(exc_info) == "signature_mismatch"


def test_stripe_timestamp_is_part_of_the_signed_message():
    header = sign_stripe(BODY, SECRET, NOW)
    moved = header.replace(f"t={NOW}", f"t={NOW + 5}")
    with pytest.raises(SignatureError) as exc_info:
        verify_stripe(BODY, moved, SECRET, now=lambda: NOW)
    assert reason(exc_info) == "signature_mismatch"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "missing_signature"),
        ("v1=abc", "malformed_signature"),
        (f"t={NOW}", "malformed_signature"),
        (f"t=yesterday,v1={'0' * 64}", "malformed_signature"),
        (f"t={NOW},v1=zz", "signature_mismatch"),
        ("garbage", "malformed_signature"),
        ("t=\u00b2,v1=00", "malformed_signature"),  # "²".isdigit() is True; not ASCII
        ("t=\u0663,v1=00", "malformed_signature"),  # Arabic-Indic 3, likewise
        ("t=1" + "9" * 5000 + ",v1=00", "malformed_signature"),  # int() refuses > 4300 digits
    ],
)
def test_stripe_malformed_headers(header, expected):
    with pytest.raises(SignatureError) as exc_info:
        verify_stripe(BODY, header, SECRET, now=lambda: NOW)
    assert reason(exc_info) == expected


# -- generic HMAC -------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_generic_hmac_matches_stdlib(algorithm, encoding):
    digest = hmac.new(SECRET.encode(), BODY, getattr(hashlib, algorithm)).digest()
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    header = sign_hmac(BODY, SECRET, algorithm=algorithm, prefix="v1=", encoding=encoding)
    assert header == "v1=" + text
    verify_hmac(BODY, header, SECRET, algorithm=algorithm, prefix="v1=", encoding=encoding)
    with pytest.raises(SignatureError):
        verify_hmac(
            BODY + b"x", header, SECRET, algorithm=algorithm, prefix="v1=", encoding=encoding
        )


def test_generic_hmac_malformed_base64_and_wrong_prefix():
    with pytest.raises(SignatureError) as exc_info:
        verify_hmac(BODY, "%%%not base64", SECRET, encoding="base64")
    assert reason(exc_info) == "malformed_signature"
    with pytest.raises(SignatureError) as exc_info:
        verify_hmac(BODY, sign_hmac(BODY, SECRET), SECRET, prefix="sha256=")
    assert reason(exc_info) == "malformed_signature"


def test_unsupported_algorithm_and_empty_secret_are_programming_errors():
    with pytest.raises(ValueError, match="md5"):
        sign_hmac(BODY, SECRET, algorithm="md5")
    with pytest.raises(ValueError, match="empty"):
        verify_github(BODY, "sha256=00", "")
    with pytest.raises(ValueError, match="whitespace"):
        verify_github(BODY, "sha256=00", " \t ")


# -- source configuration -----------------------------------------------------------------
def test_source_defaults_per_scheme():
    gh = source_from_connection("github", password="s", extra={"webhook_scheme": "github"})
    assert (gh.signature_header, gh.event_type_header, gh.delivery_id_header) == (
        "X-Hub-Signature-256",
        "X-GitHub-Event",
        "X-GitHub-Delivery",
    )
    st = source_from_connection(
        "stripe", password="whsec_do_not_print", extra='{"webhook_scheme": "Stripe"}'
    )
    assert (st.scheme, st.event_type_path, st.delivery_id_path, st.tolerance_seconds) == (
        "stripe",
        "type",
        "id",
        300.0,
    )
    assert "whsec_do_not_print" not in repr(st)


@pytest.mark.parametrize(
    ("password", "extra", "field"),
    [
        (None, {"webhook_scheme": "github"}, "password"),
        ("  \t\n", {"webhook_scheme": "github"}, "password"),  # whitespace is no secret
        ("s", {}, "webhook_scheme"),
        ("s", {"webhook_scheme": "gitlab"}, "webhook_scheme"),
        ("s", {"webhook_scheme": "hmac"}, "event_type_header"),
        ("s", {"webhook_scheme": "hmac", "event_type": "x", "signature_algorithm": "md5"}, None),
        ("s", {"webhook_scheme": "github", "max_body_bytes": 0}, "max_body_bytes"),
        ("s", {"webhook_scheme": "stripe", "tolerance_seconds": -1}, "tolerance_seconds"),
        ("s", {"webhook_scheme": "github", "dedupe_window_days": "soon"}, "dedupe_window_days"),
        ("s", '{"webhook_scheme": ', "extra"),
    ],
)
def test_source_config_errors_name_the_field(password, extra, field):
    with pytest.raises(ApiConfigError) as exc_info:
        source_from_connection("src", password=password, extra=extra)
    assert exc_info.value.field == (field or "signature_algorithm")
    if field in ("password", "webhook_scheme", "extra"):
        assert "apisync_webhook_src" in str(exc_info.value)  # names the connection to fix


def test_event_type_and_delivery_id_are_validated():
    ws = source_from_connection(
        "shop",
        password="s",
        extra={"webhook_scheme": "hmac", "event_type_path": "event.kind"},
    )
    assert ws.event_type_of({}, {"event": {"kind": "orders/create"}}) == "orders/create"
    for bad in ("../etc", "a b", "", None, True, "x" * 201, "orders/create\n"):
        with pytest.raises(DeliveryError) as exc_info:
            ws.event_type_of({}, {"event": {"kind": bad}})
        assert exc_info.value.status == 400
    # No delivery id configured: the signed body's hash identifies the delivery.
    assert ws.delivery_id_of({}, {}, BODY) == ws.delivery_id_of({}, {"other": 1}, BODY)
    assert ws.delivery_id_of({}, {}, BODY) != ws.delivery_id_of({}, {}, BODY + b" ")


def test_header_lookup_is_case_insensitive():
    gh = source_from_connection("github", password="s", extra={"webhook_scheme": "github"})
    headers = {"x-github-event": "push", "x-github-delivery": "abc-1"}
    assert gh.event_type_of(headers, None) == "push"
    assert gh.delivery_id_of(headers, None, b"") == "abc-1"


def test_webhook_extra_keys_are_known_to_the_hook():
    extra = {"webhook_scheme": "github", "payload_folder": "s3://b/p", "max_body_bytes": 10}
    assert unknown_extra_keys(extra) == []
    assert unknown_extra_keys({"webhook_schme": "github"}) == ["webhook_schme"]
