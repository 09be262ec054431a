"""Push inputs (JSONL files, pull folders and manifests), parameter checks, streaming."""

from __future__ import annotations

import json
import threading

import pytest
from push_helpers import API_KEY, business_keys, people, task_context, write_jsonl

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.compat import AirflowFailException
from airflow_provider_apisync.operators import ApiPushOperator
from airflow_provider_apisync.push.ledger import DeadLetters, Ledger
from airflow_provider_apisync.push.runner import PushRunner
from airflow_provider_apisync.push.writes import PushSpec
from airflow_provider_apisync.recordio.source import records_source
from airflow_provider_apisync.testing import FakeApi


def pull_folder(tmp_path, records, parts=3, manifest=True):
    """The layout ApiPullOperator writes: part files plus a _manifest.json written last."""
    folder = tmp_path / "pull"
    size = -(-len(records) // parts)
    names = []
    for i in range(parts):
        name = f"part-{i:05d}.jsonl"
        write_jsonl(folder / name, records[i * size : (i + 1) * size])
        names.append(name)
    if manifest:
        body = {"uri": f"file://{folder}", "files": names, "records": len(records)}
        (folder / "_manifest.json").write_text(json.dumps(body))
    return folder


def ids(source):
    return [r["ext_id"] for r in source]


def test_sources_folder_manifest_file_and_list(tmp_path):
    records = people(10)
    folder = pull_folder(tmp_path, records)
    expected = [r["ext_id"] for r in records]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert ids(records_source(f"file://{folder}")) == expected
    assert ids(records_source(str(folder))) == expected  # a plain local path
    assert ids(records_source(str(folder / "_manifest.json"))) == expected
    assert ids(records_source(manifest)) == expected  # the pull's XCom
    assert ids(records_source(json.dumps(manifest))) == expected  # rendered as JSON
    assert ids(records_source(repr(manifest))) == expected  # rendered as a Python dict
    assert ids(records_source({"uri": f"file://{folder}"})) == expected
    assert ids(records_source(str(folder / "part-00001.jsonl"))) == expected[4:8]
    assert ids(records_source(records)) == expected


def test_source_errors_name_the_field_and_the_fix(tmp_path):
    folder = pull_folder(tmp_path, people(4), manifest=False)
    with pytest.raises(ApiConfigError, match=r"records: .*no _manifest.json \(it holds 3"):
        records_source(str(folder))
    with pytest.raises(ApiConfigError, match="does not exist"):
        records_source(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ApiConfigError, match="records: is empty"):
        records_source("")
    with pytest.raises(ApiConfigError, match="manifest has no 'uri'"):
        records_source({"files": ["a.jsonl"]})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ext_id": "P1"}\n{"ext_id": \n')
    with pytest.raises(ApiContractError, match="bad.jsonl line 2"):
        list(records_source(str(bad)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "GET"}, "method"),
        ({"concurrency": 0}, "concurrency"),
        ({"batch_size": 10, "endpoint": "/people/{ext_id}"}, "endpoint"),
        ({"record_key": []}, "record_key"),
        ({"max_error_ratio": 2}, "max_error_ratio"),
        ({"on_error": "ignore"}, "on_error"),
        ({"transform": 42}, "transform"),
    ],
)
def test_bad_parameters_fail_at_parse_time(kwargs, field):
    args = {"task_id": "p", "endpoint": "/people", "records": [], "record_key": "ext_id"}
    with pytest.raises(ApiConfigError, match=f"^{field}: "):
        ApiPushOperator(**{**args, **kwargs})


def test_bad_runtime_inputs_fail_without_retries(tmp_path, set_conn):
    set_conn("crm", "http://127.0.0.1:9", password=API_KEY)
    op = ApiPushOperator(
        task_id="p",
        apisync_conn_id="crm",
        endpoint="/people",
        records=str(tmp_path / "missing"),
        record_key="ext_id",
    )
    with pytest.raises(AirflowFailException, match="records: .* does not exist"):
        op.execute(task_context())
    op = ApiPushOperator(
        task_id="p",
        apisync_conn_id="crm",
        endpoint="/people",
        records=[],
        record_key="ext_id",
        transform="push_helpers.no_such_function",
    )
    with pytest.raises(AirflowFailException, match="transform: cannot import"):
        op.execute(task_context())


