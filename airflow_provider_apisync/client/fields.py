"""The ``apisync`` connection form: one ordered table of extra fields, shown by Airflow's UI.

Pure data (no Airflow, no requests), read by :func:`airflow_provider_apisync.get_provider_info`
at Airflow start-up and by the client's validation (``client/config.py``) for the list of
known keys and their old names.

Rules the table follows, because of how Airflow 3.3's UI renders ``conn-fields``:

* Order is the table's order: the common case (auth type, OAuth2 token URL, scope) first, the
  tuning knobs last. Each description starts with the auth types that use the field.
* Optional choices are ``{"type": ["string", "null"], "enum": [...]}`` with no ``None`` in
  ``enum``: a ``None`` member is rendered as a literal ``null`` option. No ``default`` either
  (the client applies its own defaults to unset keys), except for a boolean: its switch has
  no "unset" position, so it shows the client's default.
* Key names avoid the words Airflow masks on read-back (``token``, ``api_key``, ``secret``,
  ``password``, ``authorization``, ``proxy`` ...; ``[core] sensitive_var_conn_names``) unless
  the value is a secret, so a saved token URL stays readable when the connection is edited.
  Renamed keys keep their old name as an alias (``aliases``).
* A field whose value is secret sets ``secret=True`` (masked in the UI and in logs).

Adding a field: append a :class:`FormField` row here (in the group where a user looks for it),
then read and validate it in ``client/config.py`` (``_build``); ``KNOWN_EXTRA`` picks it up.
"""

from __future__ import annotations

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
OAUTH2_CLIENT_AUTH = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class FormField:
    """One extra field of the connection form."""

    key: str
    label: str
    description: str
    type: str = "string"
    """JSON-schema type: string, integer, number or boolean (always optional)."""
    enum: tuple[str, ...] = ()
    secret: bool = False
    placeholder: str | None = None
    aliases: tuple[str, ...] = ()
    """Older key names still read (the first key present wins, ``key`` first)."""
    default: bool | None = None
    """Only for booleans, whose switch must show the client's default (it has no "unset")."""

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.type, "null"]}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.secret:
            schema["format"] = "password"
        if self.default is not None:
            schema["default"] = self.default
        return schema


