"""The paginator contract: a request with resumable state, and the loop guard."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from airflow_provider_apisync.client.errors import PaginationLoopError
from airflow_provider_apisync.client.urls import redact_url

State = dict[str, Any]


@dataclass
class PageRequest:
    """One page request: ``endpoint`` (below the base URL, or an absolute next URL)."""

    endpoint: str
    params: dict[str, Any] | None
    state: State = field(default_factory=dict)


class Paginator:
    """Base class. Subclasses implement ``start``, ``resume``, ``next`` and ``spec``."""

    kind: ClassVar[str] = "base"

    def __init__(self) -> None:
        self._seen: set[int] = set()

    # -- configuration ----------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """JSON-safe description (kind + arguments): logs, fingerprints, auto-resume."""
        return {"kind": self.kind}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def fresh(self) -> Paginator:
        """A copy with empty per-walk memory (paginator objects may be reused)."""
        clone = copy.copy(self)
        clone._reset()
        return clone

    def _reset(self) -> None:
        self._seen = set()

    # -- walking ----------------------------------------------------------------------
    def start(self, endpoint: str, params: dict[str, Any]) -> PageRequest:
        """The first request of a walk."""
        return PageRequest(endpoint, params, {})

    def resume(self, endpoint: str, params: dict[str, Any], state: State) -> PageRequest:
        """The request described by a checkpointed ``state``."""
        return self.start(endpoint, params)

    def adopt(self, request: PageRequest) -> PageRequest:
        """Take over a first request someone else built (auto-detection)."""
        return request

    def next(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> PageRequest | None:
        """The request for the page after ``request``, or None when this was the last."""
        raise NotImplementedError

    def plan(
        self, request: PageRequest, response: requests.Response, body: Any, records: list[Any]
    ) -> list[PageRequest] | None:
        """Every remaining request when the total is known (for concurrent fetching)."""
        return None

    def _check_loop(self, value: str, what: str) -> None:
        digest = hash(value)
        if digest in self._seen:
            shown = redact_url(value) if "://" in value else value[:80]
            raise PaginationLoopError(
                f"the API returned the {what} '{shown}' a second time: paging would loop "
                "forever. Fix: check the paginator settings (cursor_path, cursor_param) or "
                "report the API bug; records pulled so far are kept."
            )
        self._seen.add(digest)
