"""Builders shared by the reporter tests; this module holds no tests of its own."""

from __future__ import annotations

import copy
import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.config import Settings, SuppressionEntry
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.reporters import OutputFormat, RenderOptions, render
from maa_guard.snapshot.file import parse_snapshot

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURE = TESTS / "fixtures" / "reporting-tenant.json"
TODAY = date(2026, 11, 1)
TENANT_ID = "7e3c0d51-0000-4000-8000-00000000aa01"
SUPPRESSIONS = (
    SuppressionEntry(
        "MAA304", "req-pending", "Change freeze until the request is withdrawn", date(2026, 12, 31)
    ),
    SuppressionEntry("MAA303", "req-self", "Accepted during the pilot", date(2026, 10, 1)),
)


@cache
def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return loaded


def tenant_document() -> dict[str, Any]:
    """A fresh copy of the fixture tenant, safe to change in a test."""
    return copy.deepcopy(_document())


def scan(
    document: dict[str, Any] | None = None, known: frozenset[str] = frozenset(), **settings: Any
) -> ScanResult:
    """The fixture tenant (or ``document``) evaluated with the fixture's two suppressions;
    ``known`` holds baseline fingerprints."""
    raw = tenant_document() if document is None else copy.deepcopy(document)
    chosen = Settings(**{"suppressions": SUPPRESSIONS, **settings})
    return evaluate(
        parse_snapshot(raw), load_catalogue(), all_checks(), chosen, TODAY, known, "0.1.0"
    )


def fingerprint_of(result: ScanResult, rule_id: str, resource_id: str) -> str:
    (found,) = [
        f.fingerprint
        for f in result.findings
        if f.rule_id == rule_id and f.resource.id == resource_id
    ]
    return found


def with_incomplete_sources() -> dict[str, Any]:
    """The fixture with groups failed (no permission) and sign-in activity partial (no licence)."""
    document = tenant_document()
    document["sources"]["groups"] = {
        "state": "failed",
        "reason": "HTTP 403 on /groups",
        "missing_permission": "GroupMember.Read.All",
    }
    document["sources"]["sign_in_activity"] = {
        "state": "partial",
        "reason": "first page only",
        "missing_licence": "Microsoft Entra ID P1",
    }
    return document


@cache
def _sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((TESTS / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator


def sarif(result: ScanResult, options: RenderOptions | None = None) -> dict[str, Any]:
    """The SARIF log for ``result``, validated against the official 2.1.0 schema and against
    GitHub's ingestion rule GH1001 (every result location names an artifact URI)."""
    log: dict[str, Any] = json.loads(render(result, OutputFormat.SARIF, options))
    _sarif_validator().validate(log)
    for item in log["runs"][0]["results"]:
        assert item["locations"], item["ruleId"]
        for location in item["locations"]:
            assert location["physicalLocation"]["artifactLocation"]["uri"], item["ruleId"]
    return log


@cache
def report_schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((REPO / "docs" / "report-schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def json_report(result: ScanResult) -> dict[str, Any]:
    """The JSON report for ``result``, validated against docs/report-schema.json."""
    report: dict[str, Any] = json.loads(render(result, OutputFormat.JSON))
    report_schema_validator().validate(report)
    return report


def by_rule_and_resource(findings: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["rule_id"], f["resource"]["id"]): f for f in findings}
