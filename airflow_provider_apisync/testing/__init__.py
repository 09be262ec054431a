"""Test helpers shipped with the provider: ``FakeApi``, ``dagrun.AirflowEnv`` and an opt-in
pytest plugin (``pytest_plugin``, the ``fake_api`` fixture); see docs/testing.md."""

from airflow_provider_apisync.testing.fakeapi import (
    FakeApi,
    FakeAuth,
    Fault,
    Faults,
    RateLimit,
    Request,
    Response,
)

__all__ = ["FakeApi", "FakeAuth", "Fault", "Faults", "RateLimit", "Request", "Response"]
