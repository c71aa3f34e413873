"""A JSON report read back (``maa-guard explain --report FILE``): tenant, sources and findings.

The file may come from anywhere, so every field is checked; a report that is not one is bad
input (exit 2) naming the first field that is wrong. Strings are kept exactly: the renderers
make them inert.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maa_guard.errors import InputError
from maa_guard.model import Finding, Resource, Severity, SourceState, Status, Suppression
from maa_guard.reporters.json_report import REPORT_SCHEMA_VERSION
from maa_guard.snapshot import SourceStatus, TenantInfo
from maa_guard.storage.jsontext import load_json_text

_HINT = "give a report written by 'maa-guard scan --output json=FILE' (or --format json)"


class _Malformed(ValueError):
    """A field of the report that is not what a maa-guard JSON report holds."""


@dataclass(frozen=True, slots=True)
class ReportFile:
    tenant: TenantInfo
    sources: dict[str, SourceStatus]
    findings: tuple[Finding, ...]


def load_report(path: Path) -> ReportFile:
    try:
        document = load_json_text(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"report file {path} not found", _HINT) from None
    except OSError as error:
        raise InputError(f"cannot read report {path}: {error.strerror}", _HINT) from None
    except ValueError as error:  # not JSON, not UTF-8, too deep
        raise InputError(f"{path}: not a JSON report: {error}", _HINT) from None
    try:
        return parse_report(document)
    except _Malformed as error:
        raise InputError(f"{path}: not a maa-guard JSON report: {error}", _HINT) from None


def parse_report(document: Any) -> ReportFile:
    report = _object(document, "the document")
    if report.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise _Malformed(f"schema_version: expected {REPORT_SCHEMA_VERSION}")
    tenant = _object(report.get("tenant"), "tenant")
    sources = _object(report.get("sources"), "sources")
    findings = report.get("findings")
    if not isinstance(findings, list):
        raise _Malformed("findings: expected a list")
    return ReportFile(
        TenantInfo(_text(tenant, "id", "tenant"), _text(tenant, "display_name", "tenant")),
        {name: _source(value, f"sources.{name}") for name, value in sources.items()},
        tuple(_finding(item, f"findings[{index}]") for index, item in enumerate(findings)),
    )


def _source(value: Any, where: str) -> SourceStatus:
    source = _object(value, where)
    state = _text(source, "state", where)
    try:
        parsed = SourceState(state)
    except ValueError:
        raise _Malformed(f"{where}.state: unknown state {state!r}") from None
    return SourceStatus(
        parsed,
        reason=_text(source, "reason", where, default=""),
        missing_permission=_optional_text(source, "missing_permission", where),
        missing_licence=_optional_text(source, "missing_licence", where),
    )


def _finding(value: Any, where: str) -> Finding:
    item = _object(value, where)
    resource = _object(item.get("resource"), f"{where}.resource")
    evidence = item.get("evidence", {})
    if not isinstance(evidence, dict):
        raise _Malformed(f"{where}.evidence: expected an object")
    rule_id = _text(item, "rule_id", where)
    resource_id = _text(resource, "id", f"{where}.resource")
    return Finding(
        rule_id=rule_id,
        slug=_text(item, "slug", where),
        title=_text(item, "title", where),
        severity=_severity(item, where),
        status=_status(item, where),
        resource=Resource(
            _text(resource, "type", f"{where}.resource"),
            resource_id,
            _text(resource, "display_name", f"{where}.resource", default=""),
        ),
        message=_text(item, "message", where),
        evidence=evidence,
        remediation=_optional_text(item, "remediation", where) or "",
        fingerprint=_text(item, "fingerprint", where),
        suppression=_suppression(item.get("suppression"), rule_id, resource_id, where),
        baselined=item.get("baselined") is True,
    )


def _suppression(value: Any, rule_id: str, resource_id: str, where: str) -> Suppression | None:
    if value is None:
        return None
    entry = _object(value, f"{where}.suppression")
    return Suppression(
        rule_id,
        resource_id,
        _text(entry, "reason", f"{where}.suppression"),
        _text(entry, "expires", f"{where}.suppression"),
        entry.get("expired") is True,
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{where}: expected an object")
    return value


def _text(item: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if not isinstance(value, str):
        raise _Malformed(f"{where}.{key}: expected a string")
    return value


def _optional_text(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise _Malformed(f"{where}.{key}: expected a string or null")
    return value


def _severity(item: dict[str, Any], where: str) -> Severity:
    text = _text(item, "severity", where)
    try:
        return Severity.parse(text)
    except ValueError:
        raise _Malformed(f"{where}.severity: unknown severity {text!r}") from None


def _status(item: dict[str, Any], where: str) -> Status:
    text = _text(item, "status", where)
    try:
        return Status(text)
    except ValueError:
        raise _Malformed(f"{where}.status: unknown status {text!r}") from None
