"""Least-privilege application permissions: per Graph route and per snapshot data source.

The route table names the permission a 403 most likely means is missing; the source table is
what ``maa-guard permissions`` prints and docs/permissions.md explains.
"""

from __future__ import annotations

import re

RBAC_READ = "DeviceManagementRBAC.Read.All"
AUDIT_READ = "DeviceManagementApps.Read.All"
APPLICATION_READ = "Application.Read.All"
GROUP_MEMBER_READ = "GroupMember.Read.All"
USER_READ = "User.Read.All"
POLICY_READ = "Policy.Read.All"
AUDIT_LOG_READ = "AuditLog.Read.All"
DIRECTORY_READ = "Directory.Read.All"

# First match wins: more specific patterns first. Paths are relative to the version root.
_ROUTES: tuple[tuple[str, str], ...] = (
    (r"^deviceManagement/auditEvents", AUDIT_READ),
    (r"^deviceManagement/", RBAC_READ),
    (r"^identity/conditionalAccess/", POLICY_READ),
    (r"^(reports|auditLogs)/", AUDIT_LOG_READ),
    (r"^groups/[^/]+/(members|transitiveMembers|owners)", GROUP_MEMBER_READ),
    (r"^groups", GROUP_MEMBER_READ),
    (r"^users", USER_READ),
    (r"^(servicePrincipals|applications)", APPLICATION_READ),
    (r"^(organization|subscribedSkus)", DIRECTORY_READ),
)
_COMPILED = tuple((re.compile(pattern), permission) for pattern, permission in _ROUTES)

SOURCE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "access_policies": (RBAC_READ,),
    "exclusions": (RBAC_READ, AUDIT_READ),
    "approval_requests": (RBAC_READ,),
    "rbac": (RBAC_READ,),
    "groups": (GROUP_MEMBER_READ,),
    "users": (USER_READ,),
    "service_principals": (APPLICATION_READ,),
    "conditional_access": (POLICY_READ,),
    "audit_events": (AUDIT_READ,),
    "sign_in_activity": (AUDIT_LOG_READ,),
}

# The Graph reads behind each source, as docs/permissions.md lists them; `maa-guard explain`
# shows them beside a finding. Paths without a version are v1.0.
SOURCE_READS: dict[str, tuple[str, ...]] = {
    "access_policies": (
        "GET /beta/deviceManagement/operationApprovalPolicies",
        "GET /beta/deviceManagement/operationApprovalPolicies/{id}",
    ),
    "exclusions": (
        "the access policies' exclusion property, where the tenant returns one",
        "GET /beta/deviceManagement/auditEvents/getAuditCategories",
        "GET /beta/deviceManagement/auditEvents/getAuditActivityTypes(category='...')",
        "GET /beta/deviceManagement/auditEvents?$filter=... and category eq '...'",
    ),
    "approval_requests": ("GET /beta/deviceManagement/operationApprovalRequests",),
    "rbac": (
        "GET /beta/deviceManagement/roleDefinitions",
        "GET /beta/deviceManagement/roleAssignments",
        "GET /beta/deviceManagement/roleDefinitions/{id}/roleAssignments",
    ),
    "groups": (
        "GET /groups/{id}",
        "GET /groups/{id}/members",
        "GET /groups/{id}/transitiveMembers",
        "GET /groups/{id}/owners",
    ),
    "users": ("GET /users/{id}", "GET /users/{id}/licenseDetails"),
    "service_principals": (
        "GET /servicePrincipals(appId='...')",
        "GET /servicePrincipals/{id}/owners",
        "GET /servicePrincipals/{id}/appRoleAssignments",
        "GET /applications(appId='...')",
        "GET /applications/{id}/owners",
        "GET /applications/{id}/federatedIdentityCredentials",
        "GET /servicePrincipals/{id}/appRoleAssignedTo (Microsoft Graph's: who holds Intune "
        "write permissions)",
    ),
    "conditional_access": ("GET /identity/conditionalAccess/policies",),
    "audit_events": (
        "GET /beta/deviceManagement/auditEvents?$filter=activityDateTime ge ... and "
        "activityDateTime lt ...",
    ),
    "sign_in_activity": (
        "GET /beta/reports/servicePrincipalSignInActivities",
        "GET /auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'servicePrincipal') and "
        "createdDateTime ge ... (where that report is unavailable)",
    ),
}


def permission_for(path: str) -> str | None:
    """The least-privilege application permission that covers a GET of ``path``."""
    bare = path.lstrip("/").split("?", 1)[0]
    for version in ("beta/", "v1.0/"):
        if bare.startswith(version):
            bare = bare[len(version) :]
    return next((perm for pattern, perm in _COMPILED if pattern.search(bare)), None)


def required_permissions() -> tuple[str, ...]:
    """Every permission a full collection needs, each once, in a stable order."""
    seen = dict.fromkeys(p for perms in SOURCE_PERMISSIONS.values() for p in perms)
    return tuple(seen)


def missing_permissions(granted_roles: tuple[str, ...] | list[str]) -> dict[str, tuple[str, ...]]:
    """For ``permissions --check``: per source, the needed permissions not in ``roles``.

    A ReadWrite grant covers the matching Read permission.
    """
    granted = {role.lower() for role in granted_roles}
    covered = granted | {role.replace(".readwrite.", ".read.") for role in granted}
    return {
        source: missing
        for source, perms in SOURCE_PERMISSIONS.items()
        if (missing := tuple(p for p in perms if p.lower() not in covered))
    }
