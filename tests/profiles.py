"""The Graph emulator's two profiles, for the end-to-end tests that run against both.

``default`` serves the provisional exclusion property on access policies and the approval
requests' ``requestor`` and ``approver``. ``published`` serves what Microsoft's Graph returns:
no exclusion property (the exclusions still take effect inside), both identities null, and MAA
audit events under the category ``MultiAdminApproval``, among them the events the service
writes for each request (who filed it, who decided it). Where the exclusion rules matter, a
``published`` tenant is judged without and with ``graph.trust_declared_exclusions``
(:data:`VARIANTS`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from maa_guard.emulator import Emulator
from maa_guard.emulator.audit import Resource, record
from maa_guard.emulator.tenant import Principal
from maa_guard.model import ExclusionSource
from maa_guard.snapshot import AccessPolicy, ApprovalRequest, AuditEvent, IdentitySet, Snapshot

PROFILES: Final = ("default", "published")
MAA_CATEGORY: Final = "MultiAdminApproval"
POLICIES: Final = "deviceManagement/operationApprovalPolicies"
EXCLUSIONS_PROPERTY: Final = "excludedApplicationIds"


@dataclass(frozen=True, slots=True)
class Variant:
    """A profile, and whether ``graph.trust_declared_exclusions`` is set for the scan."""

    profile: str
    trust: bool = False

    @property
    def name(self) -> str:
        return f"{self.profile}-trusted" if self.trust else self.profile

    @property
    def published(self) -> bool:
        return self.profile == "published"

    @property
    def environ(self) -> dict[str, str]:
        return {"MAA_GUARD_TRUST_DECLARED_EXCLUSIONS": "true" if self.trust else "false"}


DEFAULT: Final = Variant("default")
PUBLISHED: Final = Variant("published")
PUBLISHED_TRUSTED: Final = Variant("published", trust=True)
# The property makes the setting moot in ``default``: its scans are judged without it.
VARIANTS: Final = (DEFAULT, PUBLISHED, PUBLISHED_TRUSTED)
VARIANT_NAMES: Final = tuple(v.name for v in VARIANTS)


def history_category(profile: str) -> str:
    """The audit category the collector reads exclusion history from, once discovered."""
    return MAA_CATEGORY if profile == "published" else "Role"


def is_maa_event(event: AuditEvent) -> bool:
    """An event the ``published`` profile files under ``MultiAdminApproval``: its component is
    MultiAdminApproval, or its activity or activity type names an exclusion or an approval."""
    if event.component_name == MAA_CATEGORY:
        return True
    text = f"{event.activity} {event.activity_type}".lower()
    return "exclusion" in text or "approval" in text


def as_served(snapshot: Snapshot, profile: str) -> Snapshot:
    """``snapshot`` as a collection from the emulator's ``profile`` finds it: in ``published``
    the exclusions the policy property listed are unseen, requests name nobody, and MAA events
    carry their own category. ``default`` changes nothing. The request events ``published``
    adds have ids of their own: :func:`request_events` and :func:`added_request_events`."""
    if profile == "default":
        return snapshot
    return dataclasses.replace(
        snapshot,
        policies=tuple(_audited_exclusions_only(p) for p in snapshot.policies),
        approval_requests=tuple(
            dataclasses.replace(r, requestor=None, approver=None)
            for r in snapshot.approval_requests
        ),
        audit_events=tuple(
            dataclasses.replace(e, category=MAA_CATEGORY) if is_maa_event(e) else e
            for e in snapshot.audit_events
        ),
    )


def _audited_exclusions_only(policy: AccessPolicy) -> AccessPolicy:
    seen = tuple(e for e in policy.exclusions if e.source is ExclusionSource.AUDIT_LOG)
    return dataclasses.replace(policy, exclusions=seen)


def exclude_in_admin_center(
    emulator: Emulator, policy_id: str, app_ids: Iterable[str], user_id: str, when: datetime
) -> None:
    """An exclusion change on the access policy's Exclusions tab in the Intune admin center (no
    Graph write, so it works in both profiles): the policy now excludes exactly ``app_ids`` and
    the audit log records each app added or removed, as the emulator records a Graph change."""
    wanted = list(app_ids)
    admin = Principal("user", user_id, frozenset(), app_id="portal")
    tenant = emulator.tenant
    with tenant.lock:
        policy = tenant.find(POLICIES, policy_id)
        assert policy is not None, policy_id
        before = set(policy.get(EXCLUSIONS_PROPERTY) or [])
        policy[EXCLUSIONS_PROPERTY] = wanted
        target = Resource(policy_id, str(policy.get("displayName", "")), "OperationApprovalPolicy")
        for verb, joined, changed in (
            ("Add", "to", set(wanted) - before),
            ("Remove", "from", before - set(wanted)),
        ):
            for app_id in sorted(changed):
                sp = tenant.find_by("servicePrincipals", "appId", app_id) or {}
                app = Resource(app_id, str(sp.get("displayName", "")), "ServicePrincipal")
                activity = f"{verb} exclusion {joined} access policy"
                kind = f"{verb} OperationApprovalPolicyExclusion"
                record(tenant, admin, when, activity, kind, [target, app])
        tenant.touch()


# An audited request event, summed up: (activity type, request id, actor id, time).
RequestEvent = tuple[str, str, str, datetime]
_DECISIONS = {"approved": "Approve", "completed": "Approve", "rejected": "Reject"}


def request_events(snapshot: Snapshot, profile: str) -> set[RequestEvent]:
    """The events the ``published`` profile adds to the audit log for the snapshot's requests
    that no event names: filed by the requestor, then approved or rejected by the approver."""
    if profile == "default":
        return set()
    named = {r.resource_id for e in snapshot.audit_events for r in e.resources}
    return {
        event
        for request in snapshot.approval_requests
        if request.id not in named
        for event in _request_history(request)
    }


def _request_history(request: ApprovalRequest) -> list[RequestEvent]:
    events = []
    requestor = _principal_id(request.requestor)
    if requestor:
        filed = (
            "Create OperationApprovalRequest",
            request.id,
            requestor,
            request.request_date_time,
        )
        events.append(filed)
    verb = _DECISIONS.get(request.status)
    approver = _principal_id(request.approver)
    if verb and approver:
        decided = request.last_modified_date_time or request.request_date_time
        events.append((f"{verb} OperationApprovalRequest", request.id, approver, decided))
    return events


def _principal_id(identities: IdentitySet | None) -> str:
    principal = identities.principal if identities is not None else None
    return principal.id if principal is not None else ""


def added_request_events(
    events: Iterable[AuditEvent], recorded: Snapshot
) -> tuple[list[AuditEvent], set[RequestEvent]]:
    """``events`` split into those of ``recorded`` and the request events added to them,
    summed up as :func:`request_events` does."""
    known = {e.id for e in recorded.audit_events}
    kept, added = [], set()
    for event in events:
        if event.id in known:
            kept.append(event)
            continue
        actor = event.actor.user_id or event.actor.application_id or ""
        for resource in event.resources:
            summary = (event.activity_type, resource.resource_id or "", actor)
            added.add((*summary, event.activity_date_time))
    return kept, added