_OAUTH = "OAuth2 types:"
FIELDS: tuple[FormField, ...] = (
    # -- how to authenticate (first screen, with Base URL, login and secret) ------------------
    FormField(
        "auth_type",
        "Auth type",
        "All types. How requests authenticate; the Secret field holds the API key, token, "
        "password or client secret. Empty: basic when login and secret are set, bearer with "
        "a secret only, otherwise none.",
        enum=AUTH_TYPES,
        placeholder="bearer",
    ),
    FormField(
        "oauth2_url",
        "OAuth2 token URL",
        f"{_OAUTH} the token endpoint, e.g. https://auth.example/oauth/token "
        "(old name: token_url).",
        placeholder="https://auth.example/oauth/token",
        aliases=("token_url",),
    ),
    FormField(
        "scope",
        "OAuth2 scope",
        f"{_OAUTH} space-separated scopes to request, e.g. crm.read crm.write.",
        placeholder="crm.read crm.write",
    ),
    FormField(
        "refresh_token",
        "OAuth2 refresh token",
        "oauth2_refresh_token only: the long-lived refresh token (masked).",
        secret=True,
    ),
    FormField(
        "audience",
        "OAuth2 audience",
        f"{_OAUTH} audience parameter some token servers require (Auth0, Okta).",
    ),
    FormField(
        "oauth2_client_auth",
        "OAuth2 client auth",
        f"{_OAUTH} how the client id and secret reach the token endpoint; empty: "
        "client_secret_basic (old name: token_auth_method).",
        enum=OAUTH2_CLIENT_AUTH,
        aliases=("token_auth_method",),
    ),
    FormField(
        "key_header",
        "API key header",
        "api_key only: header carrying the key; empty: X-API-Key (old name: api_key_header).",
        placeholder="X-API-Key",
        aliases=("api_key_header",),
    ),
    FormField(
        "key_query_param",
        "API key query parameter",
        "api_key only: send the key as this query parameter instead of a header "
        "(old name: api_key_query_param).",
        placeholder="api_key",
        aliases=("api_key_query_param",),
    ),
    FormField(
        "test_endpoint",
        "Test endpoint",
        "All types. Path the Test button GETs, e.g. /me; empty: the base URL. Pick one that "
        "needs authentication.",
        placeholder="/me",
    ),
    # -- transport ----------------------------------------------------------------------------
    FormField(
        "verify",
        "Verify TLS",
        "All types. Check the server's TLS certificate (on by default); turn off only for "
        "a test server.",
        type="boolean",
        default=True,
    ),
    FormField(
        "ca_bundle",
        "CA bundle path",
        "All types. PEM file of the CA that signed the server's certificate (present on "
        "every worker); empty: the system CAs.",
        placeholder="/etc/ssl/certs/corp-ca.pem",
    ),
    FormField(
        "timeout",
        "Timeout (s)",
        "All types. Seconds: one number, or [connect, read]; empty: [10, 60].",
        placeholder="[10, 60]",
    ),
    FormField(
        "request_deadline",
        "Request deadline (s)",
        "All types. Total seconds one attempt may take, body included (a server dripping its "
        "answer is cut here); empty: 5 x the read timeout.",
        type="number",
        placeholder="300",
    ),
    FormField(
        "max_response_mb",
        "Max response size (MB)",
        "All types. Cap on one decompressed response body; empty: 256.",
        type="number",
        placeholder="256",
    ),
    FormField(
        "headers",
        "Static headers (JSON)",
        'All types. Sent with every request, e.g. {"Stripe-Version": "2024-06-20"}; '
        "never credentials.",
        placeholder='{"Stripe-Version": "2024-06-20"}',
    ),
    FormField(
        "allowed_hosts",
        "Allowed extra hosts",
        "All types. Other hosts that may receive credentials (comma list of host, "
        "host:port or https://host:port), e.g. files.crm.example.",
        placeholder="files.crm.example, cdn.crm.example",
    ),
    # -- pacing and retries -------------------------------------------------------------------
    FormField(
        "rate_limit",
        "Client-side rate limit (JSON)",
        'All types. At most N requests per S seconds, e.g. {"requests": 100, '
        '"per_seconds": 60}; empty: none (the server\'s 429s still pace requests).',
        placeholder='{"requests": 100, "per_seconds": 60}',
    ),
    FormField(
        "shared_store",
        "Shared store (JSON)",
        "All types. One rate budget, quota news and OAuth2 tokens for every worker: "
        '{"conn_id": "apisync_redis"} names a redis connection (needs the [redis] extra); '
        'optional "key_prefix". Empty: each process keeps its own.',
        placeholder='{"conn_id": "apisync_redis"}',
    ),
    FormField(
        "max_retries",
        "Max retries",
        "All types. Retries per request on 429, 5xx and network errors; empty: 5.",
        type="integer",
    ),
    FormField(
        "max_retry_wait",
        "Max retry wait (s)",
        "All types. Cap on any single wait between retries; empty: 60.",
        type="number",
    ),
    # -- identification -----------------------------------------------------------------------
    FormField(
        "user_agent",
        "User agent",
        "All types. Overrides the default apisync/<version> user agent.",
    ),
    FormField(
        "correlation_header",
        "Correlation id header",
        "All types. Header carrying each request's id; empty: X-Request-ID.",
        placeholder="X-Request-ID",
    ),
    # -- task logs ----------------------------------------------------------------------------
    FormField(
        "log_requests",
        "Log every request",
        "All types. One INFO line per HTTP attempt in task logs (off: at DEBUG).",
        type="boolean",
        default=False,
    ),
    FormField(
        "progress_every",
        "Progress line every (s)",
        "All types. Seconds between progress lines while requests flow; 0: none; empty: 30.",
        type="number",
        placeholder="30",
    ),
)

#: Old extra key -> current key (read when the current key is absent).
ALIASES: dict[str, str] = {old: f.key for f in FIELDS for old in f.aliases}


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
