"""The facts a review shows about one app, read from a snapshot (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from maa_guard.review.model import AppFacts, CoveragePolicy, Credential, Owner, WorkloadWrites
from maa_guard.snapshot import (
    AccessPolicy,
    AuditEvent,
    ConditionalAccessPolicy,
    KeyCredential,
    PasswordCredential,
    ServicePrincipal,
    Snapshot,
)
from maa_guard.workloads import classify_event, is_approval_failure, is_write

ALL_IN_TENANT = "ServicePrincipalsInMyTenant"
UNCLASSIFIED = "unclassified"
UNCLASSIFIED_LABEL = "Not mapped to an MAA workload"


def app_facts(snapshot: Snapshot, sp: ServicePrincipal) -> AppFacts:
    owner = sp.app_owner_organization_id
    return AppFacts(
        app_id=sp.app_id,
        service_principal_id=sp.id,
        display_name=sp.display_name,
        service_principal_type=sp.service_principal_type,
        account_enabled=sp.account_enabled,
        home_tenant_id=owner,
        registered_in_tenant=(
            None
            if not owner or not snapshot.tenant.id
            else owner.lower() == snapshot.tenant.id.lower()
        ),
        registration_visible=sp.application is not None,
        credentials=credentials(sp),
        owners=owners(sp),
        graph_permissions=tuple(sorted(sp.app_permissions, key=str.lower)),
        last_app_only_sign_in=_last_sign_in(snapshot, sp.app_id),
        conditional_access=coverage(snapshot.conditional_access_policies, sp.id),
    )


def credentials(sp: ServicePrincipal) -> tuple[Credential, ...]:
    held = [*_held("servicePrincipal", sp.password_credentials, sp.key_credentials)]
    if sp.application is not None:
        app = sp.application
        held += _held("application", app.password_credentials, app.key_credentials)
        held += [
            Credential(
                "federated",
                "application",
                f.id or f.name,
                f.name,
                None,
                None,
                f.issuer,
                f.subject or "",
            )
            for f in app.federated_identity_credentials
        ]
    return tuple(held)


def _held(
    holder: str, secrets: Iterable[PasswordCredential], keys: Iterable[KeyCredential]
) -> list[Credential]:
    found = [
        Credential(
            "clientSecret", holder, s.key_id, s.display_name, s.start_date_time, s.end_date_time
        )
        for s in secrets
    ]
    return found + [
        Credential(
            "certificate", holder, k.key_id, k.display_name, k.start_date_time, k.end_date_time
        )
        for k in keys
    ]


def owners(sp: ServicePrincipal) -> tuple[Owner, ...]:
    found = [Owner("servicePrincipal", o.id, o.type, o.display_name) for o in sp.owners]
    if sp.application is not None:
        found += [Owner("application", o.id, o.type, o.display_name) for o in sp.application.owners]
    return tuple(found)


def _last_sign_in(snapshot: Snapshot, app_id: str) -> datetime | None:
    rows = [a for a in snapshot.sign_in_activity if a.app_id.lower() == app_id.lower()]
    moments = [r.last_app_only_client_sign_in_date_time for r in rows]
    return max((m for m in moments if m is not None), default=None)


def coverage(policies: Iterable[ConditionalAccessPolicy], sp_id: str) -> tuple[CoveragePolicy, ...]:
    """The Conditional Access policies that name this service principal or all of them."""
    result = []
    for policy in policies:
        clients = policy.conditions.client_applications
        included = clients is not None and (
            sp_id in clients.include_service_principals
            or ALL_IN_TENANT in clients.include_service_principals
        )
        if included:
            note = _why_not(policy, sp_id)
            result.append(
                CoveragePolicy(policy.id, policy.display_name, policy.state, not note, note)
            )
    return tuple(result)


def _why_not(policy: ConditionalAccessPolicy, sp_id: str) -> str:
    """Why a policy that includes the app does not restrict it; empty when it does."""
    clients = policy.conditions.client_applications
    locations = policy.conditions.locations
    conditioned = bool(policy.conditions.service_principal_risk_levels) or bool(
        locations and locations.include_locations
    )
    controls = policy.grant_controls.built_in_controls if policy.grant_controls else ()
    reasons = (
        (
            clients is not None and sp_id in clients.exclude_service_principals,
            "excludes this service principal",
        ),
        (policy.state != "enabled", f"state is {policy.state}, not enabled"),
        ("block" not in controls, "does not block"),
        (not conditioned, "has no location or service principal risk condition"),
    )
    return "; ".join(text for applies, text in reasons if applies)


def app_only_writes(snapshot: Snapshot, app_id: str) -> list[AuditEvent]:
    """The app's app-only write events inside the audit window, oldest first."""
    start, end = snapshot.window.start, snapshot.window.end
    wanted = app_id.lower()
    return sorted(
        (
            e
            for e in snapshot.audit_events
            if e.actor.is_app_only
            and (e.actor.application_id or "").lower() == wanted
            and start <= e.activity_date_time <= end
            and is_write(e)
        ),
        key=lambda e: (e.activity_date_time, e.id),
    )


def writes_by_workload(
    events: Sequence[AuditEvent], policies: Sequence[AccessPolicy]
) -> tuple[WorkloadWrites, ...]:
    """Writes per workload, with the policies that gate them (none for unclassified)."""
    grouped: dict[str, list[AuditEvent]] = defaultdict(list)
    labels: dict[str, str] = {}
    gates: dict[str, set[str]] = defaultdict(set)
    for event in events:
        found = classify_event(event)
        name = found[0].name if found else UNCLASSIFIED
        labels[name] = found[0].label if found else UNCLASSIFIED_LABEL
        gates[name] |= set(found[1]) if found else set()
        grouped[name].append(event)
    return tuple(
        WorkloadWrites(
            workload=name,
            label=labels[name],
            writes=len(items),
            blocked=sum(is_approval_failure(e) for e in items),
            last_write=max(e.activity_date_time for e in items),
            policy_ids=tuple(p.id for p in policies if p.policy_type in gates[name]),
        )
        for name, items in sorted(grouped.items())
    )
