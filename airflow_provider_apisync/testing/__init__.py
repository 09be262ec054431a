"""Test helpers shipped with the provider: ``FakeApi`` and a pytest fixture."""

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
