"""A tenant fixture in Graph's shapes from a :class:`~maa_guard.snapshot.Snapshot`.

The contract is ``docs/emulator-fixture.md``. Exclusions whose source is ``policy-property``
become the provisional policy property ``excludedApplicationIds``; audit-log exclusions are
already in the audit events; declared ones live in config, not in the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from maa_guard.emulator import graphroles as gr
from maa_guard.emulator.fixture_links import relationships
from maa_guard.emulator.fixture_parts import (
    INTUNE_PLAN,
    INTUNE_SKU_ID,
    WORKLOAD_ID_PLAN,
    WORKLOAD_ID_SKU_ID,
    Json,
    applications,
    fixture_id,
    named,
    role_assignment,
    tenant_sps,
    typed,
    user_json,
)
from maa_guard.model import ExclusionSource
from maa_guard.snapshot import (
    AccessPolicy,
    Application,
    Group,
    RoleDefinition,
    ServicePrincipal,
    Snapshot,
)
from maa_guard.snapshot.codec import encode, format_datetime

EXCLUSIONS_PROPERTY = "excludedApplicationIds"


def fixture_from_snapshot(snapshot: Snapshot) -> Json:
    graph_sp = _graph_service_principal(snapshot)
    return {
        "tenant": {"id": snapshot.tenant.id, "displayName": snapshot.tenant.display_name},
        "tokens": _tokens(snapshot),
        "collections": _collections(snapshot, graph_sp),
        "relationships": relationships(snapshot, graph_sp),
        "singletons": {"deviceManagement": _device_management(snapshot)},
        "maa": {"startTime": format_datetime(snapshot.collected_at)},
    }


def _tokens(snapshot: Snapshot) -> Json:
    tokens: Json = {
        gr.READER_TOKEN: {
            "kind": "application",
            "appId": gr.READER_APP_ID,
            "roles": list(gr.READER_ROLES),
        }
    }
    for sp in snapshot.service_principals:
        entry = {"kind": "application", "appId": sp.app_id, "roles": list(sp.app_permissions)}
        tokens[gr.app_token(sp.app_id)] = entry
    for user in snapshot.users:
        scopes = " ".join(gr.DELEGATED_SCOPES)
        tokens[gr.user_token(user.id)] = {"kind": "user", "userId": user.id, "scp": scopes}
    return tokens


def _collections(snapshot: Snapshot, graph_sp: Json) -> Json:
    return {
        "deviceManagement/operationApprovalPolicies": [_policy(p) for p in snapshot.policies],
        "deviceManagement/operationApprovalRequests": _encoded(
            "operationApprovalRequest", snapshot.approval_requests
        ),
        "deviceManagement/roleDefinitions": [
            _role_definition(d) for d in snapshot.role_definitions
        ],
        "deviceManagement/roleAssignments": [role_assignment(a) for a in snapshot.role_assignments],
        "deviceManagement/auditEvents": _encoded("auditEvent", snapshot.audit_events),
        "groups": [_group(g) for g in snapshot.groups],
        "users": [user_json(u) for u in snapshot.users],
        "servicePrincipals": [*(_sp(sp) for sp in tenant_sps(snapshot)), graph_sp],
        "applications": [_application(a) for a in applications(snapshot)],
        "identity/conditionalAccess/policies": _encoded(
            "conditionalAccessPolicy", snapshot.conditional_access_policies
        ),
        "reports/servicePrincipalSignInActivities": _sign_in_activities(snapshot),
        "auditLogs/signIns": _sign_ins(snapshot, graph_sp),
        "subscribedSkus": _skus(snapshot),
        **_writable(snapshot),
        "organization": [{"id": snapshot.tenant.id, "displayName": snapshot.tenant.display_name}],
    }


def _encoded(kind: str, items: Iterable[Any]) -> list[Json]:
    """Snapshot items whose snapshot shape is Graph's own, typed."""
    return [typed(kind, encode(item)) for item in items]


def _writable(snapshot: Snapshot) -> Json:
    """Objects for trying automation against MAA: one app, one device, empty protected routes."""
    tenant = snapshot.tenant.id
    app = typed(
        "win32LobApp",
        {"id": fixture_id(tenant, "mobileApp", "company-portal"), "displayName": "Company Portal"},
    )
    device = typed(
        "managedDevice",
        {
            "id": fixture_id(tenant, "managedDevice", "1"),
            "deviceName": "CONTOSO-LT-001",
            "operatingSystem": "Windows",
        },
    )
    empty: Json = {name: [] for name in _EMPTY_WRITABLE}
    return {
        "deviceAppManagement/mobileApps": [app],
        "deviceManagement/managedDevices": [device],
        **empty,
    }


_EMPTY_WRITABLE = (
    "deviceManagement/deviceManagementScripts",
    "deviceManagement/deviceHealthScripts",
    "deviceManagement/configurationPolicies",
    "deviceManagement/deviceCompliancePolicies",
    "deviceManagement/deviceCategories",
)


def _policy(policy: AccessPolicy) -> Json:
    item = named(
        "operationApprovalPolicy",
        policy,
        description=policy.description,
        lastModifiedDateTime=_when(policy.last_modified_date_time),
        policyType=policy.policy_type,
        policyPlatform=policy.policy_platform,
        policySet={
            "@odata.type": "microsoft.graph.operationApprovalPolicySet",
            "policyType": policy.policy_type,
            "policyPlatform": policy.policy_platform,
        },
        approverGroupIds=list(policy.approver_group_ids),
    )
    excluded = [e.app_id for e in policy.exclusions if e.source is ExclusionSource.POLICY_PROPERTY]
    if excluded:
        item[EXCLUSIONS_PROPERTY] = excluded
    return item


