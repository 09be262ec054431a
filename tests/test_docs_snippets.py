"""The DAG in docs/quickstart.md parses with the operators as they are today."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_apisync.compat import AIRFLOW_V_3_0_PLUS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _dag_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "@dag" in b]


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the quickstart is written for Airflow 3")
def test_quickstart_dag_parses(tmp_path):
    from airflow_provider_apisync.compat import dagbag_class

    DagBag = dagbag_class()

    blocks = _dag_blocks("quickstart.md")
    assert blocks, "quickstart.md lost its DAG example"
    for i, block in enumerate(blocks):
        (tmp_path / f"snippet_{i}.py").write_text(block)
    bag = DagBag(str(tmp_path))
    assert bag.import_errors == {}
    assert "crm_to_erp" in bag.dags
    assert [t.task_id for t in bag.dags["crm_to_erp"].topological_sort()] == [
        "crm_quota",
        "pull_contacts",
        "upsert_customers",
        "reconcile",
    ]
