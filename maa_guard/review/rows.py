"""What a review shows, as plain-text tables; each renderer escapes the cells its own way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from maa_guard.model import SourceState
from maa_guard.review.model import AppFacts, Review, RuleResult, Scope, Verdict
from maa_guard.snapshot.codec import format_datetime

SCOPE_TEXT = {
    Scope.WRITTEN_WORKLOADS: "the access policies that gate the workloads it writes to",
    Scope.EVERY_POLICY: "every access policy",
    Scope.REQUESTED: "the access policies requested",
}


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "None."


def when(moment: datetime | None) -> str:
    return format_datetime(moment) if moment else "-"


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def verdict_detail(review: Review) -> str:
    """``2 failing rule(s) at or above high``, and what could not verify."""
    reasons = review.reasons
    gating = sum(r.severity >= review.fail_on for r in reasons)
    if review.verdict is Verdict.DO_NOT_EXCLUDE:
        text = f"{gating} failing rule(s) at or above {review.fail_on.label}"
    elif reasons:
        text = f"{len(reasons)} failing rule(s) below {review.fail_on.label}"
    else:
        text = "every exclusion rule passes"
    if not review.complete:
        text += f"; could not verify {_unverified_count(review)}, so this is the best it can be"
    return text


def _unverified_count(review: Review) -> str:
    rules, sources = len(review.unverified), len(review.incomplete_sources)
    parts = [f"{rules} rule(s)"] * bool(rules) + [f"{sources} data source(s)"] * bool(sources)
    return " and ".join(parts) or "everything"


def app_line(review: Review) -> str:
    app = review.app
    return (
        f"{app.display_name or app.app_id} (appId {app.app_id}, service principal "
        f"{app.service_principal_id}) in tenant {review.tenant_name or review.tenant_id} "
        f"({review.tenant_id})"
    )


def times_line(review: Review) -> str:
    return (
        f"reviewed as of {when(review.reviewed_at)} from data collected "
        f"{when(review.collected_at)}; audit window {when(review.window_start)} to "
        f"{when(review.window_end)}; maa-guard {review.tool_version}"
    )


def fix_lines(reason: RuleResult) -> list[str]:
    """The remediation's bullets, one string each, without the leading ``- ``."""
    lines = [line.strip() for line in reason.fix.splitlines() if line.strip()]
    return [line[2:] if line.startswith("- ") else line for line in lines]


def tables(review: Review) -> list[Table]:
    return [
        _scope(review),
        _writes(review),
        _facts(review.app, review),
        _credentials(review.app),
        _owners(review.app),
        _coverage(review.app),
        _checks(review.checks),
        _sources(review),
    ]


def unverified_table(review: Review) -> Table:
    return Table(
        f"Could not verify ({len(review.unverified)})",
        ("Rule", "Reason"),
        tuple((f"{c.rule_id} {c.slug}", c.message) for c in review.unverified),
    )


def _scope(review: Review) -> Table:
    rows = tuple(
        (p.display_name, p.id, p.policy_type, yes_no(p.already_excluded))
        for p in review.excluded_from
    )
    title = f"Assessed as excluded from {SCOPE_TEXT[review.scope]}"
    return Table(title, ("Access policy", "Id", "Type", "Already excluded"), rows)


def _writes(review: Review) -> Table:
    rows = tuple(
        (w.label, str(w.writes), str(w.blocked), when(w.last_write), ", ".join(w.policy_ids) or "-")
        for w in review.writes
    )
    header = ("Workload", "Writes", "Blocked", "Last write", "Gating policies")
    return Table("App-only Intune writes in the audit window", header, rows)


def _facts(app: AppFacts, review: Review) -> Table:
    home = app.home_tenant_id or "unknown"
    if app.registered_in_tenant is not None:
        home += " (this tenant)" if app.registered_in_tenant else " (another tenant)"
    rows = (
        ("Type", app.service_principal_type),
        ("Enabled", yes_no(app.account_enabled)),
        ("Home tenant", home),
        ("App registration visible", yes_no(app.registration_visible)),
        ("Graph application permissions", ", ".join(app.graph_permissions) or "none"),
        ("Last app-only sign-in", when(app.last_app_only_sign_in)),
    )
    return Table("The app", ("Fact", "Value"), rows)


def _credentials(app: AppFacts) -> Table:
    rows = tuple(
        (
            c.kind,
            c.holder,
            c.display_name,
            c.key_id,
            when(c.start),
            when(c.end),
            " ".join(part for part in (c.issuer, c.subject) if part) or "-",
        )
        for c in app.credentials
    )
    header = ("Kind", "On", "Name", "Id", "Valid from", "Valid to", "Issuer and subject")
    return Table("Credentials", header, rows)


def _owners(app: AppFacts) -> Table:
    rows = tuple((o.holder, o.type, o.display_name, o.id) for o in app.owners)
    return Table("Owners", ("On", "Type", "Name", "Id"), rows)


def _coverage(app: AppFacts) -> Table:
    rows = tuple(
        (p.display_name, p.id, p.state, yes_no(p.restricts), p.note or "-")
        for p in app.conditional_access
    )
    header = ("Policy", "Id", "State", "Restricts this app", "Why not")
    return Table(
        "Conditional Access policies that include this app",
        header,
        rows,
        "None: no Conditional Access policy includes this service principal.",
    )


def _checks(checks: Sequence[RuleResult]) -> Table:
    rows = tuple(
        (f"{c.rule_id} {c.slug}", c.severity.label, c.status.value, c.message) for c in checks
    )
    return Table("Every rule", ("Rule", "Severity", "Status", "Message"), rows)


def _sources(review: Review) -> Table:
    rows = tuple(
        (s.name, s.state.value, _source_detail(s.state, s.reason, s.missing_permission))
        for s in review.sources
    )
    return Table("Data sources", ("Source", "State", "Detail"), rows)


def _source_detail(state: SourceState, reason: str, permission: str | None) -> str:
    detail = reason
    if permission:
        detail += ("; " if detail else "") + f"missing permission {permission}"
    return detail or ("-" if state is SourceState.COMPLETE else "no reason recorded")
