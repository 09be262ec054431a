"""pytest plugin (auto-loaded via the ``pytest11`` entry point): the ``fake_api`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_apisync.testing.fakeapi import FakeApi


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A started :class:`FakeApi` with a ``contacts`` collection of 250 records."""
    with FakeApi(seed={"contacts": 250}) as api:
        yield api
