"""Declarative per-status / per-body response actions: what to do with an answer.

A DAG author writes a small rule list instead of wrapping calls in ``try``/``except``::

    {404: "skip", 403: "dead_letter"}                       # status -> action
    [{"status": 200, "body_contains": "RATE_LIMIT", "action": "retry"},
     {"status": "5xx", "action": "fail"}]                   # full rules, first match wins

Actions follow the error taxonomy: ``skip`` (this item has nothing: go on, counted),
``dead_letter`` (keep the item and the error in the dead-letter file, go on), ``retry``
(ask again with backoff, a few times), ``rate_limited`` (wait like for a 429 --
``Retry-After`` or the quota reset -- then ask again), ``fail`` (stop the task, no
Airflow retry). Rules see every answer the client would raise for *and* 2xx answers
(GraphQL and Salesforce report some errors with a 200 and a body).

:class:`ActionClient` wraps an :class:`~airflow_provider_apisync.client.client.ApiClient`
so paginators and writers apply the rules without knowing about them. Pure Python.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_apisync.client.errors import ApiConfigError, ApiError

if TYPE_CHECKING:
    from airflow_provider_apisync.client.client import ApiClient

ACTIONS = ("skip", "retry", "fail", "dead_letter", "rate_limited")
BODY_SCAN_LIMIT = 64 * 1024  # body_contains looks at the first 64 KiB of a body
DEFAULT_ACTION_RETRIES = 3
RuleInput = Mapping[Any, Any] | Sequence[Mapping[str, Any]] | None


@dataclass(frozen=True)
class ResponseRule:
    """One rule: a status (exact, or a class such as ``"4xx"``), an optional body
    substring, and the action to take when both match."""

    action: str
    status: int | None = None
    status_class: int | None = None  # 4 for "4xx"
    body_contains: str | None = None

    def matches(self, status: int | None, body: str | None) -> bool:
        if self.status is not None and status != self.status:
            return False
        if self.status_class is not None and (status is None or status // 100 != self.status_class):
            return False
        if self.body_contains is not None:
            return body is not None and self.body_contains in body
        return True

    def describe(self) -> str:
        status = self.status if self.status is not None else f"{self.status_class}xx"
        body = f" body contains {self.body_contains!r}" if self.body_contains else ""
        return f"status {status}{body} -> {self.action}"


class ResponseActionError(Exception):
    """An answer matched a ``skip``/``dead_letter``/``fail`` rule, or a ``retry``/
    ``rate_limited`` rule whose attempts ran out (``action`` keeps the rule's action;
    callers that can wait -- sensors -- wait, the others fail).

    ``error`` is the client's error (None for a 2xx answer matched by its body),
    ``status`` and ``body`` describe the answer.
    """

    def __init__(
        self,
        action: str,
        rule: ResponseRule,
        *,
        status: int | None,
        url: str | None,
        body: str | None,
        error: ApiError | None = None,
    ) -> None:
        self.action = action
        self.rule = rule
        self.status = status
        self.url = url
        self.body = body[:500] if body else body
        self.error = error
        super().__init__(f"response action {rule.describe()} on {url or 'a request'}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description for dead letters (no secrets: URL already redacted)."""
        if self.error is not None:
            return {**self.error.to_dict(), "action": self.action, "rule": self.rule.describe()}
        return {
            "category": "response_action",
            "action": self.action,
            "rule": self.rule.describe(),
            "status": self.status,
            "url": self.url,
            "body": self.body,
        }


class ResponseActions:
    """An ordered rule list (first match wins) with counters of the actions taken."""

    def __init__(
        self, rules: Sequence[ResponseRule] = (), *, retries: int = DEFAULT_ACTION_RETRIES
    ):
        self.rules = tuple(rules)
        self.retries = retries
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, value: RuleInput, *, field: str = "response_actions") -> ResponseActions:
        """Rules from ``{status: action}`` or a list of rule dicts; errors name the field."""
        if value is None:
            return cls()
        if isinstance(value, ResponseActions):
            return value
        if isinstance(value, Mapping):
            items: list[Mapping[str, Any]] = [
                {"status": status, "action": action} for status, action in value.items()
            ]
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            items = list(value)
        else:
            raise ApiConfigError(
                field,
                f"a {type(value).__name__} is not a rule list.",
                'use {404: "skip"} or [{"status": 200, "body_contains": "X", "action": "retry"}].',
            )
        return cls([_rule(item, f"{field}[{i}]") for i, item in enumerate(items)])

    def fresh(self) -> ResponseActions:
        """The same rules with zeroed counters (one per task run)."""
        return ResponseActions(self.rules, retries=self.retries)

    def __getstate__(self) -> dict[str, Any]:
        # Airflow deep-copies operators (``dags test``, clearing, task groups on 3.0): a
        # lock cannot be copied or pickled, so the copy gets its own.
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def actions(self) -> set[str]:
        return {rule.action for rule in self.rules}

    def match(self, status: int | None, body: str | None) -> ResponseRule | None:
        for rule in self.rules:
            if rule.matches(status, body):
                return rule
        return None

    def count(self, action: str) -> None:
        with self._lock:
            self.counts[action] += 1

    def summary(self) -> dict[str, int]:
        """Actions taken so far, e.g. ``{"skip": 3, "retry": 1}`` (for the task summary)."""
        with self._lock:
            return dict(self.counts)

    @property
    def has_body_rules(self) -> bool:
        return any(rule.body_contains is not None for rule in self.rules)


