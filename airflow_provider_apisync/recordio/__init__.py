"""Record files shared by the engines: JSONL parts, records inputs, transforms (not HTTP).

DAG authors use :mod:`airflow_provider_apisync.records`, built on these."""
