"""Child resources for ``FakeApi``: ``GET /{parents}/{id}/{children}`` (dependent pulls).

``api.children.relate("tickets", "comments", foreign_key="ticket_id")`` serves the
records of collection ``comments`` whose ``ticket_id`` equals ``{id}``, paged in the
``comments`` collection's pagination style (with the usual ``updated_*`` filters). A
parent that does not exist (deleted) answers 404, as real APIs do. Children are indexed
by foreign key and re-indexed when the child collection changes size, so thousands of
parents stay cheap to serve in benchmarks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi


@dataclass
class _Relation:
    parent: str
    child: str
    foreign_key: str
    index: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    indexed_size: int = -1


class Children:
    """Parent -> child relations of one :class:`FakeApi`."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.relations: dict[tuple[str, str], _Relation] = {}
        self._lock = threading.Lock()

    def relate(self, parent: str, child: str, *, foreign_key: str) -> None:
        """Serve ``/{parent}/{id}/{child}`` from ``child`` records with ``foreign_key == id``."""
        self.api.collection(parent)
        self.api.collection(child)
        self.relations[(parent, child)] = _Relation(parent, child, foreign_key)
        self.api.route("GET", f"/{parent}/{{id}}/{child}", self._handler(parent, child), first=True)

    def _handler(self, parent: str, child: str) -> Any:
        def handle(request: Request) -> Response:
            if self.api.collection(parent).get(request.params["id"]) is None:
                return Response.error(404, f"{parent[:-1]} {request.params['id']} not found")
            rows = self._children(self.relations[(parent, child)], request.params["id"])
            return self.api.pagination.serve(request, child, rows)

        return handle

    def _children(self, relation: _Relation, parent_id: str) -> list[dict[str, Any]]:
        coll = self.api.collection(relation.child)
        with self._lock:
            if relation.indexed_size != len(coll):
                index: dict[str, list[dict[str, Any]]] = {}
                for record in coll.all():
                    index.setdefault(str(record.get(relation.foreign_key)), []).append(record)
                relation.index, relation.indexed_size = index, len(coll)
            return relation.index.get(parent_id, [])