def _when(moment: Any) -> str | None:
    return None if moment is None else format_datetime(moment)


def _role_definition(definition: RoleDefinition) -> Json:
    return named(
        "deviceAndAppManagementRoleDefinition",
        definition,
        isBuiltIn=definition.is_built_in,
        isBuiltInRoleDefinition=definition.is_built_in,
    )


def _group(group: Group) -> Json:
    return named(
        "group",
        group,
        securityEnabled=group.security_enabled,
        mailEnabled=group.mail_enabled,
        groupTypes=list(group.group_types),
        isAssignableToRole=group.is_assignable_to_role,
        membershipRule=group.membership_rule,
        membershipRuleProcessingState="On" if group.membership_rule else None,
        onPremisesSyncEnabled=group.on_premises_sync_enabled,
    )


def _sp(sp: ServicePrincipal) -> Json:
    return named(
        "servicePrincipal",
        sp,
        appId=sp.app_id,
        accountEnabled=sp.account_enabled,
        appOwnerOrganizationId=sp.app_owner_organization_id,
        servicePrincipalType=sp.service_principal_type,
        keyCredentials=encode(sp.key_credentials),
        passwordCredentials=encode(sp.password_credentials),
        tags=[],
    )


def _graph_service_principal(snapshot: Snapshot) -> Json:
    permissions = {p for sp in snapshot.service_principals for p in sp.app_permissions}
    existing = next(
        (sp for sp in snapshot.service_principals if sp.app_id == gr.GRAPH_APP_ID), None
    )
    graph = ServicePrincipal(
        id=existing.id if existing else fixture_id(snapshot.tenant.id, "graph-service-principal"),
        app_id=gr.GRAPH_APP_ID,
        account_enabled=True,
        display_name="Microsoft Graph",
        app_owner_organization_id="f8cdef31-a31e-4b4a-93e4-5f571e91255a",
        service_principal_type="Application",
    )
    return {**_sp(graph), "appRoles": gr.app_roles(permissions)}


def _application(app: Application) -> Json:
    return named(
        "application",
        app,
        appId=app.app_id,
        keyCredentials=encode(app.key_credentials),
        passwordCredentials=encode(app.password_credentials),
    )


def _sign_in_activities(snapshot: Snapshot) -> list[Json]:
    rows = []
    for activity in snapshot.sign_in_activity:
        when = _when(activity.last_app_only_client_sign_in_date_time)
        client = {"lastSignInDateTime": when, "lastSignInRequestId": None}
        rows.append(
            {
                "id": fixture_id("signInActivity", activity.app_id),
                "appId": activity.app_id,
                "lastSignInActivity": client,
                "applicationAuthenticationClientSignInActivity": client,
            }
        )
    return rows


def _sign_ins(snapshot: Snapshot, graph_sp: Json) -> list[Json]:
    sps = {sp.app_id: sp for sp in snapshot.service_principals}
    rows = []
    for activity in snapshot.sign_in_activity:
        moment, sp = activity.last_app_only_client_sign_in_date_time, sps.get(activity.app_id)
        if moment is None:
            continue
        rows.append(
            {
                "id": fixture_id("signIn", activity.app_id),
                "createdDateTime": format_datetime(moment),
                "appId": activity.app_id,
                "appDisplayName": sp.display_name if sp else "",
                "servicePrincipalId": sp.id if sp else None,
                "signInEventTypes": ["servicePrincipal"],
                "clientCredentialType": "clientSecret",
                "resourceId": gr.GRAPH_APP_ID,
                "resourceDisplayName": "Microsoft Graph",
                "resourceServicePrincipalId": graph_sp["id"],
                "status": {"errorCode": 0, "failureReason": None},
            }
        )
    return sorted(rows, key=lambda row: str(row["createdDateTime"]), reverse=True)


def _skus(snapshot: Snapshot) -> list[Json]:
    skus = [_sku(snapshot, "INTUNE_A", INTUNE_SKU_ID, INTUNE_PLAN)]
    if snapshot.tenant.workload_identities_premium:
        sku_id = WORKLOAD_ID_SKU_ID
        skus.append(_sku(snapshot, "Workload_Identities_Premium_CN", sku_id, WORKLOAD_ID_PLAN))
    return skus


def _sku(snapshot: Snapshot, part: str, sku_id: str, plan: Json) -> Json:
    return {
        "id": f"{snapshot.tenant.id}_{sku_id}",
        "skuId": sku_id,
        "skuPartNumber": part,
        "capabilityStatus": "Enabled",
        "appliesTo": "User",
        "prepaidUnits": {"enabled": 25, "suspended": 0, "warning": 0},
        "consumedUnits": 0,
        "servicePlans": [{**plan, "provisioningStatus": "Success", "appliesTo": "User"}],
    }


def _device_management(snapshot: Snapshot) -> Json:
    item: Json = {"@odata.type": "#microsoft.graph.deviceManagement", "id": snapshot.tenant.id}
    if snapshot.tenant.unlicensed_admins_allowed is not None:
        item["unlicensedAdminstratorsEnabled"] = snapshot.tenant.unlicensed_admins_allowed
    return item
