"""Airflow hooks."""

from airflow_provider_apisync.hooks.apisync import ApiSyncHook

__all__ = ["ApiSyncHook"]
