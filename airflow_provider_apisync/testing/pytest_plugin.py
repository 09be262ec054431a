"""Opt-in pytest plugin: the ``fake_api`` fixture.

Not auto-loaded (installing a provider must not change every test run on the machine):
enable it with ``pytest_plugins = ["airflow_provider_apisync.testing.pytest_plugin"]`` in
your top-level ``conftest.py`` or ``-p airflow_provider_apisync.testing.pytest_plugin``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_apisync.testing.fakeapi import FakeApi


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A started :class:`FakeApi` with a ``contacts`` collection of 250 records."""
    with FakeApi(seed={"contacts": 250}) as api:
        yield api
