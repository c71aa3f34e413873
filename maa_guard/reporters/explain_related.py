"""The objects a finding names (its resource, and ids in its evidence), looked up in the snapshot.

Every id the evidence holds is a candidate: an object with an ``id`` (a policy, a requestor,
an indirect member) always, a bare string (a group id, a user principal name) only when the
snapshot knows it. Without a snapshot (a report file) the named objects are listed unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maa_guard.model import Finding
from maa_guard.snapshot import (
    AccessPolicy,
    ApprovalRequest,
    ConditionalAccessPolicy,
    DirectoryObjectRef,
    Group,
    IdentitySet,
    ServicePrincipal,
    Snapshot,
    User,
)
from maa_guard.snapshot.codec import format_datetime

Details = tuple[tuple[str, str], ...]
Found = tuple[str, str, str, Details]  # kind, the object's id, its name, details
RESOURCE = "the finding's resource"
KINDS = {
    "accessPolicy": "access policy",
    "group": "group",
    "application": "application",
    "approvalRequest": "approval request",
}


@dataclass(frozen=True, slots=True)
class RelatedObject:
    kind: str  # "access policy", "group", "user", "application", ... or "object" (not looked up)
    id: str
    name: str
    via: str  # the finding's resource, or "evidence: <key>"
    looked_up: bool  # a snapshot was searched
    found: bool
    details: Details = ()


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: str
    name: str
    via: str
    kind: str = "object"
    named: bool = True  # listed even when the snapshot does not know it


def related_objects(finding: Finding, snapshot: Snapshot | None) -> tuple[RelatedObject, ...]:
    index = None if snapshot is None else _Index(snapshot)
    seen: set[str] = set()
    related = []
    for candidate in [*_resource_candidates(finding), *_evidence_candidates(finding.evidence)]:
        found = None if index is None else index.lookup(candidate.id)
        if found is None and not candidate.named:
            continue
        one = _related(candidate, found, looked_up=index is not None)
        if one.id and one.id.casefold() not in seen:
            seen.add(one.id.casefold())
            related.append(one)
    return tuple(related)


def _related(candidate: _Candidate, found: Found | None, looked_up: bool) -> RelatedObject:
    if found is None:
        return RelatedObject(
            candidate.kind, candidate.id, candidate.name, candidate.via, looked_up, False
        )
    kind, ident, name, details = found
    return RelatedObject(kind, ident, name or candidate.name, candidate.via, True, True, details)


def _resource_candidates(finding: Finding) -> list[_Candidate]:
    resource = finding.resource
    if resource.type == "exclusion":  # "<policy id or name>/<appId>"
        policy, _, app = resource.id.rpartition("/")
        return [
            _Candidate(policy, "", f"{RESOURCE} (its policy)", "access policy"),
            _Candidate(app, "", f"{RESOURCE} (its app)", "application"),
        ]
    if resource.type in KINDS:
        return [_Candidate(resource.id, resource.display_name, RESOURCE, KINDS[resource.type])]
    return []  # the tenant, a workload: nothing to look up


def _evidence_candidates(evidence: Mapping[str, Any]) -> Iterator[_Candidate]:
    for key, value in evidence.items():
        yield from _named_in(value, f"named in the evidence ({key})")


def _named_in(value: Any, via: str) -> Iterator[_Candidate]:
    if isinstance(value, dict):
        ident = value.get("id")
        if isinstance(ident, str):
            name = value.get("displayName")
            yield _Candidate(ident, name if isinstance(name, str) else "", via)
        for key, item in value.items():
            if key not in ("id", "displayName"):
                yield from _named_in(item, via)
    elif isinstance(value, list):
        for item in value:
            yield from _named_in(item, via)
    elif isinstance(value, str):
        yield _Candidate(value, "", via, named=False)


# ---- the snapshot's objects -------------------------------------------------------------------


class _Index:
    """Objects by lower-case id (and users by UPN, apps by appId too)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.groups = {g.id.lower(): g for g in snapshot.groups}
        self.users = {u.id.lower(): u for u in snapshot.users}
        self.users.update({u.user_principal_name.lower(): u for u in snapshot.users})
        self.apps = {sp.id.lower(): sp for sp in snapshot.service_principals}
        self.apps.update({sp.app_id.lower(): sp for sp in snapshot.service_principals})
        self.policies = {p.id.lower(): p for p in snapshot.policies}
        self.policies.update({p.display_name.lower(): p for p in snapshot.policies})
        self.requests = {r.id.lower(): r for r in snapshot.approval_requests}
        self.ca_policies = {c.id.lower(): c for c in snapshot.conditional_access_policies}

    def lookup(self, ident: str) -> Found | None:
        key = ident.lower()
        if (policy := self.policies.get(key)) is not None:
            return "access policy", policy.id, policy.display_name, self._policy(policy)
        if (request := self.requests.get(key)) is not None:
            return "approval request", request.id, request.payload_name, _request(request)
        if (group := self.groups.get(key)) is not None:
            return "group", group.id, group.display_name, _group(group)
        if (user := self.users.get(key)) is not None:
            return "user", user.id, user.display_name, _user(user)
        if (app := self.apps.get(key)) is not None:
            return "application", app.app_id, app.display_name, _app(app)
        if (ca := self.ca_policies.get(key)) is not None:
            return "Conditional Access policy", ca.id, ca.display_name, _ca_policy(ca)
        return None

    def _policy(self, policy: AccessPolicy) -> Details:
        groups = [self._group_label(group_id) for group_id in policy.approver_group_ids]
        excluded = [e.display_name or e.app_id for e in policy.exclusions]
        return (
            ("policy type", policy.policy_type),
            ("platform", policy.policy_platform),
            ("approver groups", ", ".join(groups) or "none"),
            ("excluded apps", ", ".join(excluded) or "none"),
            ("last modified", _time(policy.last_modified_date_time)),
        )

    def _group_label(self, group_id: str) -> str:
        group = self.groups.get(group_id.lower())
        return (
            f"{group.display_name} ({group_id})" if group else f"{group_id} (not in the snapshot)"
        )