def test_pull_folder_with_dotted_transform_and_filtering(tmp_path, set_conn):
    with FakeApi() as api:
        set_conn("crm", api.url, password=API_KEY, extra={"auth_type": "api_key"})
        folder = pull_folder(tmp_path, people(30))
        summary = ApiPushOperator(
            task_id="push",
            apisync_conn_id="crm",
            endpoint="/people/{ext_id}",
            method="PUT",
            records=f"file://{folder}",
            record_key="ext_id",
            transform="push_helpers.even_scores_only",
        ).execute(task_context())
        assert summary["pushed"] == 15 and summary["filtered"] == 15
        held = api.collections["people"].all()
        assert sorted(r["id"] for r in held) == [f"P{i:05d}" for i in range(2, 31, 2)]
        assert all(r["tier"] == "even" for r in held)


def test_memory_is_bounded_by_concurrency_times_batch_size(tmp_path):
    """The input is read lazily: never more than (concurrency + 1) x batch_size ahead."""
    from airflow_provider_apisync.client import ApiClient, config_from_connection

    concurrency, batch = 4, 5
    produced = 0
    gaps: list[int] = []
    lock = threading.Lock()

    def generate():
        nonlocal produced
        for record in people(1000):
            with lock:
                produced += 1
            yield record

    with FakeApi() as api:

        def observe(request):
            if request.path.endswith("/batch"):
                with lock:
                    gaps.append(produced - len(api.collection("people")))
            return None

        api.middlewares.append(observe)
        api.faults.add("slow", delay=0.002)
        from airflow_provider_apisync.compat import ObjectStoragePath

        dead = DeadLetters(ObjectStoragePath(f"file://{tmp_path}/dl"))
        runner = PushRunner(
            ApiClient(
                config_from_connection(
                    host=api.url, password=API_KEY, extra={"auth_type": "api_key"}
                )
            ),
            PushSpec(
                endpoint="/people/batch",
                method="POST",
                key_fields=("ext_id",),
                batch_size=batch,
                batch_body_key="records",
                concurrency=concurrency,
            ),
            Ledger(ObjectStoragePath(f"file://{tmp_path}/ledger")),
            dead,
        )
        counts = runner.run(generate())
        assert counts.pushed == 1000 and len(business_keys(api, "people")) == 1000
    assert len(gaps) == 200
    assert max(gaps) <= (concurrency + 1) * batch


def test_concurrent_workers_share_the_connection_rate_budget(set_conn):
    """16 threads, a budget of 40 requests/s: 80 writes cannot take less than ~1 s."""
    import time

    with FakeApi() as api:
        extra = {"auth_type": "api_key", "rate_limit": {"requests": 40, "per_seconds": 1}}
        set_conn("crm", api.url, password=API_KEY, extra=extra)
        started = time.monotonic()
        summary = ApiPushOperator(
            task_id="push",
            apisync_conn_id="crm",
            endpoint="/people/{ext_id}",
            method="PUT",
            records=people(80),
            record_key="ext_id",
            concurrency=16,
        ).execute(task_context())
        elapsed = time.monotonic() - started
        stamps = sorted(r.at for r in api.log("PUT"))
    assert summary["pushed"] == 80 and summary["throttled"] > 0
    assert elapsed >= 0.9
    # token bucket: in any window of w seconds at most 40 + 40 * w requests (+ clock slack)
    worst = max(
        (j - i + 1) - 40 * (stamps[j] - stamps[i])
        for i in range(len(stamps))
        for j in range(i, len(stamps))
    )
    assert worst <= 43
