"""The JSON report: every finding, passes included, in the schema of docs/report-schema.json.

``schema_version`` changes only when a key is removed or its meaning changes; new keys may be
added within a version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from maa_guard.catalogue import Rule
from maa_guard.evaluate.display import DisplayFilter
from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Status, Suppression
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.summary import Summary, sources, summarise
from maa_guard.snapshot import SourceStatus
from maa_guard.snapshot.codec import encode, format_datetime

REPORT_SCHEMA_VERSION = 1
_ACTIONABLE = frozenset({Status.FAIL, Status.ERROR})
TOOL_NAME = "maa-guard"


def render(result: ScanResult, options: RenderOptions) -> str:
    return "".join(render_chunks(result, options))


def render_chunks(result: ScanResult, options: RenderOptions) -> Iterator[str]:
    """Indented envelope, one finding per line: readable diffs at the C encoder's speed.

    ``indent`` makes ``json`` fall back to its pure-Python encoder, which is several times
    slower, and a large tenant has hundreds of thousands of findings; yielding a finding at a
    time lets the caller write them without holding the whole report in memory.
    """
    head = json.dumps(envelope(result), indent=2, ensure_ascii=False)
    yield f'{head[:-2]},\n  "findings": ['
    encoder = json.JSONEncoder(ensure_ascii=False, default=_plain)
    separator = "\n    "
    for finding in result.findings:
        yield separator + encoder.encode(finding_json(finding))
        separator = ",\n    "
    yield "\n  ]\n}\n" if result.findings else "]\n}\n"


def _plain(value: Any) -> Any:
    """Evidence values that are not JSON types (dates, enums, dataclasses)."""
    return encode(value)


def report(result: ScanResult) -> dict[str, Any]:
    return {**envelope(result), "findings": [finding_json(f) for f in result.findings]}


def envelope(result: ScanResult) -> dict[str, Any]:
    """Everything but the findings."""
    snapshot = result.snapshot
    head = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": result.tool_version},
        "tenant": {"id": snapshot.tenant.id, "display_name": snapshot.tenant.display_name},
        "collected_at": format_datetime(snapshot.collected_at),
        "window": {
            "start": format_datetime(snapshot.window.start),
            "end": format_datetime(snapshot.window.end),
        },
        "settings": {
            "fail_on": result.settings.fail_on.label,
            "allow_incomplete": result.settings.allow_incomplete,
        },
        "sources": {name: _source(status) for name, status in sources(result).items()},
        "summary": _summary(summarise(result)),
        "warnings": list(result.warnings),
        "rules": {rule.id: _rule(rule) for rule in result.rules.values()},
    }
    if result.display is None:
        return head
    shown, total = len(result.findings), len(result.scanned)
    return {**head, "display_filter": _display_filter(result.display, shown, total)}


def _display_filter(display: DisplayFilter, shown: int, total: int) -> dict[str, Any]:
    """Present only under a display filter (``--severity``, ``--framework``, ...): ``findings``
    then holds ``shown`` of the scan's ``total`` findings, and ``summary`` still counts them all."""
    return {
        "severity": None if display.severity is None else display.severity.label,
        "status": [status.value for status in display.statuses],
        "resource": display.resource,
        "framework": None if display.framework is None else display.framework.name,
        "shown": shown,
        "total": total,
    }


def _rule(rule: Rule) -> dict[str, Any]:
    """The rule's title and the controls of other frameworks it supports."""
    return {
        "slug": rule.slug,
        "title": rule.title,
        "frameworks": [
            {"name": m.framework, "control": m.control, "title": m.title, "source": m.source}
            for m in rule.frameworks
        ],
    }


def _source(status: SourceStatus) -> dict[str, Any]:
    return {
        "state": status.state.value,
        "reason": status.reason,
        "missing_permission": status.missing_permission,
        "missing_licence": status.missing_licence,
    }


def _summary(summary: Summary) -> dict[str, Any]:
    return {
        "verdict": summary.verdict.value,
        "rules": summary.rules,
        "checks": summary.checks,
        "by_status": {status.value: count for status, count in summary.by_status.items()},
        "failing_by_severity": {
            severity.label: count for severity, count in summary.failing.items()
        },
        "failing": summary.failing_total,
        "suppressed": summary.suppressed,
        "baselined": summary.baselined,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    """One finding as the report's ``findings`` hold it."""
    resource = finding.resource
    return {
        "rule_id": finding.rule_id,
        "slug": finding.slug,
        "title": finding.title,
        "severity": finding.severity.label,
        "status": finding.status,  # a str enum: encoded as its value, without the slow lookup
        "resource": {
            "type": resource.type,
            "id": resource.id,
            "display_name": resource.display_name,
        },
        "message": finding.message,
        "evidence": finding.evidence,
        "remediation": finding.remediation if finding.status in _ACTIONABLE else None,
        "suppression": _suppression(finding.suppression),
        "fingerprint": finding.fingerprint,
        "baselined": finding.baselined,
        "counts_as_failure": finding.counts_as_failure,
    }


def _suppression(suppression: Suppression | None) -> dict[str, Any] | None:
    if suppression is None:
        return None
    return {
        "reason": suppression.reason,
        "expires": suppression.expires,
        "expired": suppression.expired,
    }
