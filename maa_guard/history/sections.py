"""A drift as titled tables of plain text rows, shared by the terminal and Markdown output.

Rows hold the tenant's strings as they are; each output escapes every cell on its own terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from maa_guard.history.drift import (
    ApproverMember,
    CredentialChange,
    CredentialState,
    Drift,
    ExclusionItem,
    FieldChange,
    FieldValue,
    PolicyChange,
    PolicyState,
    ScanSide,
)
from maa_guard.history.records import StoredFinding

Row = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


def sections(drift: Drift) -> list[Section]:
    """The non-empty sections, in a fixed order."""
    candidates = [
        Section("Policies", ("Change", "Policy", "Details"), _policy_rows(drift)),
        Section("Approver members", ("Change", "Approver group", "Member"), _member_rows(drift)),
        Section("Exclusions", ("Change", "Policy", "Excluded app"), _exclusion_rows(drift)),
        Section(
            "Credentials on excluded apps",
            ("Change", "App", "Credential", "Details"),
            _credential_rows(drift),
        ),
        Section(
            "Failing findings",
            ("Change", "Severity", "Rule", "Resource", "Finding"),
            _finding_rows(drift),
        ),
    ]
    return [section for section in candidates if section.rows]


def side_line(side: ScanSide) -> str:
    from maa_guard.snapshot.codec import format_datetime

    version = f", evaluated by maa-guard {side.tool_version}" if side.tool_version else ""
    return f"{side.label}, collected {format_datetime(side.snapshot.collected_at)}{version}"


def summary_line(drift: Drift) -> str:
    if drift.is_empty:
        return "No drift."
    parts = [
        _count(
            len(drift.policies_added) + len(drift.policies_removed) + len(drift.policies_changed),
            "policy change",
        ),
        _count(len(drift.approvers_added) + len(drift.approvers_removed), "approver change"),
        _count(len(drift.exclusions_added) + len(drift.exclusions_removed), "exclusion change"),
        _count(
            len(drift.credentials_added)
            + len(drift.credentials_removed)
            + len(drift.credentials_changed),
            "credential change",
        ),
        f"{len(drift.findings_new)} new and {len(drift.findings_resolved)} resolved "
        "failing finding(s)",
    ]
    return "Drift: " + ", ".join(parts) + "."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def value_text(value: FieldValue) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return f'"{value}"' if value else "(empty)"


def changes_text(changes: tuple[FieldChange, ...]) -> str:
    return "; ".join(f"{c.field}: {value_text(c.before)} -> {value_text(c.after)}" for c in changes)


def _labelled(name: str, object_id: str) -> str:
    return f"{name} ({object_id})" if name and name != object_id else object_id


def _policy_rows(drift: Drift) -> tuple[Row, ...]:
    return (
        *(("added", _policy(p), _policy_details(p)) for p in drift.policies_added),
        *(("removed", _policy(p), _policy_details(p)) for p in drift.policies_removed),
        *(("changed", _changed_policy(c), changes_text(c.changes)) for c in drift.policies_changed),
    )


def _policy(policy: PolicyState) -> str:
    return _labelled(policy.display_name, policy.id)


def _changed_policy(change: PolicyChange) -> str:
    return _labelled(change.display_name, change.id)


def _policy_details(policy: PolicyState) -> str:
    return (
        f"type {policy.policy_type}, platform {policy.policy_platform}, "
        f"approver groups {value_text(policy.approver_group_ids)}"
    )


def _member_rows(drift: Drift) -> tuple[Row, ...]:
    return (
        *(("added", *_member(m)) for m in drift.approvers_added),
        *(("removed", *_member(m)) for m in drift.approvers_removed),
    )


def _member(member: ApproverMember) -> tuple[str, str]:
    return (
        _labelled(member.group_name, member.group_id),
        f"{member.member_type} {_labelled(member.member_name, member.member_id)}",
    )


def _exclusion_rows(drift: Drift) -> tuple[Row, ...]:
    return (
        *(("added", *_exclusion(e)) for e in drift.exclusions_added),
        *(("removed", *_exclusion(e)) for e in drift.exclusions_removed),
    )


def _exclusion(item: ExclusionItem) -> tuple[str, str]:
    return _labelled(item.policy_name, item.policy_id), _labelled(item.app_name, item.app_id)


def _credential_rows(drift: Drift) -> tuple[Row, ...]:
    return (
        *(("added", *_credential(c), _credential_details(c)) for c in drift.credentials_added),
        *(("removed", *_credential(c), _credential_details(c)) for c in drift.credentials_removed),
        *(_changed_credential(c) for c in drift.credentials_changed),
    )


def _credential(state: CredentialState) -> tuple[str, str]:
    name = _labelled(state.display_name, state.credential_id)
    return _labelled(state.app_name, state.app_id), f"{state.kind} {name} on the {state.holder}"


def _credential_details(state: CredentialState) -> str:
    if state.kind == "federated":
        return f"issuer {value_text(state.issuer)}, subject {value_text(state.subject)}"
    return f"expires {state.expires or '(never)'}"


def _changed_credential(change: CredentialChange) -> Row:
    return ("changed", *_credential(change.after), changes_text(change.changes))


def _finding_rows(drift: Drift) -> tuple[Row, ...]:
    return (
        *(("new", *_finding(f)) for f in drift.findings_new),
        *(("resolved", *_finding(f)) for f in drift.findings_resolved),
    )


def _finding(finding: StoredFinding) -> tuple[str, str, str, str]:
    resource = f"{finding.resource_type} {_labelled(finding.resource_name, finding.resource_id)}"
    return finding.severity.label, finding.rule_id, resource.strip(), finding.message
