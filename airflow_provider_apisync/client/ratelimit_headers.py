"""Rate-limit headers of every common dialect, parsed into one :class:`RateLimitStatus`.

Dialects, tried in this order (the first that says anything wins):

- IETF draft-ietf-httpapi-ratelimit-headers-11: ``RateLimit: "burst";r=50;t=30`` with
  ``RateLimit-Policy: "burst";q=100;w=60`` (structured-field lists, several policies; the
  one with the least quota left is the binding one; ``t`` is always a delta);
- the dictionary form of earlier drafts: ``RateLimit: limit=100, remaining=50, reset=30``;
- triples: ``RateLimit-Limit/-Remaining/-Reset`` (drafts <= 06, Zendesk), GitHub
  ``X-RateLimit-Limit/-Remaining/-Used/-Reset``, X (Twitter) ``X-Rate-Limit-*``, Zendesk
  ``X-Rate-Limit``;
- HubSpot ``X-HubSpot-RateLimit-(Secondly|Daily|Max|Interval-Milliseconds)[-Remaining]``;
- Shopify ``X-Shopify-Shop-Api-Call-Limit: 32/40`` (used/bucket size);
- Salesforce ``Sforce-Limit-Info: api-usage=10018/100000`` (daily used/limit, no reset).

Legacy reset values are told apart by size: > 1e12 epoch milliseconds, > 1e9 epoch
seconds, otherwise delta seconds; an HTTP-date is accepted too. Malformed values are
ignored (never fatal) and every reset is capped at :data:`MAX_RESET_S`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_apisync.client.errors import ApiAuthError, ApiError, ApiRateLimitError

MAX_RESET_S = 24 * 3600.0
"""Resets further away than this are treated as malformed and capped."""
SHOPIFY_LEAK_S = 1.0
"""Shopify's bucket leaks >= 2 calls/s: a full bucket has room again within a second."""

