"""Runs the selected checks over a snapshot and applies suppressions and the baseline."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from maa_guard.catalogue import Rule
from maa_guard.checks import CheckFunction
from maa_guard.config import Settings, SuppressionEntry
from maa_guard.evaluate.context import Context
from maa_guard.model import (
    Finding,
    Outcome,
    Resource,
    Severity,
    SourceState,
    Status,
    Suppression,
)
from maa_guard.snapshot import Snapshot, SourceStatus
from maa_guard.snapshot.gcpause import paused_gc

log = logging.getLogger("maa_guard.engine")


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything a reporter may show: pure data, no I/O handles."""

    snapshot: Snapshot
    rules: dict[str, Rule]
    findings: tuple[Finding, ...]
    settings: Settings
    tool_version: str
    warnings: tuple[str, ...] = ()
    context: Context | None = field(default=None, compare=False)


def fingerprint(rule_id: str, tenant_id: str, resource_id: str) -> str:
    """Stable across runs and wording: rule ID + tenant + resource id, case-folded."""
    key = f"{rule_id}|{tenant_id.lower()}|{resource_id.lower()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def evaluate(
    snapshot: Snapshot,
    catalogue: Mapping[str, Rule],
    checks: Mapping[str, CheckFunction],
    settings: Settings,
    today: date,
    baseline: frozenset[str] = frozenset(),
    tool_version: str = "",
) -> ScanResult:
    context = Context(snapshot, settings.declared_exclusions)
    selected = {rid: rule for rid, rule in catalogue.items() if settings.selects(rid)}
    findings: list[Finding] = []
    with paused_gc():
        for rule in selected.values():
            outcomes = _run(rule, checks[rule.id], context, settings, snapshot)
            override = settings.rule_settings(rule.id).severity
            findings.extend(_finding(rule, o, snapshot.tenant.id, override) for o in outcomes)
    findings, warnings = _apply_suppressions(findings, settings.suppressions, today)
    if baseline:
        findings = [_baselined(f, baseline) for f in findings]
    return ScanResult(
        snapshot, selected, tuple(findings), settings, tool_version, tuple(warnings), context
    )


def _run(
    rule: Rule, check: CheckFunction, context: Context, settings: Settings, snapshot: Snapshot
) -> list[Outcome]:
    tenant = Resource("tenant", snapshot.tenant.id, snapshot.tenant.display_name)
    missing = _incomplete_sources(rule, snapshot)
    if missing:
        reasons = "; ".join(status.describe(name) for name, status in missing.items())
        return [
            Outcome(
                Status.ERROR, tenant, f"could not verify: {reasons}", {"sources": list(missing)}
            )
        ]
    try:
        outcomes = list(check(context, settings.parameters(rule)))
    except Exception as error:  # a broken check must not turn into a silent pass
        log.debug("check %s failed", rule.id, exc_info=True)
        return [Outcome(Status.ERROR, tenant, f"could not verify: the check failed ({error!r})")]
    return outcomes or [Outcome(Status.SKIPPED, tenant, "nothing to evaluate in this tenant")]


def _incomplete_sources(rule: Rule, snapshot: Snapshot) -> dict[str, SourceStatus]:
    states = {name: snapshot.source_state(name) for name in rule.data_sources}
    return {name: s for name, s in states.items() if s.state is not SourceState.COMPLETE}


def _finding(rule: Rule, outcome: Outcome, tenant_id: str, override: Severity | None) -> Finding:
    severity = override or outcome.severity or rule.severity
    return Finding(
        rule_id=rule.id,
        slug=rule.slug,
        title=rule.title,
        severity=severity,
        status=outcome.status,
        resource=outcome.resource,
        message=outcome.message,
        evidence=outcome.evidence,
        remediation=rule.remediation,
        fingerprint=fingerprint(rule.id, tenant_id, outcome.resource.id),
    )


def _apply_suppressions(
    findings: Iterable[Finding], entries: Iterable[SuppressionEntry], today: date
) -> tuple[list[Finding], list[str]]:
    index = {(e.rule, e.resource.lower()): e for e in entries}
    warnings: set[str] = set()
    result = []
    for finding in findings:
        entry = index.get((finding.rule_id, finding.resource.id.lower()))
        if entry is None or finding.status is not Status.FAIL:
            result.append(finding)
            continue
        expired = entry.expires < today
        if expired:
            warnings.add(
                f"suppression of {entry.rule} for {entry.resource} expired on "
                f"{entry.expires.isoformat()}; the finding counts again"
            )
        result.append(
            _replace(
                finding,
                suppression=Suppression(
                    entry.rule, entry.resource, entry.reason, entry.expires.isoformat(), expired
                ),
            )
        )
    return result, sorted(warnings)


def _baselined(finding: Finding, baseline: frozenset[str]) -> Finding:
    if finding.status is Status.FAIL and finding.fingerprint in baseline:
        return _replace(finding, baselined=True)
    return finding


def _replace(finding: Finding, **changes: object) -> Finding:
    return replace(finding, **changes)  # type: ignore[arg-type]
