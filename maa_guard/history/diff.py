"""Drift between two scans of one tenant: pure functions over two snapshots and their findings.

Each category is a keyed set extracted from a snapshot (``policy_states``, ``approver_members``,
``exclusion_items``, ``credential_states``, ``failing_findings``); the drift is the difference of
the two sides' sets, so applying it to the earlier side's sets gives the later side's exactly.
Keys are case-folded: Graph ids and appIds are case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from maa_guard.exclusions import effective_exclusions
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
from maa_guard.model import Status
from maa_guard.snapshot import (
    FederatedIdentityCredential,
    KeyCredential,
    PasswordCredential,
    ServicePrincipal,
    Snapshot,
)
from maa_guard.snapshot.codec import format_datetime

K = TypeVar("K")
V = TypeVar("V")
# The data sources each category is read from; a source not complete makes it unreliable.
CATEGORY_SOURCES = {
    "policies": ("access_policies",),
    "approver members": ("access_policies", "groups", "users"),
    "exclusions": ("access_policies", "exclusions", "service_principals"),
    "credentials": ("exclusions", "service_principals"),
}


def compute_drift(before: ScanSide, after: ScanSide) -> Drift:
    a, b = before.snapshot, after.snapshot
    policies = _compare(policy_states(a), policy_states(b))
    approvers = _compare(approver_members(a), approver_members(b))
    exclusions_a, exclusions_b = exclusion_items(a), exclusion_items(b)
    exclusions = _compare(exclusions_a, exclusions_b)
    scope = frozenset(key[1] for key in (*exclusions_a, *exclusions_b))
    credentials = _compare(credential_states(a, scope), credential_states(b, scope))
    findings = _compare(failing_findings(before.findings), failing_findings(after.findings))
    return Drift(
        before=before,
        after=after,
        policies_added=_sorted(policies.added, _policy_order),
        policies_removed=_sorted(policies.removed, _policy_order),
        policies_changed=tuple(
            sorted(_policy_changes(policies.common), key=lambda c: (c.display_name.lower(), c.id))
        ),
        approvers_added=_sorted(approvers.added, _member_order),
        approvers_removed=_sorted(approvers.removed, _member_order),
        exclusions_added=_sorted(exclusions.added, _exclusion_order),
        exclusions_removed=_sorted(exclusions.removed, _exclusion_order),
        credentials_added=_sorted(credentials.added, _credential_order),
        credentials_removed=_sorted(credentials.removed, _credential_order),
        credentials_changed=_credential_changes(credentials.common),
        findings_new=_sorted(findings.added, _finding_order),
        findings_resolved=_sorted(findings.removed, _finding_order),
        warnings=source_warnings(before, after),
    )


# ---- the keyed sets --------------------------------------------------------------------------


def policy_states(snapshot: Snapshot) -> dict[str, PolicyState]:
    return {
        policy.id.lower(): PolicyState(
            id=policy.id,
            display_name=policy.display_name,
            policy_type=policy.policy_type,
            policy_platform=policy.policy_platform,
            description=policy.description,
            approver_group_ids=tuple(sorted(set(policy.approver_group_ids))),
        )
        for policy in snapshot.policies
    }


def approver_members(snapshot: Snapshot) -> dict[tuple[str, str], ApproverMember]:
    """Members, direct or transitive, of every group that some access policy names."""
    groups = {group.id.lower(): group for group in snapshot.groups}
    upns = {user.id.lower(): user.user_principal_name for user in snapshot.users}
    members: dict[tuple[str, str], ApproverMember] = {}
    approver_ids = {g.lower() for p in snapshot.policies for g in p.approver_group_ids}
    for group_id in sorted(approver_ids & groups.keys()):
        group = groups[group_id]
        for ref in (*group.members, *group.transitive_members):
            name = upns.get(ref.id.lower()) if ref.type == "user" else None
            members.setdefault(
                (group_id, ref.id.lower()),
                ApproverMember(
                    group.id, group.display_name, ref.id, ref.type, name or ref.display_name
                ),
            )
    return members


def exclusion_items(snapshot: Snapshot) -> dict[tuple[str, str], ExclusionItem]:
    """The tenant's exclusions (not the ones only declared in a config file)."""
    return {
        (item.policy_id.lower(), item.app_id.lower()): ExclusionItem(
            item.policy_id, item.policy_name, item.policy_type, item.app_id, item.display_name
        )
        for item in effective_exclusions(snapshot, ())
    }


def credential_states(
    snapshot: Snapshot, app_ids: frozenset[str]
) -> dict[tuple[str, str, str, str], CredentialState]:
    """Secrets, certificates and federated credentials of the apps in ``app_ids`` (case-folded),
    on the service principal and on its app registration."""
    states: dict[tuple[str, str, str, str], CredentialState] = {}
    for sp in snapshot.service_principals:
        if sp.app_id.lower() in app_ids:
            for state in _credentials_of(sp):
                key = (sp.app_id.lower(), state.holder, state.kind, state.credential_id.lower())
                states.setdefault(key, state)
    return states


