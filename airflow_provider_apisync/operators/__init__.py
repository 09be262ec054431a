"""Airflow operators: pulls, pushes and reconciliation."""