_TOKEN_START = re.compile(r"[A-Za-z*]")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_BARE = re.compile(r"[^;,\s]*")
_USAGE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class RateLimitStatus:
    """What the server said about the quota; any field may be unknown (None).

    ``reset_at`` is when more quota becomes available (an upper bound when the server
    rounds to whole seconds); ``window`` is the policy window in seconds when announced
    (IETF ``w``, HubSpot's interval), which lets the throttle pace requests evenly.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None
    window: float | None = None

    def reset_in(self, now: float | None = None) -> float | None:
        """Seconds until the window resets (>= 0), or None when unknown."""
        if self.reset_at is None:
            return None
        now = time.time() if now is None else now
        return max(0.0, self.reset_at.timestamp() - now)


# -- small value parsers ------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A finite, non-negative number, or None (malformed values are ignored)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.split(",")[0].strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def reset_to_epoch(value: str | None, now: float | None = None) -> float | None:
    """A legacy reset value (delta s, epoch s, epoch ms or HTTP-date) as epoch seconds.

    Resets in the past become ``now``; resets beyond :data:`MAX_RESET_S` are capped.
    """
    if value is None:
        return None
    now = time.time() if now is None else now
    number = _number(value)
    if number is None:
        when = _http_date(value)
        if when is None:
            return None
    elif number > 1e12:
        when = number / 1000.0
    elif number > 1e9:
        when = number
    else:
        when = now + number
    return min(max(when, now), now + MAX_RESET_S)


def _delta(seconds: float | None, now: float) -> float | None:
    return None if seconds is None else now + min(seconds, MAX_RESET_S)


def _status(
    limit: float | None,
    remaining: float | None,
    reset: float | None,
    window: float | None = None,
) -> RateLimitStatus | None:
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitStatus(
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset_at=None if reset is None else datetime.fromtimestamp(reset, tz=timezone.utc),
        window=window if window and window > 0 else None,
    )


# -- RFC 9651 structured-field lists (the subset the IETF draft uses) ----------------------
class _Malformed(ValueError):
    pass


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _bare_item(text: str, i: int) -> tuple[str, int]:
    if i < len(text) and text[i] == '"':
        out = []
        i += 1
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if char == '"':
                return "".join(out), i + 1
            out.append(char)
            i += 1
        raise _Malformed("unterminated string")
    if i < len(text) and _TOKEN_START.match(text, i):
        match = _TOKEN.match(text, i)
        assert match is not None
        return match.group(), match.end()
    match = _BARE.match(text, i)
    assert match is not None
    if match.end() == i:
        raise _Malformed(f"no value at {i}")
    return match.group(), match.end()


def parse_sf_list(text: str) -> list[tuple[str, dict[str, str]]]:
    """``'"a";q=1;w=2, b;r=0'`` -> ``[("a", {"q": "1", "w": "2"}), ("b", {"r": "0"})]``.

    Raises ``ValueError`` on malformed input: per RFC 9651 the whole field is then ignored.
    """
    items: list[tuple[str, dict[str, str]]] = []
    i = _skip_space(text, 0)
    while i < len(text):
        name, i = _bare_item(text, i)
        params: dict[str, str] = {}
        while i < len(text) and text[i] == ";":
            i = _skip_space(text, i + 1)
            key_match = _KEY.match(text, i)
            if key_match is None:
                raise _Malformed(f"bad parameter key at {i}")
            key, i = key_match.group(), key_match.end()
            value = "?1"
            if i < len(text) and text[i] == "=":
                value, i = _bare_item(text, i + 1)
            params[key] = value
        items.append((name, params))
        i = _skip_space(text, i)
        if i < len(text):
            if text[i] != ",":
                raise _Malformed(f"expected ',' at {i}")
            i = _skip_space(text, i + 1)
            if i >= len(text):
                raise _Malformed("trailing comma")
    return items


# -- dialects -------------------------------------------------------------------------------
Headers = Mapping[str, str]


def _sf_list(value: str | None) -> list[tuple[str, dict[str, str]]]:
    try:
        return parse_sf_list(value or "")
    except ValueError:
        return []  # RFC 9651: a field that fails to parse is ignored as a whole


def _is_dictionary_style(value: str) -> bool:
    return any(f"{key}=" in value for key in ("limit", "remaining", "reset"))


def _ietf(h: Headers, now: float) -> RateLimitStatus | None:
    raw = h.get("ratelimit")
    if raw is not None and _is_dictionary_style(raw):
        return None
    policies = dict(_sf_list(h.get("ratelimit-policy")))
    best: tuple[float, float, str] | None = None  # (remaining, -reset, name): least left wins
    chosen: dict[str, str] = {}
    for name, params in _sf_list(raw):
        r, t = _number(params.get("r")), _number(params.get("t"))
        if r is None and t is None:
            continue
        key = (math.inf if r is None else r, -(t or 0.0), name)
        if best is None or key < best:
            best, chosen = key, params
    if best is None:  # a policy alone still tells the limit
        policy = next(iter(policies.values()), None)
        return _status(_number(policy.get("q")), None, None) if policy else None
    policy = policies.get(best[2], {})
    return _status(
        _number(policy.get("q")),
        _number(chosen.get("r")),
        _delta(_number(chosen.get("t")), now),  # draft 11: t is a delta, never an epoch
        _number(policy.get("w")),
    )


def _dictionary(h: Headers, now: float) -> RateLimitStatus | None:
    """Earlier drafts' dictionary form: ``RateLimit: limit=100, remaining=50, reset=30``."""
    raw = h.get("ratelimit")
    if raw is None or not _is_dictionary_style(raw):
        return None
    fields: dict[str, str] = {}
    for part in raw.split(","):
        key, _, value = part.partition("=")
        fields[key.strip().lower()] = value.split(";")[0].strip()
    return _status(
        _number(fields.get("limit")),
        _number(fields.get("remaining")),
        _delta(_number(fields.get("reset")), now),
    )


def _first(h: Headers, *names: str) -> str | None:
    for name in names:
        value = h.get(name)
        if value:
            return value
    return None


def _triple(h: Headers, now: float) -> RateLimitStatus | None:
    limit = _number(
        _first(h, "ratelimit-limit", "x-ratelimit-limit", "x-rate-limit-limit", "x-rate-limit")
    )
    remaining = _number(
        _first(h, "ratelimit-remaining", "x-ratelimit-remaining", "x-rate-limit-remaining")
    )
    used = _number(h.get("x-ratelimit-used"))
    if remaining is None and limit is not None and used is not None:
        remaining = max(0.0, limit - used)
    reset = reset_to_epoch(
        _first(h, "ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset"), now
    )
    return _status(limit, remaining, reset)


def _hubspot(h: Headers, now: float) -> RateLimitStatus | None:
    interval = _number(h.get("x-hubspot-ratelimit-interval-milliseconds"))
    candidates = [
        ("x-hubspot-ratelimit-secondly", 1.0),
        ("x-hubspot-ratelimit-max", None if interval is None else interval / 1000.0),
        ("x-hubspot-ratelimit-daily", None),  # resets at midnight in the account's zone
    ]
    best: tuple[float, float | None, float | None] | None = None
    for name, window in candidates:
        remaining = _number(h.get(f"{name}-remaining"))
        if name.endswith("-max"):
            remaining = _number(h.get("x-hubspot-ratelimit-remaining"))
        if remaining is None:
            continue
        if best is None or remaining < best[0]:
            best = (remaining, _number(h.get(name)), window)
    if best is None:
        return None
    remaining, limit, window = best
    reset = now + window if window and remaining <= 0 else None  # phase unknown: upper bound
    return _status(limit, remaining, reset, window)


