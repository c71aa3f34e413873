"""SARIF 2.1.0: the catalogue as ``rules``, failures and unverifiable checks as ``results``.

- A failure is a result of kind ``fail``; its level follows the finding's severity (critical and
  high: ``error``, medium: ``warning``, low: ``note``). A suppressed failure carries an accepted
  external suppression; an expired suppression is left out, so the failure counts again.
- A check that could not verify (status ``error``) is a result of kind ``open`` and level
  ``none``: SARIF's "could not determine whether this passes or fails".
- Passes and skipped checks are not results.
- A rule's tags name the controls it supports, such as ``NIST-800-53:AC-5`` or ``MS-ZTA:21772``.
- A tenant resource is not a file: each result names it as a logical location and, because GitHub
  code scanning requires one, as an artifact URI of the same path (``tenant/<id>/group/<id>``).
- The text a viewer shows (messages, rule texts, location names, suppression justifications)
  has bidirectional controls and zero-width characters shown as ``\\u202e`` (``text.unhidden``),
  so a tenant string cannot disguise a finding; ``properties`` keep the exact data.
- Data sources that are not complete become tool execution notifications on the invocation
  (``error`` failed, ``warning`` partial); a declared source, or a complete one with a reason
  (where its data came from), a ``note``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Resource, Severity, SourceState, Status
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.summary import (
    describe_source,
    incomplete_sources,
    noted_sources,
)
from maa_guard.reporters.text import unhidden
from maa_guard.snapshot import SourceStatus
from maa_guard.snapshot.codec import encode

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "maaGuardFingerprint/v1"
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.0",
    Severity.HIGH: "7.0",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
}


def render(result: ScanResult, options: RenderOptions) -> str:
    return json.dumps(sarif_log(result), indent=2, ensure_ascii=False) + "\n"


def sarif_log(result: ScanResult) -> dict[str, Any]:
    rule_index = {rule_id: index for index, rule_id in enumerate(result.rules)}
    with_baseline = result.settings.baseline is not None
    results = [
        _result(f, rule_index[f.rule_id], result.snapshot.tenant.id, with_baseline)
        for f in result.findings
        if f.status in (Status.FAIL, Status.ERROR)
    ]
    run = {
        "tool": {"driver": _driver(result)},
        "automationDetails": {"id": f"maa-guard/{result.snapshot.tenant.id}/"},
        "invocations": [_invocation(result)],
        "results": results,
        "properties": {
            "tenant": {
                "id": result.snapshot.tenant.id,
                "displayName": result.snapshot.tenant.display_name,
            }
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _driver(result: ScanResult) -> dict[str, Any]:
    rules = []
    for rule in result.rules.values():
        severity = result.settings.rule_settings(rule.id).severity or rule.severity
        rules.append(
            {
                "id": rule.id,
                "name": pascal_case(rule.slug),
                "shortDescription": {"text": unhidden(rule.title)},
                "fullDescription": {"text": unhidden(rule.summary)},
                "help": {
                    "text": unhidden(_help_text(rule.rationale, rule.remediation, rule.references)),
                    "markdown": unhidden(
                        _help_markdown(rule.rationale, rule.remediation, rule.references)
                    ),
                },
                "helpUri": rule.references[0],
                "defaultConfiguration": {"level": LEVELS[severity]},
                "properties": {
                    "security-severity": SECURITY_SEVERITY[severity],
                    "tags": [
                        "security",
                        "intune",
                        "multi-admin-approval",
                        rule.area,
                        *(mapping.tag for mapping in rule.frameworks),
                    ],
                    "slug": rule.slug,
                },
            }
        )
    return {
        "name": "maa-guard",
        "version": result.tool_version,
        "rules": rules,
    }


def pascal_case(slug: str) -> str:
    """``excluded-app-client-secret`` -> ``ExcludedAppClientSecret``."""
    return "".join(part[:1].upper() + part[1:] for part in slug.split("-"))


def _help_text(rationale: str, remediation: str, references: tuple[str, ...]) -> str:
    links = "\n".join(f"- {url}" for url in references)
    return f"Why it matters:\n{rationale}\n\nHow to fix:\n{remediation}\n\nReferences:\n{links}"


def _help_markdown(rationale: str, remediation: str, references: tuple[str, ...]) -> str:
    links = "\n".join(f"- <{url}>" for url in references)
    return (
        f"## Why it matters\n\n{rationale}\n\n## How to fix\n\n{remediation}\n\n"
        f"## References\n\n{links}"
    )


def _result(
    finding: Finding, rule_index: int, tenant_id: str, with_baseline: bool
) -> dict[str, Any]:
    resource = finding.resource
    item: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        **_kind_and_level(finding),
        "message": {
            "text": unhidden(
                f"{resource.type} {resource.display_name or resource.id}: {finding.message}"
            )
        },
        "locations": [_location(resource, tenant_id)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "severity": finding.severity.label,
            "status": finding.status.value,
            "evidence": encode(finding.evidence),
        },
    }
    if finding.is_suppressed and finding.suppression is not None:
        item["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": unhidden(finding.suppression.reason),
            }
        ]
    if with_baseline and finding.status is Status.FAIL:
        item["baselineState"] = "unchanged" if finding.baselined else "new"
    return item


def _kind_and_level(finding: Finding) -> dict[str, str]:
    if finding.status is Status.ERROR:
        return {"kind": "open", "level": "none"}
    return {"kind": "fail", "level": LEVELS[finding.severity]}


def _location(resource: Resource, tenant_id: str) -> dict[str, Any]:
    """The resource as a logical location, ``tenant/<tenantId>/group/<groupId>`` (the tenant
    itself is ``tenant/<tenantId>``), and the same path as the artifact URI, because GitHub code
    scanning rejects a result whose location has no ``physicalLocation.artifactLocation.uri``.
    """
    qualified = f"tenant/{tenant_id}"
    if resource.type != "tenant":
        qualified += f"/{resource.type}/{resource.id}"
    logical = {
        "name": unhidden(resource.display_name or resource.id),
        "fullyQualifiedName": unhidden(qualified),
        "kind": resource.type,
    }
    return {
        "physicalLocation": {"artifactLocation": {"uri": quote(qualified, safe="/")}},
        "logicalLocations": [logical],
    }


def _invocation(result: ScanResult) -> dict[str, Any]:
    problems = incomplete_sources(result)
    noted = {**problems, **noted_sources(result)}
    notifications = [_source_notification(name, status) for name, status in noted.items()]
    notifications += [
        {
            "level": "warning",
            "message": {"text": unhidden(text)},
            "descriptor": {"id": "maa-guard/warning"},
        }
        for text in result.warnings
    ]
    return {
        # The whole scan's, whatever a display filter hides.
        "executionSuccessful": not problems
        and not any(f.status is Status.ERROR for f in result.scanned),
        "toolExecutionNotifications": notifications,
    }


def _source_notification(name: str, status: SourceStatus) -> dict[str, Any]:
    level = {SourceState.FAILED: "error", SourceState.PARTIAL: "warning"}.get(status.state, "note")
    properties = {
        "source": name,
        "state": status.state.value,
        "missingPermission": status.missing_permission,
        "missingLicence": status.missing_licence,
    }
    return {
        "level": level,
        "message": {"text": unhidden(describe_source(name, status))},
        "descriptor": {"id": f"maa-guard/source/{name}"},
        "properties": {k: v for k, v in properties.items() if v is not None},
    }
