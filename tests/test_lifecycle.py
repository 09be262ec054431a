"""Sunset/Deprecation headers: one warning per endpoint and signal per run, plus a metric."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from airflow_provider_apisync.client import ApiClient, config_from_connection
from airflow_provider_apisync.client.lifecycle import parse_http_date_or_epoch
from airflow_provider_apisync.testing import FakeApi
from airflow_provider_apisync.testing.fakeapi.lifecycle import deprecate

SUNSET = datetime(2027, 3, 31, tzinfo=timezone.utc)
DEPRECATED = datetime(2026, 6, 30, tzinfo=timezone.utc)
BEARER = "test-bearer-token-0001"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("@1782777600", datetime(2026, 6, 30, tzinfo=timezone.utc)),
        ("Tue, 30 Jun 2026 00:00:00 GMT", datetime(2026, 6, 30, tzinfo=timezone.utc)),
        ("not a date", None),
        ("@x", None),
        ("", None),
    ],
)
def test_parse_deprecation_forms(value, expected):
    assert parse_http_date_or_epoch(value) == expected


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def lifecycle_log():
    logger = logging.getLogger("airflow_provider_apisync.lifecycle")
    collect = _Collect()
    logger.addHandler(collect)
    yield collect
    logger.removeHandler(collect)


@pytest.mark.parametrize("http_date", [False, True], ids=["rfc9745-epoch", "github-http-date"])
def test_one_warning_per_endpoint_and_signal_per_client(lifecycle_log, http_date):
    metrics: list[tuple[str, str, float]] = []
    with FakeApi(seed={"contacts": 30, "companies": 3}) as api:
        deprecate(
            api,
            "/contacts",
            deprecation=DEPRECATED,
            sunset=SUNSET,
            http_date_deprecation=http_date,
            link="https://docs.example/migrate",
        )
        config = config_from_connection(host=api.url, password=BEARER)
        client = ApiClient(
            config, metrics=lambda kind, name, value: metrics.append((kind, name, value))
        )
        for _ in range(5):
            client.request("GET", "/contacts", params={"limit": 5})
        client.request("GET", "/companies")
        warnings = list(lifecycle_log.messages)
        assert len(warnings) == 2, warnings
        assert any(
            "deprecation" in w and "2026-06-30" in w and "/v1/contacts" in w for w in warnings
        )
        assert any("sunset" in w and "2027-03-31" in w for w in warnings)
        assert all("https://docs.example/migrate" in w for w in warnings if "deprecation" in w)
        assert sorted(n for k, n, _ in metrics if n.startswith("lifecycle")) == [
            "lifecycle.deprecation",
            "lifecycle.sunset",
        ]

        # a new client is a new task run: it warns again, once
        lifecycle_log.messages.clear()
        second = ApiClient(config)
        second.request("GET", "/contacts")
        second.request("GET", "/contacts")
        assert len(lifecycle_log.messages) == 2


def test_hook_logs_version_pins_once(set_conn):
    from airflow_provider_apisync.hooks import ApiSyncHook

    logger = logging.getLogger("airflow_provider_apisync.hooks.apisync")
    collect = _Collect()
    logger.addHandler(collect)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with FakeApi(seed={"contacts": 3}, prefix="/2025-01") as api:
            set_conn(
                "pinned",
                api.url,
                password=BEARER,
                extra={"headers": {"Stripe-Version": "2024-06-20", "X-Trace": "1"}},
            )
            hook = ApiSyncHook("pinned")
            hook.request("GET", "/contacts")
            hook.request("GET", "/contacts")
    finally:
        logger.removeHandler(collect)
        logger.setLevel(old_level)
    pins = [m for m in collect.messages if "pins API version" in m]
    assert pins == [
        "connection pinned pins API version (base path /2025-01, header Stripe-Version: 2024-06-20)"
    ]
