"""One self-contained HTML file: summary and severity chart, coverage matrix, approver groups,
exclusions with their hardening status, and every finding with its remediation.

Jinja2 renders ``templates/report.html.j2`` with autoescaping on, and a ``finalize`` hook makes
every string inert (``text.inert``) before it is escaped. The page makes no request of its own:
styles are inline, the chart is inline SVG, and a Content-Security-Policy forbids scripts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maa_guard.catalogue import controls_text
from maa_guard.evaluate.context import Context
from maa_guard.evaluate.engine import ScanResult
from maa_guard.exclusions import ExcludedApp
from maa_guard.model import Finding, Severity, Status
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.summary import (
    SEVERITIES,
    context_of,
    describe_source,
    failing,
    quieted,
    resource_label,
    sources,
    summarise,
    suppression_note,
    unverified,
    with_status,
)
from maa_guard.reporters.templating import html_environment
from maa_guard.snapshot import Group
from maa_guard.snapshot.codec import encode, format_datetime
from maa_guard.workloads import WORKLOADS, policies_protecting, unprotected_parts

if TYPE_CHECKING:
    pass

TEMPLATE = "report.html.j2"
HARDENING_RULES = ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406", "MAA407")
SEVERITY_COLOURS = {
    Severity.CRITICAL: "#7f1d1d",
    Severity.HIGH: "#dc2626",
    Severity.MEDIUM: "#d97706",
    Severity.LOW: "#2563eb",
}
BAR_HEIGHT, BAR_GAP, BAR_MAX_WIDTH, LABEL_WIDTH = 22, 8, 300, 80


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    colour: str
    y: int
    width: int


def render(result: ScanResult, options: RenderOptions) -> str:
    template = html_environment("maa_guard.reporters").get_template(TEMPLATE)
    return template.render(_page(result, context_of(result)))


def _page(result: ScanResult, ctx: Context) -> dict[str, Any]:
    snapshot = result.snapshot
    summary = summarise(result)
    return {
        "tool_version": result.tool_version,
        "fail_on": result.settings.fail_on.label,
        "warnings": result.warnings,
        "summary": summary,
        "tenant": snapshot.tenant,
        "collected_at": format_datetime(snapshot.collected_at),
        "window": (format_datetime(snapshot.window.start), format_datetime(snapshot.window.end)),
        "bars": _bars(summary.failing),
        "chart_height": len(SEVERITIES) * (BAR_HEIGHT + BAR_GAP),
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
        "sources": [
            (name, status.state.value, describe_source(name, status))
            for name, status in sources(result).items()
        ],
        "coverage": _coverage(ctx),
        "policies": snapshot.policies,
        "groups": _approver_groups(ctx),
        "exclusions": _exclusions(result, ctx.excluded_apps),
        "hardening_rules": HARDENING_RULES,
        "sections": _finding_sections(result),
    }


def _bars(counts: dict[Severity, int]) -> list[Bar]:
    scale = max(counts.values(), default=0) or 1
    return [
        Bar(
            severity.label,
            counts[severity],
            SEVERITY_COLOURS[severity],
            index * (BAR_HEIGHT + BAR_GAP),
            round(counts[severity] * BAR_MAX_WIDTH / scale),
        )
        for index, severity in enumerate(SEVERITIES)
    ]


def _coverage(ctx: Context) -> list[dict[str, Any]]:
    """One row per workload: a tick per policy whose type protects it."""
    rows = []
    for workload in WORKLOADS:
        ticks = [policy.policy_type in workload.policy_types for policy in ctx.snapshot.policies]
        missing = unprotected_parts(workload, policies_protecting(workload, ctx.snapshot.policies))
        rows.append(
            {
                "label": workload.label,
                "name": workload.name,
                "ticks": ticks,
                "protected": not missing,
                "coverage": "yes"
                if not missing
                else "no"
                if not any(ticks)
                else "partial: not " + ", ".join(missing),
            }
        )
    return rows


def _approver_groups(ctx: Context) -> list[dict[str, Any]]:
    groups = []
    for group_id, policies in ctx.approver_group_policies.items():
        group = ctx.groups_by_id.get(group_id)
        groups.append(
            {
                "id": group_id,
                "name": group.display_name if group else "",
                "exists": group is not None,
                "policies": [p.display_name or p.id for p in policies],
                "members": _members(ctx, group) if group else [],
                "others": _other_members(group) if group else [],
            }
        )
    return groups


def _members(ctx: Context, group: Group) -> list[dict[str, Any]]:
    members = []
    for member in ctx.user_members(group):
        user = ctx.users_by_id.get(member.id)
        members.append(
            {
                "name": (user.display_name if user else "") or member.display_name,
                "upn": ctx.user_label(member),
                "kind": user.user_type if user else "unknown",
                "enabled": _yes_no(user.account_enabled if user else None),
                "licensed": _yes_no(user.intune_licensed if user else None),
            }
        )
    return members


def _other_members(group: Group) -> list[str]:
    return [f"{m.type} {m.display_name or m.id}" for m in group.members if m.type != "user"]


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _exclusions(result: ScanResult, items: Iterable[ExcludedApp]) -> list[dict[str, Any]]:
    index = {
        (f.rule_id, f.resource.id.lower()): f
        for f in result.findings
        if f.rule_id in HARDENING_RULES
    }
    unverifiable = {
        f.rule_id
        for f in result.findings
        if f.rule_id in HARDENING_RULES and f.resource.type == "tenant"
    }
    rows = []
    for item in items:
        statuses = [
            _hardening(
                rule_id,
                index.get((rule_id, item.app_id.lower())),
                rule_id in unverifiable,
                rule_id in result.rules,
            )
            for rule_id in HARDENING_RULES
        ]
        rows.append(
            {
                "app": item.display_name or item.app_id,
                "app_id": item.app_id,
                "policy": item.policy_name or item.policy_id,
                "sources": ", ".join(sorted(s.value for s in item.sources)),
                "declared": item.declared is not None,
                "statuses": statuses,
            }
        )
    return rows


def _hardening(
    rule_id: str, finding: Finding | None, unverifiable: bool, selected: bool
) -> dict[str, str]:
    """The status of one hardening rule for one app, as a cell of the exclusions table."""
    if finding is not None:
        status = "suppressed" if finding.is_suppressed else finding.status.value
        return {"rule": rule_id, "status": status, "title": finding.message}
    if unverifiable:
        return {"rule": rule_id, "status": "error", "title": "could not verify"}
    reason = "not evaluated" if selected else "rule not selected"
    return {"rule": rule_id, "status": "none", "title": reason}


def _finding_sections(result: ScanResult) -> list[dict[str, Any]]:
    sections = [
        ("failing", "Failing findings", failing(result), False),
        ("unverified", "Could not verify", unverified(result), False),
        ("quieted", "Suppressed and baselined", quieted(result), False),
        ("passed", "Passed and skipped", with_status(result, Status.PASS, Status.SKIPPED), True),
    ]
    controls = {rule_id: controls_text(rule.frameworks) for rule_id, rule in result.rules.items()}
    return [
        {
            "id": key,
            "title": title,
            "collapsed": collapsed,
            "findings": [_finding(f, controls.get(f.rule_id, "")) for f in findings],
        }
        for key, title, findings, collapsed in sections
    ]


def _finding(finding: Finding, controls: str) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "slug": finding.slug,
        "title": finding.title,
        "controls": controls,
        "severity": finding.severity.label,
        "status": finding.status.value,
        "resource": resource_label(finding.resource),
        "message": finding.message,
        "remediation": finding.remediation,
        "note": suppression_note(finding),
        "evidence": json.dumps(
            encode(finding.evidence), indent=2, ensure_ascii=False, sort_keys=True
        )
        if finding.evidence
        else "",
        "fingerprint": finding.fingerprint,
    }
