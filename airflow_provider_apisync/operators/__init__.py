"""Airflow operators: pulls, pushes and reconciliation."""

from airflow_provider_apisync.operators.push import ApiPushOperator

__all__ = ["ApiPushOperator"]
