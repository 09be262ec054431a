"""Airflow operators: pulls, pushes, reconciliation and bulk jobs (with their spec objects)."""

from airflow_provider_apisync.operators.bulk import ApiBulkJobOperator
from airflow_provider_apisync.operators.bulk_spec import (
    BulkPolling,
    BulkResults,
    BulkStates,
    BulkUpload,
)
from airflow_provider_apisync.operators.incremental import Incremental
from airflow_provider_apisync.operators.pull import ApiPullOperator
from airflow_provider_apisync.operators.push import ApiPushOperator
from airflow_provider_apisync.operators.reconcile import ApiReconcileOperator

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