def _rule(item: Any, where: str) -> ResponseRule:
    if not isinstance(item, Mapping):
        raise ApiConfigError(where, f"{item!r} is not a rule dict.")
    unknown = set(item) - {"status", "body_contains", "action"}
    if unknown:
        raise ApiConfigError(
            where, f"unknown keys {sorted(unknown)}.", "use status, body_contains, action."
        )
    action = item.get("action")
    if action not in ACTIONS:
        raise ApiConfigError(where, f"action {action!r} is not one of {', '.join(ACTIONS)}.")
    status, status_class = _status(item.get("status"), where)
    body = item.get("body_contains")
    if body is not None and (not isinstance(body, str) or not body):
        raise ApiConfigError(where, "body_contains must be a non-empty string.")
    if status is None and status_class is None and body is None:
        raise ApiConfigError(where, "a rule needs a status or body_contains.")
    if status is not None and 200 <= status < 300 and body is None:
        raise ApiConfigError(
            where,
            f"status {status} without body_contains would treat every success as {action!r}.",
            "add body_contains, the marker of the error inside the 2xx body.",
        )
    return ResponseRule(action, status, status_class, body)


def _status(value: Any, where: str) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        text = value.strip().lower()
        if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
            return None, int(text[0])
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value, None
    raise ApiConfigError(where, f"status {value!r} is not an HTTP status.", 'use 404 or "4xx".')


class ActionClient:
    """An ``ApiClient`` whose ``request`` applies :class:`ResponseActions`.

    ``retry`` and ``rate_limited`` are handled here (bounded by ``actions.retries``,
    waits capped by the client's ``max_retry_wait``; ``retries=0`` hands them to the
    caller at once); ``skip``, ``dead_letter`` and ``fail`` raise
    :class:`ResponseActionError` for the caller. Everything else is the
    wrapped client's (attributes are delegated).
    """

    def __init__(
        self,
        client: ApiClient,
        actions: ResponseActions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self._client = client
        self._actions = actions
        self._sleep = sleep
        self._on_wait = on_wait

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def request(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        actions = self._actions
        attempt = 0
        while True:
            attempt += 1
            error: ApiError | None = None
            try:
                resp = self._client.request(method, endpoint, **kwargs)
            except ApiError as exc:
                status, body, url, error = exc.status, _text(exc.body), exc.url, exc
                rule = actions.match(status, body)
                if rule is None:
                    raise
            else:
                if not actions.has_body_rules:
                    return resp
                status, url = resp.status_code, _redacted(resp.url)
                body = _head(resp)
                rule = actions.match(status, body)
                if rule is None:
                    return resp
            actions.count(rule.action)
            if rule.action in ("retry", "rate_limited") and attempt <= actions.retries:
                self._wait(rule.action, attempt, error)
                continue
            raise ResponseActionError(
                rule.action, rule, status=status, url=url, body=body, error=error
            ) from error

    def _wait(self, action: str, attempt: int, error: ApiError | None) -> None:
        cap = float(getattr(getattr(self._client, "config", None), "max_retry_wait", 60) or 60)
        wait = error.retry_after if error is not None and error.retry_after else None
        if wait is None:
            base = 1.0 if action == "rate_limited" else 0.5
            wait = random.uniform(0, base * 2 ** (attempt - 1))  # full jitter
        wait = min(float(wait), cap)
        if self._on_wait is not None:
            self._on_wait(action, wait)
        self._sleep(wait)


def _text(body: Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return str(body)


def _head(resp: requests.Response) -> str:
    return resp.content[:BODY_SCAN_LIMIT].decode("utf-8", "replace")


def _redacted(url: str) -> str:
    from airflow_provider_apisync.client.urls import redact_url

    return redact_url(url)
