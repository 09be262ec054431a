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

OAUTH2 = ("oauth2_client_credentials", "oauth2_refresh_token")
AUTH_TYPES = ("none", "api_key", "bearer", "basic", *OAUTH2)
OAUTH2_CLIENT_AUTH = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class Field:
    """One extra field of the connection: form widget, validation facts and docs row.

    ``about`` says what it holds, ``empty`` what unset means (the client's default);
    ``uses`` lists the auth types that read it (empty: all), and a ``strict`` field is
    refused with any other (it would send a credential elsewhere). ``type`` is the JSON
    schema type (always optional); ``aliases`` are old names still read (``key`` wins);
    ``default`` is only for booleans, whose switch has no "unset" position.
    """

    key: str
    label: str
    about: str
    empty: str = ""
    uses: tuple[str, ...] = ()
    strict: bool = False
    type: str = "string"
    enum: tuple[str, ...] = ()
    secret: bool = False
    placeholder: str | None = None
    aliases: tuple[str, ...] = ()
    default: bool | None = None

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


# One row per field, in the form's order (rows kept compact by hand: fmt: off).
# fmt: off
FIELDS: tuple[Field, ...] = (
    # -- how to authenticate (first screen, with Base URL, login and secret) ------------------
    Field("auth_type", "Auth type", enum=AUTH_TYPES, placeholder="bearer",
          about="how requests authenticate; the Secret field holds the API key, token, "
          "password or client secret.",
          empty="basic when login and secret are set, bearer with a secret only, otherwise none"),
    Field("oauth2_url", "OAuth2 token URL", uses=OAUTH2, aliases=("token_url",),
          placeholder="https://auth.example/oauth/token",
          about="the token endpoint, an absolute http(s) URL; token requests go there and "
          "nowhere else."),
    Field("scope", "OAuth2 scope", uses=OAUTH2, placeholder="crm.read crm.write",
          about="space-separated scopes to request (a JSON list works too)."),
    Field("refresh_token", "OAuth2 refresh token", uses=("oauth2_refresh_token",), secret=True,
          about="the long-lived refresh token."),
    Field("audience", "OAuth2 audience", uses=OAUTH2,
          about="audience parameter some token servers require (Auth0, Okta)."),
    Field("oauth2_client_auth", "OAuth2 client auth", uses=OAUTH2, enum=OAUTH2_CLIENT_AUTH,
          aliases=("token_auth_method",), empty="client_secret_basic",
          about="how the client id and secret reach the token endpoint: HTTP Basic or the "
          "form body (use client_secret_post if the server rejects secrets with special "
          "characters)."),
    Field("key_header", "API key header", uses=("api_key",), aliases=("api_key_header",),
          placeholder="X-API-Key", empty="X-API-Key", about="header carrying the key."),
    Field("key_query_param", "API key query parameter", uses=("api_key",), strict=True,
          aliases=("api_key_query_param",), placeholder="api_key",
          about="send the key as this query parameter instead of a header (redacted in "
          "every log line)."),
    Field("test_endpoint", "Test endpoint", placeholder="/me", empty="the base URL",
          about="path the Test button GETs, e.g. /me; pick one that needs authentication."),
    # -- transport ----------------------------------------------------------------------------
    Field("verify", "Verify TLS", type="boolean", default=True, empty="on",
          about="check the server's TLS certificate; turn off only for a test server."),
    Field("ca_bundle", "CA bundle path", placeholder="/etc/ssl/certs/corp-ca.pem",
          empty="the system CAs",
          about="PEM file of the CA that signed the server's certificate, present on every "
          "worker (refused with Verify TLS off)."),
    Field("timeout", "Timeout (s)", placeholder="[10, 60]", empty="[10, 60]",
          about="seconds: one number, or [connect, read]; the read timeout applies to each "
          "socket read."),
    Field("request_deadline", "Request deadline (s)", type="number", placeholder="300",
          empty="5 x the read timeout",
          about="total seconds one attempt may take, body included (a server dripping its "
          "answer is cut here and the attempt retried)."),
    Field("max_response_mb", "Max response size (MB)", type="number", placeholder="256",
          empty="256",
          about="cap on one decompressed response body (fractions allowed); streamed "
          "downloads are not capped."),
    Field("headers", "Static headers (JSON)", placeholder='{"Stripe-Version": "2024-06-20"}',
          about="sent with every request, e.g. an API version pin; never credentials "
          "(Authorization, Proxy-Authorization and Cookie are refused)."),
    Field("allowed_hosts", "Allowed extra hosts", placeholder="files.crm.example, cdn.crm.example",
          about="other hosts that may receive credentials (comma list of host, host:port or "
          "https://host:port)."),
    # -- pacing and retries -------------------------------------------------------------------
    Field("rate_limit", "Client-side rate limit (JSON)",
          placeholder='{"requests": 100, "per_seconds": 60}',
          empty="none (the server's 429s still pace requests)",
          about="at most N requests per S seconds."),
    Field("shared_store", "Shared store (JSON)", placeholder='{"conn_id": "apisync_redis"}',
          empty="each process keeps its own",
          about="one rate budget, quota news and OAuth2 tokens for every worker: conn_id names "
          'a redis connection (needs the [redis] extra); optional "key_prefix".'),
    Field("max_retries", "Max retries", type="integer", empty="5",
          about="retries per request on 429, 5xx and network errors (0 disables)."),
    Field("max_retry_wait", "Max retry wait (s)", type="number", empty="60",
          about="cap on any single wait between retries (Retry-After, rate-limit reset, "
          "backoff)."),
    # -- identification -----------------------------------------------------------------------
    Field("user_agent", "User agent", empty="apisync/<version> (+airflow-provider-apisync)",
          about="the User-Agent header; some vendors ask for a contact in it."),
    Field("correlation_header", "Correlation id header", placeholder="X-Request-ID",
          empty="X-Request-ID",
          about="header carrying each request's id (the same across its retries)."),
    # -- task logs ----------------------------------------------------------------------------
    Field("log_requests", "Log every request", type="boolean", default=False,
          empty="off (those lines are at DEBUG)",
          about="one INFO line per HTTP attempt in task logs."),
    Field("progress_every", "Progress line every (s)", type="number", placeholder="30",
          empty="30", about="seconds between progress lines while requests flow; 0: none."),
)

#: Extra keys of a webhook source (``docs/webhooks.md``): read by ``webhooks/``, not on the form.
WEBHOOK_EXTRA_KEYS = frozenset((
    "webhook_scheme", "signature_header", "signature_algorithm", "signature_prefix",
    "signature_encoding", "tolerance_seconds", "event_type", "event_type_header",
    "event_type_path", "delivery_id_header", "delivery_id_path", "max_body_bytes",
    "payload_folder", "dedupe_window_days",
))
# fmt: on

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
