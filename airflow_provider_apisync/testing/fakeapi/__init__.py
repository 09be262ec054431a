"""The simulated SaaS API used by tests, the demo and benchmarks."""

from airflow_provider_apisync.testing.fakeapi.auth import FakeAuth
from airflow_provider_apisync.testing.fakeapi.http import Request, Response
from airflow_provider_apisync.testing.fakeapi.server import FakeApi

__all__ = ["FakeApi", "FakeAuth", "Request", "Response"]