def failing_findings(findings: Iterable[StoredFinding]) -> dict[str, StoredFinding]:
    return {f.fingerprint: f for f in findings if f.status is Status.FAIL}


def _credentials_of(sp: ServicePrincipal) -> list[CredentialState]:
    no_federated: tuple[FederatedIdentityCredential, ...] = ()
    holders = [("servicePrincipal", sp.password_credentials, sp.key_credentials, no_federated)]
    if sp.application is not None:
        app = sp.application
        holders.append(
            (
                "application",
                app.password_credentials,
                app.key_credentials,
                app.federated_identity_credentials,
            )
        )
    states = []
    for holder, secrets, keys, federated in holders:
        states += [_keyed(sp, holder, "secret", secret) for secret in secrets]
        states += [_keyed(sp, holder, "certificate", key) for key in keys]
        states += [
            CredentialState(
                sp.app_id,
                sp.display_name,
                holder,
                "federated",
                fic.id or fic.name,
                fic.name,
                issuer=fic.issuer,
                subject=fic.subject or "",
                audiences=tuple(sorted(fic.audiences)),
            )
            for fic in federated
        ]
    return states


def _keyed(
    sp: ServicePrincipal, holder: str, kind: str, credential: PasswordCredential | KeyCredential
) -> CredentialState:
    return CredentialState(
        sp.app_id,
        sp.display_name,
        holder,
        kind,
        credential.key_id,
        credential.display_name,
        starts=_time(credential.start_date_time),
        expires=_time(credential.end_date_time),
    )


def _time(moment: datetime | None) -> str:
    return "" if moment is None else format_datetime(moment)


# ---- comparing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Comparison(Generic[V]):
    added: list[V]
    removed: list[V]
    common: list[tuple[V, V]]


def _compare(before: Mapping[K, V], after: Mapping[K, V]) -> _Comparison[V]:
    return _Comparison(
        added=[after[key] for key in after.keys() - before.keys()],
        removed=[before[key] for key in before.keys() - after.keys()],
        common=[(before[key], after[key]) for key in before.keys() & after.keys()],
    )


def _field_changes(
    before: Mapping[str, FieldValue], after: Mapping[str, FieldValue]
) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(name, before[name], after[name])
        for name in before
        if before[name] != after[name]
    )


_POLICY_FIELDS = {
    "displayName": "display_name",
    "description": "description",
    "policyType": "policy_type",
    "policyPlatform": "policy_platform",
    "approverGroupIds": "approver_group_ids",
}


def policy_fields(policy: PolicyState) -> dict[str, FieldValue]:
    """The compared fields of a policy, by Graph name."""
    values: dict[str, FieldValue] = {
        name: getattr(policy, attribute) for name, attribute in _POLICY_FIELDS.items()
    }
    return values


def _policy_changes(pairs: Iterable[tuple[PolicyState, PolicyState]]) -> list[PolicyChange]:
    changes = []
    for before, after in pairs:
        fields = _field_changes(policy_fields(before), policy_fields(after))
        if fields:
            changes.append(PolicyChange(after.id, after.display_name, fields))
    return changes


def _credential_changes(
    pairs: Iterable[tuple[CredentialState, CredentialState]],
) -> tuple[CredentialChange, ...]:
    changes = [
        CredentialChange(before, after, fields)
        for before, after in pairs
        if (fields := _field_changes(before.compared(), after.compared()))
    ]
    return tuple(sorted(changes, key=lambda change: _credential_order(change.after)))


def _sorted(items: Iterable[V], key: Callable[[V], tuple[str, ...]]) -> tuple[V, ...]:
    return tuple(sorted(items, key=key))


def _policy_order(policy: PolicyState) -> tuple[str, ...]:
    return (policy.display_name.lower(), policy.id.lower())


def _member_order(member: ApproverMember) -> tuple[str, ...]:
    return (
        member.group_name.lower(),
        member.group_id.lower(),
        member.member_name.lower(),
        member.member_id.lower(),
    )


def _exclusion_order(item: ExclusionItem) -> tuple[str, ...]:
    return (item.policy_name.lower(), item.policy_id.lower(), item.app_name.lower(), item.app_id)


def _credential_order(state: CredentialState) -> tuple[str, ...]:
    return (
        state.app_name.lower(),
        state.app_id.lower(),
        state.holder,
        state.kind,
        state.credential_id.lower(),
    )


def _finding_order(finding: StoredFinding) -> tuple[str, ...]:
    return (
        f"{9 - int(finding.severity)}",
        finding.rule_id,
        finding.resource_id.lower(),
        finding.fingerprint,
    )


def source_warnings(before: ScanSide, after: ScanSide) -> tuple[str, ...]:
    """A category read from a source that was not complete on either side may show changes
    that did not happen, or miss some that did."""
    warnings = []
    for category, sources in CATEGORY_SOURCES.items():
        for side in (before, after):
            broken = [
                side.snapshot.source_state(name).describe(name)
                for name in sources
                if not side.snapshot.source_state(name).state.usable
            ]
            if broken:
                warnings.append(
                    f"{category} may be inaccurate: in {side.label}, {'; '.join(broken)}"
                )
    return tuple(warnings)
