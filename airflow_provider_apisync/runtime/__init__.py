"""The task runtime: what every apisync task shares once it runs inside Airflow (public).

Operators, sensors, the webhook API-server plugin and your own ``@task`` functions may
import these modules. ``client/`` never does; the engines (``pull/``, ``push/``, ``bulk/``,
``recordio/``) only import :mod:`.summary` (pure), ``CheckpointStore`` for type hints and
``storage_path`` inside a function, so importing an engine loads no Airflow
(tests/test_engine_layers.py). Each module is one concept:

- :mod:`.deferral` -- ``[operators] default_deferrable`` and waiting on a
  ``DateTimeTrigger`` (no worker slot, no HTTP and no secret in the triggerer).
- :mod:`.state` -- state that survives retries and deferrals: Airflow 3.3's
  ``task_state_store``/``asset_state_store`` with file/Variable fallbacks before 3.3,
  the try number, and configuration fingerprints (a stored state of another
  configuration is never reused).
- :mod:`.folders` -- where tasks write: ``[apisync] output_base``, the per-run folder,
  user-given storage URIs.
- :mod:`.errors` -- apisync errors mapped to Airflow exceptions (non-retryable ones fail
  the task at once).
- :mod:`.summary` -- the ``apisync summary`` table and ``apisync-summary {json}`` line
  that ends every task log (pure Python).

Version-dependent Airflow names come from :mod:`airflow_provider_apisync.compat` only.
"""
