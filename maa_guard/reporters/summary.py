"""What every reporter needs to know about a result: counts, verdict, ordering, sources."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, replace

from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE
from maa_guard.evaluate.context import Context
from maa_guard.evaluate.engine import ScanResult
from maa_guard.gate.decision import exit_code
from maa_guard.model import Finding, Resource, Severity, SourceState, Status
from maa_guard.snapshot import SOURCES, SourceStatus

STATUSES = (Status.PASS, Status.FAIL, Status.ERROR, Status.SKIPPED)
SEVERITIES = tuple(sorted(Severity, reverse=True))


class Verdict(str, enum.Enum):
    """The gate's decision, ignoring ``--exit-zero`` (a report-only run still reports a fail)."""

    PASS = "pass"
    FAIL = "fail"
    INCOMPLETE = "incomplete"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Summary:
    rules: int
    checks: int
    by_status: dict[Status, int]
    failing: dict[Severity, int]
    suppressed: int
    baselined: int
    verdict: Verdict

    @property
    def failing_total(self) -> int:
        return sum(self.failing.values())

    @property
    def line(self) -> str:
        """``27 rules, 57 checks: 20 pass, 25 fail, 1 error, 11 skipped``."""
        counts = ", ".join(f"{self.by_status[s]} {s.value}" for s in STATUSES)
        return f"{self.rules} rules, {self.checks} checks: {counts}"


def summarise(result: ScanResult) -> Summary:
    """Counts of the whole scan: a display filter narrows the lists, never the summary."""
    findings = result.scanned
    statuses = Counter(f.status for f in findings)
    failing = Counter(f.severity for f in findings if f.counts_as_failure)
    return Summary(
        rules=len(result.rules),
        checks=len(findings),
        by_status={status: statuses[status] for status in STATUSES},
        failing={severity: failing[severity] for severity in SEVERITIES},
        suppressed=sum(f.is_suppressed for f in findings),
        baselined=sum(f.baselined for f in findings if f.status is Status.FAIL),
        verdict=verdict(result),
    )


def filter_line(result: ScanResult) -> str:
    """``3 of 56 findings shown (severity high and above)``; empty without a display filter."""
    if result.display is None:
        return ""
    shown, total = len(result.findings), len(result.scanned)
    return f"{shown} of {total} findings shown ({result.display.describe()})"


def verdict(result: ScanResult) -> Verdict:
    settings = replace(result.settings, exit_zero=False)
    code = exit_code(replace(result, settings=settings))
    if code == EXIT_FINDINGS:
        return Verdict.FAIL
    return Verdict.INCOMPLETE if code == EXIT_INCOMPLETE else Verdict.PASS


def by_severity(findings: list[Finding]) -> list[Finding]:
    """Most severe first; the engine's order (rule ID, then resource) within a severity."""
    return sorted(findings, key=lambda f: -f.severity)


def failing(result: ScanResult) -> list[Finding]:
    """Failures that count: neither suppressed (unexpired) nor baselined."""
    return by_severity([f for f in result.findings if f.counts_as_failure])


def quieted(result: ScanResult) -> list[Finding]:
    """Failures that do not count: suppressed or known from the baseline."""
    return by_severity(
        [f for f in result.findings if f.status is Status.FAIL and not f.counts_as_failure]
    )


def unverified(result: ScanResult) -> list[Finding]:
    return [f for f in result.findings if f.status is Status.ERROR]


def with_status(result: ScanResult, *statuses: Status) -> list[Finding]:
    return [f for f in result.findings if f.status in statuses]


def sources(result: ScanResult) -> dict[str, SourceStatus]:
    """Every known data source plus any other the snapshot records; unrecorded ones are failed."""
    names = [*SOURCES, *sorted(set(result.snapshot.sources) - set(SOURCES))]
    return {name: result.snapshot.source_state(name) for name in names}


def incomplete_sources(result: ScanResult) -> dict[str, SourceStatus]:
    """Sources rules could not read: partial or failed."""
    return {name: status for name, status in sources(result).items() if not status.state.usable}


def noted_sources(result: ScanResult) -> dict[str, SourceStatus]:
    """Sources rules could read that say something: declared, or complete with a reason
    (where the exclusions came from, a fallback that was used)."""
    return {
        name: status
        for name, status in sources(result).items()
        if status.state.usable and (status.reason or status.state is SourceState.DECLARED)
    }


def describe_source(name: str, status: SourceStatus) -> str:
    """``groups is failed (HTTP 403); missing permission Group.Read.All``."""
    return status.describe(name)


def resource_label(resource: Resource) -> str:
    """``group Helpdesk Approvers (grp-helpdesk)``, or ``group grp-deleted`` without a name."""
    if resource.display_name and resource.display_name != resource.id:
        return f"{resource.type} {resource.display_name} ({resource.id})"
    return f"{resource.type} {resource.id}"


def suppression_note(finding: Finding) -> str:
    """Why a failure does not count, or why it counts again."""
    suppression = finding.suppression
    if suppression is not None and not suppression.expired:
        return f"suppressed until {suppression.expires}: {suppression.reason}"
    if finding.baselined:
        return "known from the baseline"
    if suppression is not None:
        return f"suppression expired on {suppression.expires}: {suppression.reason}"
    return ""


def context_of(result: ScanResult) -> Context:
    """The result's context, or one built from the snapshot when the result carries none."""
    if result.context is not None:
        return result.context
    return Context(result.snapshot, result.settings.declared_exclusions)
