"""Airflow operators: pulls, pushes and reconciliation."""

from airflow_provider_apisync.operators.push import ApiPushOperator
from airflow_provider_apisync.operators.reconcile import ApiReconcileOperator

__all__ = ["ApiPushOperator", "ApiReconcileOperator"]
