"""Airflow operators: pulls, pushes and reconciliation."""

from airflow_provider_apisync.operators.bulk import ApiBulkJobOperator
from airflow_provider_apisync.operators.pull import ApiPullOperator
from airflow_provider_apisync.operators.push import ApiPushOperator
from airflow_provider_apisync.operators.reconcile import ApiReconcileOperator
from airflow_provider_apisync.pull.incremental import Incremental

__all__ = [
    "ApiBulkJobOperator",
    "ApiPullOperator",
    "ApiPushOperator",
    "ApiReconcileOperator",
    "Incremental",
]
