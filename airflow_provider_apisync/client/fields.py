"""The ``apisync`` connection's extra fields: one declarative table, everything else derived.

Pure data (no Airflow, no requests). Generated from :data:`FIELDS`:

* the provider info's ``conn-fields`` and ``ui-field-behaviour`` (the form of Airflow 3.2+,
  :func:`conn_fields`, :func:`ui_field_behaviour`) and, through them, the WTForms form of
  Airflow 2.11 - 3.1 (``hooks/form.py``);
* the client's validation (``client/config.py``): known keys and old names, enum choices,
  which auth types use a field (a ``strict`` field set for another auth type is refused,
  any other one is reported by :func:`ignored_keys`);
* the field labels of ``describe`` pages (``describe/systems.py``);
* the field table of ``docs/connections.md`` (:func:`markdown_table`, rewritten by
  ``make docs``; ``tests/test_connection_fields.py`` fails when the committed table drifts).

Rules the table follows, because of how Airflow 3.3's UI renders ``conn-fields``:

* Order is the form's order: the common case (auth type, OAuth2 token URL, scope) first, the
  tuning knobs last. Each description starts with the auth types that use the field.
* Optional choices are ``{"type": ["string", "null"], "enum": [...]}`` with no ``None`` in
  ``enum``: a ``None`` member is rendered as a literal ``null`` option. No ``default`` either
  (the client applies its own defaults to unset keys), except for a boolean: its switch has
  no "unset" position, so it shows the client's default.
* Key names avoid the words Airflow masks on read-back (``token``, ``api_key``, ``secret``,
  ``password``, ``authorization``, ``proxy`` ...; ``[core] sensitive_var_conn_names``) unless
  the value is a secret, so a saved token URL stays readable when the connection is edited.
  Renamed keys keep their old name as an alias (``aliases``).

Adding a field: append a :class:`Field` row here (in the group where a user looks for it),
read and check it in ``client/config.py`` (``_build``), then regenerate the docs table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

AUTH_TYPES = (
    "none",
    "api_key",
    "bearer",
    "basic",
    "oauth2_client_credentials",
    "oauth2_refresh_token",
)
OAUTH2 = ("oauth2_client_credentials", "oauth2_refresh_token")
OAUTH2_CLIENT_AUTH = ("client_secret_basic", "client_secret_post")

#: Extra keys of a webhook source (``docs/webhooks.md``): read by ``webhooks/``, not on the form.
WEBHOOK_EXTRA_KEYS = frozenset(
    {
        "webhook_scheme",
        "signature_header",
        "signature_algorithm",
        "signature_prefix",
        "signature_encoding",
        "tolerance_seconds",
        "event_type",
        "event_type_header",
        "event_type_path",
        "delivery_id_header",
        "delivery_id_path",
        "max_body_bytes",
        "payload_folder",
        "dedupe_window_days",
    }
)


@dataclass(frozen=True)
class Field:
    """One extra field of the connection: form widget, validation facts and docs row."""

    key: str
    label: str
    about: str
    """What the field holds (the form's description after the auth types; the docs' text)."""
    empty: str = ""
    """What an unset field means (the client's default), in the form and the docs."""
    uses: tuple[str, ...] = ()
    """Auth types that read the field; empty: all."""
    strict: bool = False
    """Refuse the field with another auth type (it would send a credential elsewhere)."""
    type: str = "string"
    """JSON-schema type: string, integer, number or boolean (always optional)."""
    enum: tuple[str, ...] = ()
    secret: bool = False
    placeholder: str | None = None
    aliases: tuple[str, ...] = ()
    """Older key names still read (the first key present wins, ``key`` first)."""
    default: bool | None = None
    """Only for booleans, whose switch must show the client's default (it has no "unset")."""

    @property
    def used_by(self) -> str:
        """The auth types that use the field, in words ("All types", "api_key only" ...)."""
        if not self.uses:
            return "All types"
        if self.uses == OAUTH2:
            return "OAuth2 types"
        return " and ".join(self.uses) + " only"

    @property
    def description(self) -> str:
        """The form's help text: who uses it, what it holds, what empty means, old names."""
        text = f"{self.used_by}: {self.about}"
        if self.empty:
            text += f" Empty: {self.empty}."
        if self.aliases:
            text += f" Old name: {', '.join(self.aliases)}."
        return text

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.type, "null"]}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.secret:
            schema["format"] = "password"
        if self.default is not None:
            schema["default"] = self.default
        return schema


