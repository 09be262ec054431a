"""Record contracts: JSON Schema per record, primary keys present, clear violations.

Uses ``jsonschema``, which Apache Airflow itself depends on (no new dependency). The
schema's ``$schema`` picks the draft (default: the latest jsonschema supports);
``format`` keywords are checked with jsonschema's format checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_apisync.client.errors import ApiConfigError, ApiContractError
from airflow_provider_apisync.client.records import record_key

MODES = ("fail", "quarantine")
MESSAGE_LIMIT = 200


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field (dotted path), the rule (JSON Schema keyword) and why."""

    field: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class RecordContract:
    """Checks records against ``schema`` and the presence of ``primary_key`` fields."""

    def __init__(
        self,
        schema: Mapping[str, Any] | None,
        *,
        primary_key: tuple[str, ...] = (),
        on_violation: str = "fail",
    ) -> None:
        if on_violation not in MODES:
            raise ApiConfigError(
                "on_contract_violation",
                f"'{on_violation}' is not one of {MODES}.",
                "use 'fail' to stop the pull or 'quarantine' to set bad records aside.",
            )
        self.on_violation = on_violation
        self.primary_key = primary_key
        self.validator: Any = None
        if schema:
            self.validator = _validator(schema)

    @property
    def active(self) -> bool:
        return self.validator is not None or bool(self.primary_key)

    def violations(self, record: Any) -> list[Violation]:
        found: list[Violation] = []
        if self.primary_key and record_key(record, self.primary_key) is None:
            field = ".".join(self.primary_key) if len(self.primary_key) == 1 else "+"
            found.append(Violation(field, "primary_key", "primary key value is missing"))
        if self.validator is not None:
            found.extend(_violation(error) for error in self.validator.iter_errors(record))
        return found

    def split(self, records: list[Any]) -> tuple[list[Any], list[tuple[Any, list[Violation]]]]:
        """(valid records, [(bad record, violations)]) preserving order."""
        good: list[Any] = []
        bad: list[tuple[Any, list[Violation]]] = []
        for record in records:
            found = self.violations(record)
            if found:
                bad.append((record, found))
            else:
                good.append(record)
        return good, bad

    def describe(self, record: Any, found: list[Violation], where: str) -> str:
        """``record id=17 (page 3): field 'email' violates 'type': 5 is not of type 'string'``."""
        key = record_key(record, self.primary_key) if self.primary_key else None
        if key is None and isinstance(record, dict) and "id" in record:
            key = record["id"]
        label = (
            f"record {'+'.join(self.primary_key) or 'id'}={key!r}"
            if key is not None
            else "a record"
        )
        first = found[0]
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        return (
            f"{label} ({where}): field '{first.field}' violates '{first.rule}': "
            f"{first.message}{more}"
        )

    def fail(self, record: Any, found: list[Violation], where: str) -> ApiContractError:
        return ApiContractError(
            self.describe(record, found, where)
            + ". Fix: correct the schema or the source data, or set "
            "on_contract_violation='quarantine' to set such records aside."
        )


def _validator(schema: Mapping[str, Any]) -> Any:
    from jsonschema import exceptions, validators

    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "<root>"
        raise ApiConfigError(
            "schema",
            f"is not a valid JSON Schema at {where}: {exc.message}",
            "fix the schema (see https://json-schema.org/).",
        ) from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _violation(error: Any) -> Violation:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        path.append(missing[0] if missing else "?")
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in allowed]
        path.append(extra[0] if extra else "?")
    message = error.message
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    return Violation(".".join(path) or "<record>", str(error.validator), message)
