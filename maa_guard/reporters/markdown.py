"""Markdown for a GitHub job summary: verdict, counts, failing findings, what could not verify.

Every cell goes through ``text.markdown``, so a tenant string cannot open a tag, a link, a code
span or a table column. Suppressed and baselined failures appear only with ``show_suppressed``.
"""

from __future__ import annotations

from collections.abc import Sequence

from maa_guard.catalogue import controls_text
from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Status
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.summary import (
    Summary,
    Verdict,
    describe_source,
    failing,
    filter_line,
    incomplete_sources,
    noted_sources,
    quieted,
    resource_label,
    summarise,
    suppression_note,
    unverified,
)
from maa_guard.reporters.text import markdown
from maa_guard.snapshot.codec import format_datetime

ICONS = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.INCOMPLETE: "⚠️"}


def render(result: ScanResult, options: RenderOptions) -> str:
    summary = summarise(result)
    blocks = [
        _headline(result, summary),
        _tenant(result),
        _counts(summary),
        markdown(filter_line(result)),
        _failing(result),
        _unverified(result),
        _controls(result),
        _source_notes(result),
        _warnings(result.warnings),
    ]
    if options.show_suppressed:
        blocks.append(_quieted(result))
    return "\n\n".join(block for block in blocks if block) + "\n"


def _headline(result: ScanResult, summary: Summary) -> str:
    threshold = result.settings.fail_on
    gating = sum(n for severity, n in summary.failing.items() if severity >= threshold)
    detail = {
        Verdict.FAIL: f"{gating} failing finding(s) at or above {threshold.label}",
        Verdict.INCOMPLETE: f"{summary.by_status[Status.ERROR]} check(s) could not verify",
        Verdict.PASS: f"no failing findings at or above {threshold.label}",
    }[summary.verdict]
    return f"## {ICONS[summary.verdict]} maa-guard: {summary.verdict.value.upper()}, {detail}"


def _tenant(result: ScanResult) -> str:
    snapshot = result.snapshot
    return (
        f"Tenant **{markdown(snapshot.tenant.display_name or snapshot.tenant.id)}** "
        f"({markdown(snapshot.tenant.id)}), collected {format_datetime(snapshot.collected_at)}"
        f", maa-guard {markdown(result.tool_version)}"
    )


def _counts(summary: Summary) -> str:
    statuses = [(status.value, str(count)) for status, count in summary.by_status.items()]
    severities = [(severity.label, str(count)) for severity, count in summary.failing.items()]
    quiet = [
        ("suppressed (not counted)", str(summary.suppressed)),
        ("baselined (not counted)", str(summary.baselined)),
    ]
    return "\n\n".join(
        [
            summary.line,
            _table(("Status", "Checks"), statuses, numeric=True),
            _table(("Failures by severity", "Findings"), [*severities, *quiet], numeric=True),
        ]
    )


def _failing(result: ScanResult) -> str:
    findings = failing(result)
    if not findings:
        return "### Failing findings\n\nNone."
    rows = [(f.severity.label, _rule(f), resource_label(f.resource), f.message) for f in findings]
    return f"### Failing findings ({len(findings)})\n\n" + _table(
        ("Severity", "Rule", "Resource", "Message"), rows
    )


def _unverified(result: ScanResult) -> str:
    findings = unverified(result)
    sources = incomplete_sources(result)
    if not findings and not sources:
        return ""
    parts = [f"### Could not verify ({len(findings)})"]
    if findings:
        rows = [(_rule(f), resource_label(f.resource), f.message) for f in findings]
        parts.append(_table(("Rule", "Resource", "Reason"), rows))
    if sources:
        parts.append(
            "Incomplete data sources:\n\n"
            + "\n".join(
                f"- {markdown(describe_source(name, status))}" for name, status in sources.items()
            )
        )
    return "\n\n".join(parts)


def _controls(result: ScanResult) -> str:
    """The controls each rule with a failing or unverified finding above supports."""
    listed = sorted({f.rule_id for f in (*failing(result), *unverified(result))})
    rules = [result.rules[rule_id] for rule_id in listed if rule_id in result.rules]
    lines = [
        f"- {markdown(f'{rule.id} {rule.slug}: {controls_text(rule.frameworks)}')}"
        for rule in rules
        if rule.frameworks
    ]
    return "### Controls\n\n" + "\n".join(lines) if lines else ""


def _source_notes(result: ScanResult) -> str:
    notes = noted_sources(result)
    if not notes:
        return ""
    lines = [f"- {markdown(describe_source(name, status))}" for name, status in notes.items()]
    return "### Data sources\n\n" + "\n".join(lines)


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return "### Warnings\n\n" + "\n".join(f"- {markdown(text)}" for text in warnings)


def _quieted(result: ScanResult) -> str:
    findings = quieted(result)
    if not findings:
        return "### Suppressed and baselined\n\nNone."
    rows = [
        (f.severity.label, _rule(f), resource_label(f.resource), suppression_note(f))
        for f in findings
    ]
    return f"### Suppressed and baselined ({len(findings)})\n\n" + _table(
        ("Severity", "Rule", "Resource", "Why it does not count"), rows
    )


def _rule(finding: Finding) -> str:
    return f"{finding.rule_id} {finding.slug}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: bool = False) -> str:
    align = ["---", *(["---:"] if numeric else ["---"]) * (len(header) - 1)]
    lines = [_row(header), "| " + " | ".join(align) + " |"]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(markdown(cell) for cell in cells) + " |"
