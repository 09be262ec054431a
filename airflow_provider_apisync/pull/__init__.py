"""The pull engine, Airflow-free: page loop, part files, contracts, incremental, fan-out."""
