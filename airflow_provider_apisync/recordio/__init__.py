"""Record files shared by the pull, push, reconcile and bulk engines: JSONL and records inputs.

Not HTTP, so not in ``client/``: encoding records to part files and reading a records
input (manifest, URI, list). The public face for DAG authors is
:mod:`airflow_provider_apisync.records`; dotted-path lookups on decoded response bodies
(``get_path``, ``select_records``) stay in ``client/records.py`` because pagination and
auto-detection read them from every page.
"""
