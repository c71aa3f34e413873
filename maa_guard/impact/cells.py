"""The text of each report cell, shared by the terminal, CSV and HTML renderers.

Plain, unescaped text: each renderer escapes it for its own format. A cell resting on a source
that could not be read completely ends in `` (unverified)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from maa_guard.impact.model import Column, ImpactReport, ImpactRow, PolicyRef, Verdict
from maa_guard.snapshot import SourceStatus
from maa_guard.snapshot.codec import format_datetime

UNVERIFIED = " (unverified)"
NEVER = "none recorded"


def when(moment: datetime | None, missing: str = "-") -> str:
    return format_datetime(moment) if moment is not None else missing


def marked(row: ImpactRow, column: Column, text: str) -> str:
    return text + UNVERIFIED if row.is_unverified(column) else text


def policies(refs: Iterable[PolicyRef], empty: str = "no") -> str:
    return "; ".join(ref.label for ref in refs) or empty


def workloads(row: ImpactRow) -> str:
    """``deviceWipe 2 protected; other 3 unprotected``."""
    parts = [f"{w.policy_type} {w.writes} {w.coverage.value}" for w in row.workloads]
    return "; ".join(parts) or "none"


def maa_aware(row: ImpactRow) -> str:
    evidence = row.maa
    if not evidence.aware:
        return "no"
    return (
        f"yes (completed requests: {evidence.completed_requests}, "
        f"resubmissions: {evidence.resubmissions})"
    )


def excluded(row: ImpactRow) -> str:
    text = policies(row.excluded_from)
    if row.declared_only:
        text += f" (declared only: {policies(row.declared_only)})"
    return text


def cells(row: ImpactRow) -> dict[str, str]:
    """Every column of a row as text, in report order."""
    return {
        "verdict": marked(row, Column.VERDICT, row.verdict.value),
        "app": row.label,
        "app_id": row.app_id,
        "workloads": marked(row, Column.WORKLOADS, workloads(row)),
        "writes": marked(row, Column.WRITES, str(row.writes)),
        "last_write": marked(row, Column.LAST_WRITE, when(row.last_write)),
        "last_sign_in": marked(row, Column.LAST_SIGN_IN, when(row.last_sign_in, NEVER)),
        "write_permissions": marked(
            row, Column.WRITE_PERMISSIONS, ", ".join(row.write_permissions) or "none"
        ),
        "protected": marked(row, Column.PROTECTED, row.protection.value),
        "excluded": marked(row, Column.EXCLUDED, excluded(row)),
        "maa_aware": marked(row, Column.MAA_AWARE, maa_aware(row)),
    }


def summary_line(report: ImpactReport) -> str:
    """``8 apps: 1 will-be-blocked, 0 unprotected-workload, ...``."""
    counts = ", ".join(f"{count} {verdict.value}" for verdict, count in report.by_verdict.items())
    return f"{len(report.rows)} apps: {counts}"


def outcome_line(report: ImpactReport) -> str:
    """What the exit code says, in words."""
    blocked = report.count(Verdict.WILL_BE_BLOCKED)
    if blocked:
        text = f"{blocked} app{'s' if blocked != 1 else ''} will be blocked by MAA"
    else:
        text = "no app will be blocked by MAA"
    reasons = []
    if report.incomplete_sources:
        reasons.append("a data source could not be read, so apps may be missing")
    if report.unknown_requestor_reason:
        reasons.append(
            f"{report.unknown_requestors} completed request(s) whose requestor cannot be known"
        )
    if reasons:
        text += f"; INCOMPLETE: {'; '.join(reasons)}"
    return f"{text} (exit {report.exit_code})"


def describe_source(name: str, status: SourceStatus) -> str:
    return status.describe(name)


def window(report: ImpactReport) -> str:
    return f"{when(report.window.start)} to {when(report.window.end)}"
