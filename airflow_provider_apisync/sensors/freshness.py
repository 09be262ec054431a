"""``DataFreshnessSensor``: wait until an API serves data that is recent enough."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError, ApiError
from airflow_provider_apisync.client.ratelimit import closed_window
from airflow_provider_apisync.client.records import decode_json, get_path
from airflow_provider_apisync.client.timestamps import TimestampError, parse_timestamp
from airflow_provider_apisync.sensors._base import MIN_WAIT_S, ApiSensorBase, CheckResult
from airflow_provider_apisync.sensors._probe import wait_for
from airflow_provider_apisync.vocabulary import Vocabulary

if TYPE_CHECKING:
    from airflow_provider_apisync.compat import Context

_MISSING = object()


class DataFreshnessSensor(Vocabulary, ApiSensorBase):
    """Succeeds once the newest timestamp the API reports is fresh enough.

    One ``GET endpoint`` per check (first page only: sort or filter so the newest record is
    on it, e.g. ``query={"sort": "-updated_at", "limit": 1}``). The timestamp is read at
    ``timestamp_path`` (a status field such as ``meta.last_updated``) or as the newest
    ``timestamp_field`` among the records at ``records_path`` (``None``: the body is a list).
    ISO 8601 with any zone (none = UTC) and epoch seconds/milliseconds are understood.

    Fresh means ``now - newest <= max_age``, or ``newest >= newer_than`` (templated, e.g.
    ``"{{ data_interval_end }}"``); give exactly one. The observed lag is logged on every
    check and returned (XCom): ``{"fresh", "newest", "lag_s", "endpoint", ...}``.
    A 429 waits for the announced reset; a 404 counts as "no data yet"; auth errors and
    unparseable timestamps fail at once (``AirflowFailException``).

    :param endpoint: path to GET (templated).
    :param query: HTTP query parameters (templated). ``params=`` is refused: that name is
        Airflow's DAG/task Params, and Airflow would swallow it silently.
    :param headers: extra request headers.
    :param timestamp_path: dotted path to one timestamp (templated).
    :param records_path: dotted path to the records list (templated).
    :param timestamp_field: dotted path inside each record (templated).
    :param max_age: ``timedelta`` (or seconds) the newest record may be old.
    :param newer_than: the newest record must be at least this recent (templated).
    :param deferrable: defer between checks; default ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "query",
        "newer_than",
        "timestamp_path",
        "records_path",
        "timestamp_field",
    )
    template_fields_renderers = {"query": "json"}
    ui_color = "#d9f0e3"

    def __init__(
        self,
        *,
        endpoint: str,
        apisync_conn_id: str = "apisync_default",
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timestamp_path: str | None = None,
        records_path: str | None = None,
        timestamp_field: str | None = None,
        max_age: timedelta | float | None = None,
        newer_than: str | datetime | None = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(apisync_conn_id=apisync_conn_id, deferrable=deferrable, **kwargs)
        _check_where(timestamp_path, records_path, timestamp_field)
        if (max_age is None) == (newer_than is None):
            raise ApiConfigError(
                "max_age",
                "give exactly one of max_age and newer_than.",
                "e.g. max_age=timedelta(hours=1) or newer_than='{{ data_interval_end }}'.",
            )
        self.endpoint = endpoint
        self.query = dict(query or {})
        self.headers = dict(headers or {})
        self.timestamp_path = timestamp_path
        self.records_path = records_path
        self.timestamp_field = timestamp_field
        self.max_age = _max_age(max_age)
        self.newer_than = newer_than

    def check(self, context: Context) -> CheckResult:
        threshold = self._threshold()
        try:
            resp = self.probe_client.request(
                "GET",
                self.endpoint,
                params=self.query or None,
                headers=self.headers or None,
            )
        except ApiError as exc:
            closed = closed_window(exc)
            if closed is not None:
                self.log.info("Rate limited (HTTP %s): checking again after the reset", exc.status)
                wait = wait_for(closed.status, 0.5, MIN_WAIT_S)
                return CheckResult(False, self._report(None, None, "rate_limited"), wait)
            if exc.status == 404:
                self.log.info("GET %s -> 404: no data yet", self.endpoint)
                return CheckResult(False, self._report(None, None, "not_found"))
            raise
        newest = self.newest(decode_json(resp))
        now = datetime.now(timezone.utc)
        if newest is None:
            self.log.info("GET %s returned no timestamp yet: not fresh", self.endpoint)
            return CheckResult(False, self._report(None, None, "no_data"))
        lag = now - newest
        if self.max_age is not None:
            fresh = lag <= self.max_age
            rule = f"max_age {_human(self.max_age)}"
        else:
            assert threshold is not None
            fresh = newest >= threshold
            rule = f"newer_than {threshold.isoformat()}"
        self.log.info(
            "Newest data %s, lag %s (%s): %s",
            newest.isoformat(),
            _human(lag),
            rule,
            "fresh" if fresh else "stale",
        )
        return CheckResult(fresh, self._report(newest, lag, "fresh" if fresh else "stale"))

    # -- reading the response ------------------------------------------------------------
    def newest(self, body: Any) -> datetime | None:
        """The newest timestamp in ``body``, None when there is none yet."""
        if self.timestamp_path:
            value = get_path(body, self.timestamp_path, _MISSING)
            if value is _MISSING:
                raise ApiContractError(
                    f"timestamp_path '{self.timestamp_path}' not found in GET {self.endpoint} "
                    f"(top level: {_keys(body)}); fix timestamp_path"
                )
            return None if value is None else _parse(value, self.timestamp_path)
        records = get_path(body, self.records_path, _MISSING) if self.records_path else body
        where = self.records_path or "<body>"
        if records is _MISSING:
            raise ApiContractError(
                f"records_path '{self.records_path}' not found in GET {self.endpoint} "
                f"(top level: {_keys(body)}); fix records_path"
            )
        if not isinstance(records, list):
            raise ApiContractError(
                f"records_path '{where}' in GET {self.endpoint} is a "
                f"{type(records).__name__}, not a list of records"
            )
        field = self.timestamp_field or ""
        newest: datetime | None = None
        seen = 0
        for index, record in enumerate(records):
            value = get_path(record, field) if isinstance(record, dict) else None
            if value is None:
                continue
            seen += 1
            stamp = _parse(value, f"{where}[{index}].{field}")
            newest = stamp if newest is None or stamp > newest else newest
        if records and not seen:
            raise ApiContractError(
                f"timestamp_field '{field}' is missing in all {len(records)} records at "
                f"'{where}' of GET {self.endpoint}; fix timestamp_field"
            )
        return newest

    def _threshold(self) -> datetime | None:
        if self.newer_than is None:
            return None
        try:
            return parse_timestamp(self.newer_than)
        except TimestampError as exc:
            raise ApiConfigError(
                "newer_than",
                str(exc),
                "use e.g. newer_than='{{ data_interval_end }}' or an ISO 8601 string.",
            ) from None

    def _report(self, newest: datetime | None, lag: timedelta | None, state: str) -> dict[str, Any]:
        report: dict[str, Any] = {
            "fresh": state == "fresh",
            "state": state,
            "newest": newest.isoformat() if newest else None,
            "lag_s": round(lag.total_seconds(), 3) if lag is not None else None,
            "endpoint": self.endpoint,
            "checked_at": datetime.now(timezone.utc).isoformat(),
        }
        if self.max_age is not None:
            report["max_age_s"] = self.max_age.total_seconds()
        else:
            threshold = self._threshold()
            report["newer_than"] = threshold.isoformat() if threshold else None
        return report


def _check_where(ts_path: str | None, records_path: str | None, field: str | None) -> None:
    if ts_path and (records_path or field):
        raise ApiConfigError(
            "timestamp_path",
            "give timestamp_path, or records_path + timestamp_field, not both.",
        )
    if not ts_path and not field:
        raise ApiConfigError(
            "timestamp_path",
            "say where the timestamp is.",
            "set timestamp_path='meta.updated_at', or records_path='data' with "
            "timestamp_field='updated_at'.",
        )


def _max_age(value: timedelta | float | None) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value.total_seconds() <= 0:
        raise ApiConfigError("max_age", f"{value!r} is not a positive timedelta.")
    return value


def _parse(value: Any, path: str) -> datetime:
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise ApiContractError(f"unparseable timestamp at '{path}': {exc}") from None


def _keys(body: Any) -> Any:
    return sorted(body)[:20] if isinstance(body, dict) else type(body).__name__


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m", f"{secs}s"]
    return sign + "".join(parts)
