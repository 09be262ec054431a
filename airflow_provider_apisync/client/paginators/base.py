"""The paginator protocol (after dlt's ``rest_client.paginators``), plus resume and plans.

A walk over an endpoint calls, in this order::

    paginator.init_request(request, state)   # first request, or the checkpointed one
    loop: fetch request -> paginator.update_state(response, body, records)
          if not paginator.has_next_page: stop
          paginator.update_request(request)   # now points at the next page

Beyond dlt: every request carries a JSON-safe ``state`` that recreates it (pass it back
to ``init_request`` to resume after a crash), ``spec()`` describes the paginator as JSON
(logs, fingerprints, resuming an auto-detected walk), and ``plan()`` lists every remaining
request when the first page tells the total, so pages can be fetched concurrently.
A paginator object is configuration plus one walk's memory: the page loop copies it per walk.
"""

from __future__ import annotations

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
    """Base class: subclasses implement ``update_state`` and ``update_request``."""

    kind: ClassVar[str] = "base"

    def __init__(self) -> None:
        self.has_next_page = True
        self._seen: set[int] = set()

    def spec(self) -> dict[str, Any]:
        """JSON-safe description (kind + arguments): logs, fingerprints, auto-resume."""
        return {"kind": self.kind}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def init_request(self, request: PageRequest, state: State | None = None) -> None:
        """Set up the first request of a walk (``state``: the checkpointed request instead).

        Forgets everything a previous walk taught. A position the caller put in the
        request's params (a cursor, say) is where the walk starts.
        """
        self.has_next_page = True
        self._seen = set()

    def update_state(self, response: requests.Response, body: Any, records: list[Any]) -> None:
        """Learn from the page just read: where the next one is, and ``has_next_page``."""
        raise NotImplementedError

    def update_request(self, request: PageRequest) -> None:
        """Point ``request`` (a copy of the last one) at the next page, with its state."""
        raise NotImplementedError

    def plan(self, request: PageRequest, body: Any, records: list[Any]) -> list[PageRequest] | None:
        """Every remaining request when the first page tells the total, else None."""
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