def _request(request: ApprovalRequest) -> Details:
    return (
        ("status", request.status),
        ("requested", _time(request.request_date_time)),
        ("expires", _time(request.expiration_date_time)),
        ("requestor", _identity(request.requestor)),
        ("approver", _identity(request.approver)),
        ("policy types", ", ".join(request.required_operation_approval_policy_types) or "none"),
        ("change", _change(request)),
        ("request justification", request.request_justification or "none"),
    )


def _change(request: ApprovalRequest) -> str:
    parts = (request.payload_operation, request.payload_type, request.payload_name)
    return " ".join(part for part in parts if part) or "unknown"


def _group(group: Group) -> Details:
    return (
        ("security enabled", _yes_no(group.security_enabled)),
        ("mail enabled", _yes_no(group.mail_enabled)),
        ("group types", ", ".join(group.group_types) or "none"),
        ("role-assignable", _yes_no(group.is_assignable_to_role)),
        ("dynamic membership rule", group.membership_rule or "none"),
        ("synced from on-premises", _yes_no(group.on_premises_sync_enabled)),
        ("members", f"{len(group.members)} direct, {len(group.transitive_members)} transitive"),
        ("owners", _names(group.owners)),
    )


def _user(user: User) -> Details:
    return (
        ("user principal name", user.user_principal_name),
        ("account enabled", _yes_no(user.account_enabled)),
        ("user type", user.user_type),
        ("Intune licence", _yes_no(user.intune_licensed)),
    )


def _app(sp: ServicePrincipal) -> Details:
    registration = sp.application
    secrets = len(sp.password_credentials) + (
        len(registration.password_credentials) if registration else 0
    )
    certificates = len(sp.key_credentials) + (
        len(registration.key_credentials) if registration else 0
    )
    federated = len(registration.federated_identity_credentials) if registration else 0
    return (
        ("appId", sp.app_id),
        ("service principal", sp.id),
        ("enabled", _yes_no(sp.account_enabled)),
        ("type", sp.service_principal_type),
        ("registered in tenant", sp.app_owner_organization_id or "unknown"),
        (
            "credentials",
            f"{secrets} secret(s), {certificates} certificate(s), {federated} federated",
        ),
        ("owners", _names(sp.owners + (registration.owners if registration else ()))),
        ("Graph application permissions", ", ".join(sp.app_permissions) or "none"),
    )


def _ca_policy(policy: ConditionalAccessPolicy) -> Details:
    grant = policy.grant_controls
    controls = f" {grant.operator} ".join(grant.built_in_controls) if grant else ""
    return (("state", policy.state), ("grant controls", controls or "none"))


def _identity(identities: IdentitySet | None) -> str:
    if identities is None:
        return "unknown"
    for kind, identity in (("user", identities.user), ("app", identities.application)):
        if identity is not None:
            return f"{kind} {identity.display_name or identity.id} ({identity.id})"
    return "unknown"


def _names(refs: tuple[DirectoryObjectRef, ...]) -> str:
    return ", ".join(f"{ref.display_name or ref.id} ({ref.type})" for ref in refs) or "none"


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _time(moment: datetime | None) -> str:
    return "unknown" if moment is None else format_datetime(moment)
