"""Validation rejections and a batch endpoint with per-item results on ``FakeApi``.

- ``Validation``: per-collection rules (required fields, regex patterns); an invalid
  POST/PUT/PATCH body gets ``422 {"error": "validation failed", "errors": {field: msg}}``.
- ``Batches``: ``POST /{collection}/batch`` with ``{"records": [...]}`` (or a bare list);
  items with a key are upserted, items without one are created; the answer lists one
  result per item (``index``, ``status``, ``id`` or ``errors``) — 200 when all succeeded,
  207 on partial failure, 413 above ``max_items``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.testing.fakeapi.http import Request, Response

if TYPE_CHECKING:
    from airflow_provider_apisync.testing.fakeapi.server import FakeApi

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass
class _Rules:
    required: tuple[str, ...] = ()
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)


@dataclass
class Validation:
    """Field rules per collection; ``rejected`` counts 422 answers."""

    rules: dict[str, _Rules] = field(default_factory=dict)
    rejected: int = 0
    _api: FakeApi | None = field(default=None, repr=False)

    def install(self, api: FakeApi) -> Validation:
        self._api = api
        api.middlewares.append(self.check)
        return self

    def add(
        self,
        collection: str,
        *,
        required: Iterable[str] = (),
        patterns: Mapping[str, str] | None = None,
    ) -> None:
        """Validate writes to ``collection``: ``required`` fields, a regex per field."""
        self.rules[collection] = _Rules(
            tuple(required), {k: re.compile(v) for k, v in (patterns or {}).items()}
        )

    def errors(self, collection: str, record: Mapping[str, Any], partial: bool = False) -> dict:
        """Field -> message for what is wrong with ``record`` (empty when valid)."""
        rules = self.rules.get(collection)
        if rules is None:
            return {}
        problems: dict[str, str] = {}
        if not partial:
            for name in rules.required:
                if record.get(name) in (None, ""):
                    problems[name] = "is required"
        for name, pattern in rules.patterns.items():
            value = record.get(name)
            if value is not None and not pattern.fullmatch(str(value)):
                problems[name] = f"does not match {pattern.pattern}"
        return problems

    def check(self, request: Request) -> Response | None:
        api = self._api
        if api is None or request.method not in WRITE_METHODS or not self.rules:
            return None
        parts = _local(api, request.path).strip("/").split("/")
        if parts[0] not in self.rules or parts[-1] == "batch" or len(parts) > 2:
            return None
        if api.auth.check(request) is not None:
            return None
        try:
            body = request.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        problems = self.errors(parts[0], body, partial=request.method == "PATCH")
        if not problems:
            return None
        self.rejected += 1
        return Response.json({"error": "validation failed", "errors": problems}, 422)


@dataclass
class Batches:
    """``POST /{collection}/batch`` with per-item results."""

    validation: Validation | None = None
    body_key: str = "records"
    max_items: int = 1000
    requests: int = 0
    _api: FakeApi | None = field(default=None, repr=False)

    def install(self, api: FakeApi) -> Batches:
        self._api = api
        api.route("POST", "/{collection}/batch", self.handle, first=True)
        return self

    def handle(self, request: Request) -> Response:
        assert self._api is not None
        self.requests += 1
        try:
            body = request.json()
        except ValueError:
            return Response.error(400, "body is not JSON")
        items = body.get(self.body_key) if isinstance(body, dict) else body
        if not isinstance(items, list):
            return Response.error(400, f"body must be a list or {{{self.body_key!r}: [...]}}")
        if len(items) > self.max_items:
            return Response.error(413, f"at most {self.max_items} items per batch")
        name = request.params["collection"]
        coll = self._api.collection(name)
        results: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                results.append({"index": index, "status": 400, "error": "not a JSON object"})
                continue
            problems = self.validation.errors(name, item) if self.validation else {}
            if problems:
                results.append({"index": index, "status": 422, "errors": problems})
                continue
            if item.get(coll.key) not in (None, ""):
                record, created = coll.put(item)
                status = 201 if created else 200
            else:
                record, status = coll.create(item), 201
            results.append({"index": index, "status": status, "id": record[coll.key]})
        partial = any(r["status"] >= 400 for r in results)
        return Response.json({"results": results}, 207 if partial else 200)


def _local(api: FakeApi, path: str) -> str:
    return path[len(api.prefix) :] or "/" if path.startswith(api.prefix) else path
