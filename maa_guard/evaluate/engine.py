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
from maa_guard.evaluate.display import DisplayFilter
from maa_guard.exclusions.provenance import trusted_exclusions
from maa_guard.model import (
    Finding,
    Outcome,
    Resource,
    Severity,
    Status,
    Suppression,
)
from maa_guard.snapshot import MalformedItem, Snapshot, SourceStatus
from maa_guard.snapshot.gcpause import paused_gc

log = logging.getLogger("maa_guard.engine")
NOTHING_TO_EVALUATE = "nothing to evaluate in this tenant"


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
    # Under a display filter ``findings`` is what is shown and ``all_findings`` every finding.
    display: DisplayFilter | None = None
    all_findings: tuple[Finding, ...] | None = None

    @property
    def scanned(self) -> tuple[Finding, ...]:
        """Every finding of the scan, whatever a display filter hides: what the gate decides on
        and what the summary counts."""
        return self.findings if self.all_findings is None else self.all_findings


def displayed(result: ScanResult, display: DisplayFilter) -> ScanResult:
    """The result as ``display`` shows it: its findings narrowed, every finding kept aside."""
    if not display.active:
        return result
    everything = result.scanned
    shown = tuple(finding for finding in everything if display.matches(finding))
    return replace(result, findings=shown, display=display, all_findings=everything)


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
    snapshot = trusted_exclusions(snapshot, settings.trust_declared_exclusions)
    context = Context(snapshot, settings.declared_exclusions)
    selected = {rid: rule for rid, rule in catalogue.items() if settings.selects(rid)}
    findings: list[Finding] = []
    with paused_gc():
        for rule in selected.values():
            outcomes = _run(rule, checks[rule.id], context, settings, snapshot)
            outcomes = with_malformed(outcomes, malformed_outcomes(rule, snapshot))
            override = settings.rule_settings(rule.id).severity
            findings.extend(_finding(rule, o, snapshot.tenant.id, override) for o in outcomes)
    findings, warnings = _apply_suppressions(findings, settings.suppressions, today)
    warnings += _unused_suppressions(findings, settings.suppressions, selected)
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
    return outcomes or [Outcome(Status.SKIPPED, tenant, NOTHING_TO_EVALUATE)]


def with_malformed(outcomes: list[Outcome], malformed: list[Outcome]) -> list[Outcome]:
    """The check's outcomes and the malformed items' errors; with a malformed item there was
    something to evaluate, so "nothing to evaluate" goes."""
    if not malformed:
        return outcomes
    return [o for o in outcomes if not _says_nothing(o)] + malformed


def _says_nothing(outcome: Outcome) -> bool:
    return outcome.status is Status.SKIPPED and outcome.message == NOTHING_TO_EVALUATE


def malformed_outcomes(rule: Rule, snapshot: Snapshot) -> list[Outcome]:
    """One ``error`` per item a source left out as malformed, for every rule reading it: the
    check judged the other items, but cannot have judged this one."""
    found: dict[tuple[str, str], Outcome] = {}
    for name in rule.data_sources:
        for item in snapshot.source_state(name).malformed:
            found.setdefault((item.kind, item.id.lower()), _malformed(name, item))
    return list(found.values())


def _malformed(source: str, item: MalformedItem) -> Outcome:
    what = "is not an object" if item.path == "(document)" else f"has a malformed {item.path}"
    return Outcome(
        Status.ERROR,
        Resource(item.kind, item.id),
        f"could not verify: Graph returned this {item.kind} but it {what} ({item.problem}); "
        "it was left out of the snapshot",
        {"source": source, "field": item.path, "problem": item.problem},
    )


def _incomplete_sources(rule: Rule, snapshot: Snapshot) -> dict[str, SourceStatus]:
    states = {name: snapshot.source_state(name) for name in rule.data_sources}
    return {name: s for name, s in states.items() if not s.state.usable}


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


def _unused_suppressions(
    findings: Iterable[Finding], entries: Iterable[SuppressionEntry], selected: Mapping[str, Rule]
) -> list[str]:
    """One warning per suppression that suppresses nothing, as Trivy reports unused ignores.

    Not for a rule this scan did not run, nor where the rule could not verify (an ``error`` on
    the resource or on the whole tenant): the failure it accepts may still be there."""
    needed: set[tuple[str, str]] = set()
    unverifiable: set[str] = set()
    for finding in findings:
        if finding.status in (Status.FAIL, Status.ERROR):
            needed.add((finding.rule_id, finding.resource.id.lower()))
        if finding.status is Status.ERROR and finding.resource.type == "tenant":
            unverifiable.add(finding.rule_id)
    return sorted(
        {
            f"suppression of {entry.rule} for {entry.resource} suppresses nothing: the scan has "
            "no failing finding of that rule on that resource; remove it from the configuration"
            for entry in entries
            if entry.rule in selected
            and entry.rule not in unverifiable
            and (entry.rule, entry.resource.lower()) not in needed
        }
    )


def _baselined(finding: Finding, baseline: frozenset[str]) -> Finding:
    if finding.status is Status.FAIL and finding.fingerprint in baseline:
        return _replace(finding, baselined=True)
    return finding


def _replace(finding: Finding, **changes: object) -> Finding:
    return replace(finding, **changes)  # type: ignore[arg-type]
