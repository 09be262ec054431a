"""Deferrable sensors: rate-limit windows and data freshness."""

from airflow_provider_apisync.sensors.freshness import DataFreshnessSensor
from airflow_provider_apisync.sensors.rate_limit import RateLimitWindowSensor

__all__ = ["DataFreshnessSensor", "RateLimitWindowSensor"]
