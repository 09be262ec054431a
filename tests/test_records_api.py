"""The public records API (read_records / write_records) and ApiPullOperator(transform=):
records -> records between operators, file to file, by direct execute()."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import ObjectStoragePath
from conftest import conn_json
from pull_support import API_KEY, MemoryStore, make_context, read_output
from push_helpers import write_jsonl

from airflow_provider_apisync.client import ApiConfigError
from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPullOperator, Incremental
from airflow_provider_apisync.recordio.source import records_source
from airflow_provider_apisync.records import output_folder, read_records, write_records
from airflow_provider_apisync.testing import FakeApi

N = 30


@pytest.fixture(scope="module")
def api():
    with FakeApi(seed={"contacts": N}) as server:
        yield server


@pytest.fixture(autouse=True)
def conn(api, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    extra = {"auth_type": "api_key", "max_retries": 1, "max_retry_wait": 0.01}
    monkeypatch.setenv("AIRFLOW_CONN_FAKE", conn_json(api.url, password=API_KEY, extra=extra))


def pull(tmp_path, **kwargs):
    return ApiPullOperator(
        task_id="pull",
        apisync_conn_id="fake",
        endpoint="/contacts",
        query={"limit": 10},
        output=f"file://{tmp_path}/out",
        **kwargs,
    )


def test_pull_transform_filters_and_reshapes_while_the_mark_follows_the_api(tmp_path):
    marks = MemoryStore()
    op = pull(tmp_path, transform="records_transforms.keep_odd", incremental=Incremental(
        "updated_at", "updated_since"))  # fmt: skip
    manifest = op.execute(make_context(task_state_store=MemoryStore(), asset_state_store=marks))
    records = read_output(manifest)
    assert records == [{"id": i, "email": f"CONTACTS{i}@EXAMPLE.TEST"} for i in range(1, N + 1, 2)]
    assert (manifest["records"], manifest["filtered"], manifest["pages"]) == (N // 2, N // 2, 3)
    # the high-water mark comes from the API's records (the transform dropped updated_at)
    assert manifest["high_water_mark"] == "2026-01-01T00:30:00.000000Z"


def test_pull_transform_errors_are_clear(tmp_path):
    with pytest.raises(AirflowFailException, match="transform: cannot import 'records_tra"):
        pull(tmp_path, transform="records_transforms.nope").execute(make_context())
    with pytest.raises(ApiConfigError, match="neither a callable nor a dotted path"):
        pull(tmp_path, transform=42)
    op = pull(tmp_path, transform="records_transforms.explode")
    with pytest.raises(AirflowFailException) as info:
        op.execute(make_context(task_state_store=MemoryStore()))
    assert "records_transforms.explode raised KeyError" in str(info.value)
    assert "record 3 of page 2" in str(info.value)


def test_write_records_streams_into_parts_and_a_manifest_push_accepts(tmp_path):
    context = make_context(dag_id="d", task_id="shape")
    records = ({"n": i, "pad": "x" * 50} for i in range(500))  # a generator: never a list
    manifest = write_records(records, name="shaped", context=context, part_size=4096, batch_size=20)
    folder = output_folder("shaped", context)
    assert manifest["uri"] == str(folder).rstrip("/")
    assert str(folder).endswith("/apisync/d/shape/manual__2026-01-02T00_00_00_00_00/shaped")
    assert manifest["records"] == 500 and len(manifest["files"]) > 5  # rotated by size
    on_disk = json.loads((folder / "_manifest.json").read_text())
    assert on_disk == manifest
    assert [r["n"] for r in read_records(manifest)] == list(range(500))
    assert [r["n"] for r in records_source(manifest)] == list(range(500))  # push's reader
    assert [r["n"] for r in read_records(manifest["uri"])][-1] == 499  # the folder URI too
    # a retry writes again from scratch: no part of the first try survives
    again = write_records(iter([{"n": -1}]), name="shaped", context=context)
    assert [r["n"] for r in read_records(again)] == [-1]
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "part-00000.jsonl"]


def test_read_records_is_lazy_and_takes_every_input_form(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"a": {"b": i}} for i in range(3)])
    reader = read_records(f"file://{src}", records_field="a")
    assert next(reader) == {"b": 0}  # an iterator: nothing read ahead
    assert list(reader) == [{"b": 1}, {"b": 2}]
    assert list(read_records([{"x": 1}])) == [{"x": 1}]
    manifest = write_records([{"x": 2}], output=f"file://{tmp_path}/explicit")
    assert manifest["uri"] == f"file://{tmp_path}/explicit"
    assert list(read_records(manifest["uri"] + "/_manifest.json")) == [{"x": 2}]


def test_read_records_refuses_an_unfinished_folder(tmp_path):
    folder = ObjectStoragePath(f"file://{tmp_path}/half")
    folder.mkdir(parents=True)
    (folder / "part-00000.jsonl").write_text('{"x": 1}\n')
    with pytest.raises(ApiConfigError, match=r"source: folder .* has no _manifest.json"):
        list(read_records(str(folder)))


def test_examples_use_only_the_public_api():
    """No example imports a ``_private`` module or name, nor ``client`` internals."""
    import ast
    from pathlib import Path

    public_client = {
        "airflow_provider_apisync.client",
        "airflow_provider_apisync.client.pagination",
    }
    bad = []
    for path in sorted((Path(__file__).parent.parent / "example_dags").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [a.name for a in node.names]
                parts = node.module.split(".")
                private = node.module != "__future__" and any(
                    p.startswith("_") for p in parts + names
                )
                internal = parts[:2] == ["airflow_provider_apisync", "client"] and (
                    node.module not in public_client
                )
                if private or internal:
                    bad.append(f"{path.name}: from {node.module} import {', '.join(names)}")
    assert bad == []
