"""The push engine, Airflow-free: writes, batching, idempotency keys, ledger, runner, drift."""
