"""Shared FakeApi fixtures for the foundation tests: started once per module, reset per test.

Stopping a FakeApi costs up to half a second (``serve_forever`` polling), so tests reuse
servers and get a clean auth, request log, fault plan and middleware list each time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_apisync.testing import FakeApi, FakeAuth


def reset(api: FakeApi, auth: FakeAuth | None = None) -> FakeApi:
    api.auth = auth or FakeAuth()
    api.clear_log()
    api.faults.clear()
    api.middlewares.clear()
    return api


@pytest.fixture(scope="module")
def _api_server() -> Iterator[FakeApi]:
    with FakeApi(seed={"contacts": 30}) as server:
        yield server


@pytest.fixture(scope="module")
def _other_server() -> Iterator[FakeApi]:
    with FakeApi(seed={"contacts": 5}) as server:
        yield server


@pytest.fixture
def api(_api_server: FakeApi) -> FakeApi:
    """The system under test: contacts 1..30, every default FakeAuth credential."""
    return reset(_api_server)


@pytest.fixture
def other(_other_server: FakeApi) -> FakeApi:
    """A second origin (another port on 127.0.0.1) that must never see credentials."""
    return reset(_other_server)
