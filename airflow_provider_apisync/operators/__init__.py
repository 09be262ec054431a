"""Airflow operators: pulls, pushes, reconciliation and bulk jobs (with their spec objects)."""

from airflow_provider_apisync.bulk.spec import (
    BulkPolling,
    BulkResults,
    BulkStates,
    BulkUpload,
)
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
    "BulkPolling",
    "BulkResults",
    "BulkStates",
    "BulkUpload",
    "Incremental",
]
