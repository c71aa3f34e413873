"""Read-only indexes over one snapshot, built on first use and shared by all checks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property

from maa_guard.config import DeclaredExclusion
from maa_guard.evaluate.identities import RequestIdentities, resolve_identities
from maa_guard.exclusions import ExcludedApp, effective_exclusions
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    AccessPolicy,
    ApprovalRequest,
    AuditEvent,
    DirectoryObjectRef,
    Group,
    ServicePrincipal,
    Snapshot,
    User,
)
from maa_guard.workloads import gating_policy_types, is_write

ACCESS_POLICY_TYPE = "operationApprovalPolicy"
# How Graph shows ``operationApprovalPolicy`` to a caller that does not send
# ``Prefer: include-unknown-enum-members``.
MASKED_TYPE = "unknownFutureValue"


def changes_access_policy(request_types: Iterable[str]) -> bool:
    """A request to change an access policy itself. No policy has that type: access policies
    are protected automatically, and a member of any access policy's approver group may
    approve the change (as the Intune docs and the emulator have it)."""
    kinds = set(request_types)
    return ACCESS_POLICY_TYPE in kinds or kinds == {MASKED_TYPE}


class Context:
    def __init__(self, snapshot: Snapshot, declared: Iterable[DeclaredExclusion] = ()) -> None:
        self.snapshot = snapshot
        self.declared = tuple(declared)
        self.now: datetime = snapshot.collected_at
        self._gating_cache: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, list[str]]]] = {}
        self._policy_ids_cache: dict[frozenset[str], frozenset[str]] = {}

    @cached_property
    def groups_by_id(self) -> dict[str, Group]:
        return {group.id: group for group in self.snapshot.groups}

    @cached_property
    def users_by_id(self) -> dict[str, User]:
        return {user.id: user for user in self.snapshot.users}

    @cached_property
    def sps_by_app_id(self) -> dict[str, ServicePrincipal]:
        return {sp.app_id.lower(): sp for sp in self.snapshot.service_principals}

    def service_principal(self, app_id: str) -> ServicePrincipal | None:
        return self.sps_by_app_id.get(app_id.lower())

    @cached_property
    def approver_group_policies(self) -> dict[str, list[AccessPolicy]]:
        """Every approver group id named by a policy, with the policies naming it."""
        result: dict[str, list[AccessPolicy]] = defaultdict(list)
        for policy in self.snapshot.policies:
            for group_id in dict.fromkeys(policy.approver_group_ids):
                result[group_id].append(policy)
        return dict(result)

    @cached_property
    def approver_groups(self) -> list[Group]:
        """Approver groups that resolve to a group (missing ones are MAA201's business)."""
        return [
            self.groups_by_id[g] for g in self.approver_group_policies if g in self.groups_by_id
        ]

    @cached_property
    def _member_ids(self) -> dict[str, frozenset[str]]:
        return {
            group.id: frozenset(m.id.lower() for m in (*group.members, *group.transitive_members))
            for group in self.snapshot.groups
        }

    def approver_groups_gating(self, request_types: tuple[str, ...]) -> tuple[str, ...]:
        """Approver groups of every policy that gates requests of these types; of every policy
        when there are no types or the request changes an access policy."""
        return self._gating(request_types)[0]

    def gating_groups_of(self, request_types: tuple[str, ...], object_id: str) -> list[str]:
        """Which of those approver groups ``object_id`` belongs to, directly or transitively."""
        return self._gating(request_types)[1].get(object_id.lower(), [])

    def _gating(
        self, request_types: tuple[str, ...]
    ) -> tuple[tuple[str, ...], dict[str, list[str]]]:
        if request_types not in self._gating_cache:
            gates = {gate for kind in request_types for gate in gating_policy_types(kind)}
            if changes_access_policy(request_types):
                gates = set()
            policies = [p for p in self.snapshot.policies if not gates or p.policy_type in gates]
            group_ids = tuple(sorted({g for p in policies for g in p.approver_group_ids}))
            members: dict[str, list[str]] = defaultdict(list)
            for group_id in group_ids:
                for member in self._member_ids.get(group_id, frozenset()):
                    members[member].append(group_id)
            self._gating_cache[request_types] = (group_ids, dict(members))
        return self._gating_cache[request_types]

    def policy_ids_of_types(self, policy_types: frozenset[str]) -> frozenset[str]:
        if policy_types not in self._policy_ids_cache:
            self._policy_ids_cache[policy_types] = frozenset(
                p.id for p in self.snapshot.policies if p.policy_type in policy_types
            )
        return self._policy_ids_cache[policy_types]

    def user_members(self, group: Group) -> list[DirectoryObjectRef]:
        """Direct and transitive user members, once each."""
        seen: dict[str, DirectoryObjectRef] = {}
        for member in (*group.members, *group.transitive_members):
            if member.type == "user":
                seen.setdefault(member.id, member)
        return list(seen.values())

    def user_label(self, member: DirectoryObjectRef) -> str:
        user = self.users_by_id.get(member.id)
        return user.user_principal_name if user else member.display_name or member.id

    @cached_property
    def excluded_apps(self) -> tuple[ExcludedApp, ...]:
        return effective_exclusions(self.snapshot, self.declared)

    @cached_property
    def exclusions_by_app(self) -> dict[str, list[ExcludedApp]]:
        result: dict[str, list[ExcludedApp]] = defaultdict(list)
        for item in self.excluded_apps:
            result[item.app_id.lower()].append(item)
        return dict(result)

    @cached_property
    def app_only_writes(self) -> dict[str, list[AuditEvent]]:
        """App-only write events inside the evaluation window, by actor appId (lower case)."""
        start, end = self.snapshot.window.start, self.snapshot.window.end
        result: dict[str, list[AuditEvent]] = defaultdict(list)
        for event in self.snapshot.audit_events:
            actor = event.actor
            if (
                actor.application_id
                and not actor.user_principal_name
                and start <= event.activity_date_time <= end
                and is_write(event)
            ):
                result[actor.application_id.lower()].append(event)
        return dict(result)

    @cached_property
    def _request_identities(self) -> dict[str, RequestIdentities]:
        snapshot = self.snapshot
        return resolve_identities(snapshot.approval_requests, snapshot.audit_events, snapshot.users)

    @cached_property
    def declared_inventory(self) -> bool:
        """The tenant shows no exclusion property and the declaration is trusted as its list."""
        return self.snapshot.source_state("exclusions").state is SourceState.DECLARED

    def exempts(self, item: ExcludedApp) -> bool:
        """Whether the exclusion takes effect as far as the snapshot can tell: the tenant shows
        it, or the declaration is the inventory (a declaration alone exempts nothing else)."""
        if item.in_tenant:
            return True
        return self.declared_inventory and item.declared is not None and item.policy_exists

    def app_only_requestor(self, request: ApprovalRequest) -> str | None:
        """The application that filed ``request`` app-only (its id as recorded, lower case):
        from Graph, else from the MAA audit events; None for a person or an unknown requestor."""
        known = self.request_identities(request).requestor
        if known is None:
            return None
        identity = known.identity
        if identity.user is not None or identity.application is None:
            return None
        return identity.application.id.lower()

    def request_identities(self, request: ApprovalRequest) -> RequestIdentities:
        """Who filed and who decided ``request``: from Graph, else from the MAA audit events."""
        found = self._request_identities.get(request.id.lower())
        return found if found is not None else RequestIdentities(None, None)

    def app_name(self, app_id: str, fallback: str = "") -> str:
        sp = self.service_principal(app_id)
        return sp.display_name if sp is not None and sp.display_name else fallback