def _shopify(h: Headers, now: float) -> RateLimitStatus | None:
    match = _USAGE.match(h.get("x-shopify-shop-api-call-limit") or "")
    if not match:
        return None
    used, size = int(match.group(1)), int(match.group(2))
    remaining = max(0, size - used)
    return _status(size, remaining, now + SHOPIFY_LEAK_S if remaining == 0 else None)


def _salesforce(h: Headers, now: float) -> RateLimitStatus | None:
    raw = h.get("sforce-limit-info") or ""
    for part in raw.split(","):
        key, _, value = part.strip().partition("=")
        match = _USAGE.match(value)
        if key.strip().lower() == "api-usage" and match:
            used, limit = int(match.group(1)), int(match.group(2))
            return _status(limit, max(0, limit - used), None)
    return None


DIALECTS: tuple[Callable[[Headers, float], RateLimitStatus | None], ...] = (
    _ietf,
    _dictionary,
    _triple,
    _hubspot,
    _shopify,
    _salesforce,
)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        if isinstance(value, str) and value.strip():
            out.setdefault(key.lower(), value.strip())
    return out


def parse_rate_limit(
    headers: Mapping[str, str], now: float | None = None
) -> RateLimitStatus | None:
    """Parse any supported dialect; None when the response says nothing about quotas."""
    now = time.time() if now is None else now
    h = _lower(headers)
    for dialect in DIALECTS:
        status = dialect(h, now)
        if status is not None:
            return status
    return None


_BODY_HINTS: tuple[tuple[str, float], ...] = (
    ("retry_after_ms", 0.001),
    ("retryAfterMs", 0.001),
    ("retry_after", 1.0),
    ("retryAfter", 1.0),
)
_MS_HEADERS = ("retry-after-ms", "x-ms-retry-after-ms")


def _body_hint(body: Any) -> float | None:
    for holder in (body, body.get("error") if isinstance(body, Mapping) else None):
        if not isinstance(holder, Mapping):
            continue
        for key, scale in _BODY_HINTS:
            hint = _number(holder.get(key))
            if hint is not None:
                return min(hint * scale, MAX_RESET_S)
    return None


def parse_retry_after(
    headers: Mapping[str, str], body: Any = None, now: float | None = None
) -> float | None:
    """Seconds to wait: ``Retry-After`` (delay-seconds or HTTP-date), the millisecond
    variants (``retry-after-ms``), or a JSON body hint (``retry_after_ms``, ``retry_after``).
    """
    now = time.time() if now is None else now
    h = _lower(headers)
    value = h.get("retry-after")
    if value is not None:
        number = _number(value)
        if number is not None:
            return min(number, MAX_RESET_S)
        when = _http_date(value)
        if when is not None:
            return min(max(0.0, when - now), MAX_RESET_S)
    for name in _MS_HEADERS:
        ms = _number(h.get(name))
        if ms is not None:
            return min(ms / 1000.0, MAX_RESET_S)
    return _body_hint(body)


@dataclass(frozen=True)
class Closed:
    """The API refused the request for quota reasons (429, or GitHub's 403 + remaining 0)."""

    status: RateLimitStatus
    http_status: int


def closed_window(exc: ApiError, now: float | None = None) -> Closed | None:
    """A :class:`Closed` when ``exc`` is a quota refusal, else None (a real failure)."""
    announced = exc.rate_limit if isinstance(exc.rate_limit, RateLimitStatus) else None
    quota_403 = isinstance(exc, ApiAuthError) and exc.status == 403
    if quota_403:
        spent = announced is not None and announced.remaining == 0
        if not (spent or exc.retry_after is not None):
            return None
    elif not isinstance(exc, ApiRateLimitError):
        return None
    now = time.time() if now is None else now
    reset_at = announced.reset_at if announced else None
    if exc.retry_after is not None:  # Retry-After takes precedence over the reset header
        reset_at = datetime.fromtimestamp(now + exc.retry_after, tz=timezone.utc)
    limit = announced.limit if announced else None
    status = RateLimitStatus(limit=limit, remaining=0, reset_at=reset_at)
    return Closed(status=status, http_status=exc.status or 429)