FIELDS: tuple[Field, ...] = (
    # -- how to authenticate (first screen, with Base URL, login and secret) ------------------
    Field(
        "auth_type",
        "Auth type",
        "how requests authenticate; the Secret field holds the API key, token, password or "
        "client secret.",
        "basic when login and secret are set, bearer with a secret only, otherwise none",
        enum=AUTH_TYPES,
        placeholder="bearer",
    ),
    Field(
        "oauth2_url",
        "OAuth2 token URL",
        "the token endpoint, an absolute http(s) URL; token requests go there and nowhere else.",
        uses=OAUTH2,
        placeholder="https://auth.example/oauth/token",
        aliases=("token_url",),
    ),
    Field(
        "scope",
        "OAuth2 scope",
        "space-separated scopes to request (a JSON list works too), e.g. crm.read crm.write.",
        uses=OAUTH2,
        placeholder="crm.read crm.write",
    ),
    Field(
        "refresh_token",
        "OAuth2 refresh token",
        "the long-lived refresh token.",
        uses=("oauth2_refresh_token",),
        secret=True,
    ),
    Field(
        "audience",
        "OAuth2 audience",
        "audience parameter some token servers require (Auth0, Okta).",
        uses=OAUTH2,
    ),
    Field(
        "oauth2_client_auth",
        "OAuth2 client auth",
        "how the client id and secret reach the token endpoint: HTTP Basic or the form body "
        "(use client_secret_post if the server rejects secrets with special characters).",
        "client_secret_basic",
        uses=OAUTH2,
        enum=OAUTH2_CLIENT_AUTH,
        aliases=("token_auth_method",),
    ),
    Field(
        "key_header",
        "API key header",
        "header carrying the key.",
        "X-API-Key",
        uses=("api_key",),
        placeholder="X-API-Key",
        aliases=("api_key_header",),
    ),
    Field(
        "key_query_param",
        "API key query parameter",
        "send the key as this query parameter instead of a header (redacted in every log line).",
        uses=("api_key",),
        strict=True,
        placeholder="api_key",
        aliases=("api_key_query_param",),
    ),
    Field(
        "test_endpoint",
        "Test endpoint",
        "path the Test button GETs, e.g. /me; pick one that needs authentication.",
        "the base URL",
        placeholder="/me",
    ),
    # -- transport ----------------------------------------------------------------------------
    Field(
        "verify",
        "Verify TLS",
        "check the server's TLS certificate; turn off only for a test server.",
        "on",
        type="boolean",
        default=True,
    ),
    Field(
        "ca_bundle",
        "CA bundle path",
        "PEM file of the CA that signed the server's certificate, present on every worker "
        "(refused with Verify TLS off).",
        "the system CAs",
        placeholder="/etc/ssl/certs/corp-ca.pem",
    ),
    Field(
        "timeout",
        "Timeout (s)",
        "seconds: one number, or [connect, read]; the read timeout applies to each socket read.",
        "[10, 60]",
        placeholder="[10, 60]",
    ),
    Field(
        "request_deadline",
        "Request deadline (s)",
        "total seconds one attempt may take, body included (a server dripping its answer is "
        "cut here and the attempt retried).",
        "5 x the read timeout",
        type="number",
        placeholder="300",
    ),
    Field(
        "max_response_mb",
        "Max response size (MB)",
        "cap on one decompressed response body (fractions allowed); streamed downloads are "
        "not capped.",
        "256",
        type="number",
        placeholder="256",
    ),
    Field(
        "headers",
        "Static headers (JSON)",
        'sent with every request, e.g. {"Stripe-Version": "2024-06-20"}; never credentials '
        "(Authorization, Proxy-Authorization and Cookie are refused).",
        placeholder='{"Stripe-Version": "2024-06-20"}',
    ),
    Field(
        "allowed_hosts",
        "Allowed extra hosts",
        "other hosts that may receive credentials (comma list of host, host:port or "
        "https://host:port), e.g. files.crm.example.",
        placeholder="files.crm.example, cdn.crm.example",
    ),
    # -- pacing and retries -------------------------------------------------------------------
    Field(
        "rate_limit",
        "Client-side rate limit (JSON)",
        'at most N requests per S seconds, e.g. {"requests": 100, "per_seconds": 60}.',
        "none (the server's 429s still pace requests)",
        placeholder='{"requests": 100, "per_seconds": 60}',
    ),
    Field(
        "shared_store",
        "Shared store (JSON)",
        "one rate budget, quota news and OAuth2 tokens for every worker: "
        '{"conn_id": "apisync_redis"} names a redis connection (needs the [redis] extra); '
        'optional "key_prefix".',
        "each process keeps its own",
        placeholder='{"conn_id": "apisync_redis"}',
    ),
    Field(
        "max_retries",
        "Max retries",
        "retries per request on 429, 5xx and network errors (0 disables).",
        "5",
        type="integer",
    ),
    Field(
        "max_retry_wait",
        "Max retry wait (s)",
        "cap on any single wait between retries (Retry-After, rate-limit reset, backoff).",
        "60",
        type="number",
    ),
    # -- identification -----------------------------------------------------------------------
    Field(
        "user_agent",
        "User agent",
        "the User-Agent header; some vendors ask for a contact in it.",
        "apisync/<version> (+airflow-provider-apisync)",
    ),
    Field(
        "correlation_header",
        "Correlation id header",
        "header carrying each request's id (the same across its retries).",
        "X-Request-ID",
        placeholder="X-Request-ID",
    ),
    # -- task logs ----------------------------------------------------------------------------
    Field(
        "log_requests",
        "Log every request",
        "one INFO line per HTTP attempt in task logs.",
        "off (those lines are at DEBUG)",
        type="boolean",
        default=False,
    ),
    Field(
        "progress_every",
        "Progress line every (s)",
        "seconds between progress lines while requests flow; 0: none.",
        "30",
        type="number",
        placeholder="30",
    ),
)

BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
#: Old extra key -> current key (read when the current key is absent).
ALIASES: dict[str, str] = {old: f.key for f in FIELDS for old in f.aliases}
#: Every extra key apisync reads: the form's fields, their old names, the webhook keys.
KNOWN_KEYS = frozenset({*BY_KEY, *ALIASES, *WEBHOOK_EXTRA_KEYS})
SECRET_KEYS = tuple(f.key for f in FIELDS if f.secret)


def ignored_keys(keys: Any, auth_type: str) -> list[str]:
    """Which of ``keys`` (current names) ``auth_type`` does not read (set by mistake?)."""
    return sorted(
        k for k in keys if k in BY_KEY and BY_KEY[k].uses and auth_type not in BY_KEY[k].uses
    )


def conn_fields() -> dict[str, Any]:
    """The ``conn-fields`` of the provider info, in display order."""
    return {
        f.key: {"label": f.label, "description": f.description, "schema": f.schema()}
        for f in FIELDS
    }


def ui_field_behaviour() -> dict[str, Any]:
    """Relabels and placeholders of the standard fields (and of extras, for older UIs).

    The port stays visible: Airflow 3.3's Test button posts the stored port (a missing port
    as ``0``) and the server refuses a test whose port differs from the stored one, so a
    connection tested from the UI needs its port saved (443 for https).
    """
    placeholders = {
        "host": "https://api.crm.example/v2",
        "login": "basic: user; OAuth2: client id",
        "password": "API key, token, password or client secret",
        "port": "443",
        "extra": '{"auth_type": "bearer"}',
    }
    placeholders.update({f.key: f.placeholder for f in FIELDS if f.placeholder})
    return {
        "hidden-fields": ["schema"],
        "relabeling": {"host": "Base URL", "login": "Login / client id", "password": "Secret"},
        "placeholders": placeholders,
    }


BEGIN = "<!-- BEGIN extra-fields: generated from client/fields.py, do not edit -->"
END = "<!-- END extra-fields -->"


def markdown_table() -> str:
    """The docs' table of extra keys (``docs/connections.md``), in the form's order."""
    rows = ["| key | form label | used by | empty means | holds |", "|---|---|---|---|---|"]
    for f in FIELDS:
        about = f.about[0].upper() + f.about[1:] + (" Masked." if f.secret else "")
        if f.enum:
            about += f" One of {', '.join(f'`{v}`' for v in f.enum)}."
        if f.aliases:
            about += f" Old name {', '.join(f'`{a}`' for a in f.aliases)}."
        empty = f.empty or "unset"
        rows.append(f"| `{f.key}` | {f.label} | {f.used_by} | {empty} | {about} |")
    return "\n".join(rows).replace("<", "&lt;").replace(">", "&gt;")


def with_table(text: str) -> str:
    """``text`` (a Markdown page) with the block between :data:`BEGIN` and :data:`END` renewed."""
    block = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not block.search(text):
        raise ValueError(f"no {BEGIN} ... {END} block to fill")
    return block.sub(lambda _: f"{BEGIN}\n{markdown_table()}\n{END}", text, count=1)

