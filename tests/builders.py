"""Small builders for snapshot dicts (the JSON shape, as a collector writes it) and scan helpers.

A fresh ``new_snapshot()`` is a complete, empty tenant: every data source ``complete``, the
collection time 2026-11-01T08:00:00Z and the 30-day window before it. ``add_*`` functions append
Graph-shaped objects (camelCase keys) and return them so a test can tweak one field. ``scan()``
runs the real pipeline: ``parse_snapshot`` -> ``evaluate`` with the real catalogue and checks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date
from typing import Any

from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.config import DeclaredExclusion, RuleSettings, Settings
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.model import Finding, Status
from maa_guard.snapshot import SOURCES
from maa_guard.snapshot.file import parse_snapshot

Json = dict[str, Any]

TENANT_ID = "0b3c5d7e-1f2a-4b6c-8d9e-0a1b2c3d4e5f"
OTHER_TENANT_ID = "9f8e7d6c-5b4a-4321-8fed-cba987654321"
COLLECTED_AT = "2026-11-01T08:00:00Z"
WINDOW_START = "2026-10-02T08:00:00Z"
TODAY = date(2026, 11, 1)
IN_WINDOW = "2026-10-20T10:00:00Z"
DOMAIN = "contoso-test.example"

PASS, FAIL, ERROR, SKIPPED = Status.PASS, Status.FAIL, Status.ERROR, Status.SKIPPED


# ---- the envelope ---------------------------------------------------------------------------


def new_snapshot(*, workload_identities_premium: bool | None = True) -> Json:
    return {
        "schema_version": 1,
        "tool_version": "0.1.0",
        "collected_at": COLLECTED_AT,
        "tenant": {
            "id": TENANT_ID,
            "display_name": "Test Tenant",
            "workload_identities_premium": workload_identities_premium,
        },
        "window": {"start": WINDOW_START, "end": COLLECTED_AT},
        "sources": {name: {"state": "complete"} for name in SOURCES},
        "policies": [],
        "approval_requests": [],
        "groups": [],
        "users": [],
        "service_principals": [],
        "conditional_access_policies": [],
        "role_definitions": [],
        "role_assignments": [],
        "audit_events": [],
        "sign_in_activity": [],
    }


def set_source(
    snap: Json,
    name: str,
    state: str,
    reason: str = "",
    missing_permission: str | None = None,
    missing_licence: str | None = None,
) -> None:
    snap["sources"][name] = {
        "state": state,
        "reason": reason,
        "missing_permission": missing_permission,
        "missing_licence": missing_licence,
    }


# ---- access policies ------------------------------------------------------------------------


def exclusion(
    app_id: str,
    source: str = "policy-property",
    display_name: str = "",
    service_principal_id: str | None = None,
) -> Json:
    return {
        "appId": app_id,
        "source": source,
        "displayName": display_name,
        "servicePrincipalId": service_principal_id,
    }


def add_policy(
    snap: Json,
    policy_id: str,
    policy_type: str = "app",
    approvers: Iterable[str] = ("grp-approvers",),
    *,
    platform: str = "notApplicable",
    name: str | None = None,
    exclusions: Iterable[Json | str] = (),
) -> Json:
    """``exclusions``: ``exclusion(...)`` dicts, or bare appIds read from the policy property."""
    policy = {
        "id": policy_id,
        "displayName": name or f"{policy_type} policy {policy_id}",
        "policyType": policy_type,
        "policyPlatform": platform,
        "approverGroupIds": list(approvers),
        "exclusions": [exclusion(e) if isinstance(e, str) else e for e in exclusions],
    }
    snap["policies"].append(policy)
    return policy


# ---- directory ------------------------------------------------------------------------------


def user_ref(user_id: str) -> Json:
    return {"id": user_id, "type": "user", "displayName": user_id}


def group_ref(group_id: str) -> Json:
    return {"id": group_id, "type": "group", "displayName": group_id}


def sp_ref(sp_id: str) -> Json:
    return {"id": sp_id, "type": "servicePrincipal", "displayName": sp_id}


def add_user(
    snap: Json,
    user_id: str,
    *,
    enabled: bool = True,
    user_type: str = "Member",
    licensed: bool | None = True,
) -> Json:
    user = {
        "id": user_id,
        "userPrincipalName": f"{user_id}@{DOMAIN}",
        "displayName": user_id,
        "accountEnabled": enabled,
        "userType": user_type,
        "intuneLicensed": licensed,
    }
    snap["users"].append(user)
    return user


def add_group(
    snap: Json,
    group_id: str,
    members: Iterable[Json] = (),
    *,
    transitive: Iterable[Json] | None = None,
    security: bool = True,
    mail: bool = False,
    group_types: Iterable[str] = (),
    role_assignable: bool | None = True,
    owners: Iterable[Json] = (),
    membership_rule: str | None = None,
    synced: bool | None = None,
) -> Json:
    """A plain, role-assignable security group; ``transitive`` defaults to the direct members."""
    direct = list(members)
    group = {
        "id": group_id,
        "displayName": group_id,
        "securityEnabled": security,
        "mailEnabled": mail,
        "groupTypes": list(group_types),
        "isAssignableToRole": role_assignable,
        "membershipRule": membership_rule,
        "onPremisesSyncEnabled": synced,
        "members": direct,
        "transitiveMembers": direct if transitive is None else list(transitive),
        "owners": list(owners),
    }
    snap["groups"].append(group)
    return group


def add_role_assignment(snap: Json, assignment_id: str, members: Iterable[str]) -> Json:
    assignment = {
        "id": assignment_id,
        "displayName": f"assignment {assignment_id}",
        "members": list(members),
    }
    snap["role_assignments"].append(assignment)
    return assignment


def approver_group(
    snap: Json,
    group_id: str = "grp-approvers",
    users: Iterable[str] = ("u-1", "u-2"),
    **group_fields: Any,
) -> Json:
    """A healthy approver group: enabled licensed members, in an Intune role assignment."""
    user_ids = list(users)
    for user_id in user_ids:
        if not any(u["id"] == user_id for u in snap["users"]):
            add_user(snap, user_id)
    group = add_group(snap, group_id, [user_ref(u) for u in user_ids], **group_fields)
    add_role_assignment(snap, f"ra-{group_id}", [group_id])
    return group


# ---- service principals and Conditional Access --------------------------------------------


def secret(
    key_id: str, start: str = "2026-09-01T00:00:00Z", end: str = "2027-01-01T00:00:00Z"
) -> Json:
    return {
        "keyId": key_id,
        "displayName": key_id,
        "hint": "abc",
        "startDateTime": start,
        "endDateTime": end,
    }


def certificate(
    key_id: str, start: str = "2026-09-01T00:00:00Z", end: str = "2027-01-01T00:00:00Z"
) -> Json:
    return {
        "keyId": key_id,
        "displayName": key_id,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "startDateTime": start,
        "endDateTime": end,
    }


def registration(
    app_id: str,
    *,
    secrets: Iterable[Json] = (),
    certificates: Iterable[Json] = (),
    federated: bool = False,
    owners: Iterable[Json] = (),
) -> Json:
    """The app registration (``application``) behind a service principal."""
    fics = (
        [
            {
                "name": "github-main",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:contoso/intune:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"],
            }
        ]
        if federated
        else []
    )
    return {
        "id": f"obj-{app_id}",
        "appId": app_id,
        "displayName": app_id,
        "passwordCredentials": list(secrets),
        "keyCredentials": list(certificates),
        "federatedIdentityCredentials": fics,
        "owners": list(owners),
    }


def add_sp(
    snap: Json,
    app_id: str,
    *,
    sp_id: str | None = None,
    name: str | None = None,
    enabled: bool = True,
    owner_org: str | None = TENANT_ID,
    sp_type: str = "Application",
    secrets: Iterable[Json] = (),
    certificates: Iterable[Json] = (),
    owners: Iterable[Json] = (),
    permissions: Iterable[str] = ("DeviceManagementApps.ReadWrite.All",),
    application: Json | None = None,
    registered: bool = True,
) -> Json:
    """A single-tenant app's service principal; its object id defaults to ``sp-<appId>``.

    An app of this tenant gets an empty registration unless ``application`` gives one or
    ``registered`` is False; a multi-tenant app or a managed identity gets none.
    """
    own_app = owner_org is not None and owner_org.lower() == TENANT_ID.lower()
    if application is None and registered and own_app and sp_type != "ManagedIdentity":
        application = registration(app_id)
    sp = {
        "id": sp_id or f"sp-{app_id}",
        "appId": app_id,
        "displayName": name or app_id,
        "accountEnabled": enabled,
        "appOwnerOrganizationId": owner_org,
        "servicePrincipalType": sp_type,
        "passwordCredentials": list(secrets),
        "keyCredentials": list(certificates),
        "owners": list(owners),
        "appPermissions": list(permissions),
        "application": application,
    }
    snap["service_principals"].append(sp)
    return sp


def add_sign_in(snap: Json, app_id: str, when: str | None = "2026-10-30T00:00:00Z") -> None:
    snap["sign_in_activity"].append({"appId": app_id, "lastAppOnlyClientSignInDateTime": when})


def add_ca_policy(
    snap: Json,
    policy_id: str,
    *,
    state: str = "enabled",
    include: Iterable[str] = ("ServicePrincipalsInMyTenant",),
    exclude: Iterable[str] = (),
    locations: Iterable[str] = ("All",),
    risk_levels: Iterable[str] = (),
    controls: Iterable[str] | None = ("block",),
) -> Json:
    """A workload-identity policy; by default enabled, all SPs, block outside named locations."""
    policy = {
        "id": policy_id,
        "displayName": f"CA {policy_id}",
        "state": state,
        "conditions": {
            "clientApplications": {
                "includeServicePrincipals": list(include),
                "excludeServicePrincipals": list(exclude),
            },
            "locations": {
                "includeLocations": list(locations),
                "excludeLocations": ["trusted-egress"],
            },
            "servicePrincipalRiskLevels": list(risk_levels),
        },
        "grantControls": None
        if controls is None
        else {"operator": "OR", "builtInControls": list(controls)},
    }
    snap["conditional_access_policies"].append(policy)
    return policy


# ---- approval requests ----------------------------------------------------------------------


def user_id_set(user_id: str) -> Json:
    return {"user": {"id": user_id, "displayName": user_id}}


def app_id_set(app_id: str) -> Json:
    return {"application": {"id": app_id, "displayName": app_id}}


def add_request(
    snap: Json,
    request_id: str,
    status: str = "completed",
    *,
    requestor: Json | None = None,
    approver: Json | None = None,
    justification: str = "CHG0001234 - deploy the new VPN client",
    types: Iterable[str] = ("app",),
    requested: str = "2026-10-20T09:00:00Z",
    expires: str | None = "2026-10-23T09:00:00Z",
) -> Json:
    request = {
        "id": request_id,
        "status": status,
        "requestor": requestor or user_id_set("u-requestor"),
        "approver": approver,
        "requestDateTime": requested,
        "expirationDateTime": expires,
        "requestJustification": justification,
        "requiredOperationApprovalPolicyTypes": list(types),
    }
    snap["approval_requests"].append(request)
    return request


# ---- audit events ---------------------------------------------------------------------------


def add_event(
    snap: Json,
    app_id: str | None,
    activity_type: str,
    *,
    category: str = "Application",
    operation: str | None = None,
    result: str = "Success",
    when: str = IN_WINDOW,
    upn: str | None = None,
    activity: str | None = None,
    resources: Iterable[Json] = (),
    event_id: str | None = None,
) -> Json:
    """An audit event; app-only unless ``upn`` is given. The operation defaults to the verb."""
    event = {
        "id": event_id or f"evt-{len(snap['audit_events']) + 1}",
        "activityDateTime": when,
        "actor": {
            "applicationId": app_id,
            "applicationDisplayName": app_id or "",
            "userPrincipalName": upn,
        },
        "activity": activity if activity is not None else activity_type,
        "activityType": activity_type,
        "activityOperationType": operation
        if operation is not None
        else activity_type.split(" ", 1)[0],
        "activityResult": result,
        "category": category,
        "resources": list(resources),
    }
    snap["audit_events"].append(event)
    return event


# ---- running and reading results ------------------------------------------------------------


def scan(snap: Json, settings: Settings | None = None, today: date = TODAY) -> ScanResult:
    """The real pipeline on a copy of ``snap`` (parse_snapshot consumes its input)."""
    snapshot = parse_snapshot(copy.deepcopy(snap))
    return evaluate(
        snapshot,
        load_catalogue(),
        all_checks(),
        settings or Settings(),
        today,
        tool_version="0.1.0",
    )


def findings(result: ScanResult, rule_id: str) -> list[Finding]:
    return [f for f in result.findings if f.rule_id == rule_id]


def statuses(result: ScanResult, rule_id: str) -> dict[str, Status]:
    """``{resource id: status}`` for one rule; a resource reported twice is a test failure."""
    found = findings(result, rule_id)
    outcome = {f.resource.id: f.status for f in found}
    assert len(outcome) == len(found), f"{rule_id} reported a resource twice: {found}"
    return outcome


def finding(result: ScanResult, rule_id: str, resource_id: str) -> Finding:
    matches = [f for f in findings(result, rule_id) if f.resource.id == resource_id]
    assert len(matches) == 1, f"{rule_id} on {resource_id}: {findings(result, rule_id)}"
    return matches[0]


def with_params(rule_id: str, **parameters: Any) -> Settings:
    return Settings(rules={rule_id: RuleSettings(parameters=parameters)})


def declaring(*entries: DeclaredExclusion) -> Settings:
    return Settings(declared_exclusions=entries)


def declared(
    policy: str,
    app: str,
    *,
    owner: str = "owner@contoso-test.example",
    reason: str = "reviewed automation",
    review_by: date | None = date(2027, 1, 1),
) -> DeclaredExclusion:
    return DeclaredExclusion(
        policy=policy, app=app, owner=owner, reason=reason, review_by=review_by
    )
