"""The simulated SaaS API used by tests, the demo and benchmarks."""

from airflow_provider_apisync.testing.fakeapi.auth import FakeAuth
from airflow_provider_apisync.testing.fakeapi.faults import Fault, Faults
from airflow_provider_apisync.testing.fakeapi.http import Request, Response
from airflow_provider_apisync.testing.fakeapi.ratelimit import RateLimit
from airflow_provider_apisync.testing.fakeapi.server import FakeApi

__all__ = ["FakeApi", "FakeAuth", "Fault", "Faults", "RateLimit", "Request", "Response"]
