"""The distributed-Airflow tests (a package: its conftest must not shadow tests/conftest.py)."""
