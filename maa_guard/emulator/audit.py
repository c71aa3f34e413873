"""The emulator's own Intune audit events: every write, approval, block, pass and exclusion change.

Microsoft has not published MAA's real ``category`` / ``activityType`` strings; these follow
the shape of the demo tenant's events so ``maa_guard.exclusions`` can replay them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from maa_guard.emulator.tenant import Principal, Tenant
from maa_guard.emulator.wire import Json
from maa_guard.snapshot.codec import format_datetime

AUDIT_COLLECTION = "deviceManagement/auditEvents"
COMPONENT = "MultiAdminApproval"


@dataclass(frozen=True, slots=True)
class Resource:
    resource_id: str
    display_name: str
    type: str


def actor(tenant: Tenant, principal: Principal) -> Json:
    """App-only: application fields set, no UPN; delegated: the user's UPN and id."""
    if principal.app_only:
        sp = tenant.find_by("servicePrincipals", "appId", principal.app_id) or {}
        return {
            "@odata.type": "microsoft.graph.auditActor",
            "auditActorType": "Application",
            "applicationId": principal.app_id,
            "applicationDisplayName": sp.get("displayName", ""),
            "servicePrincipalName": sp.get("displayName", ""),
            "userPrincipalName": None,
            "userId": None,
        }
    user = tenant.find("users", principal.id) or {}
    return {
        "@odata.type": "microsoft.graph.auditActor",
        "auditActorType": "ItPro",
        "applicationId": principal.app_id or None,
        "applicationDisplayName": "Microsoft Intune portal extension",
        "userPrincipalName": user.get("userPrincipalName", principal.id),
        "userId": principal.id,
    }


def record(
    tenant: Tenant,
    principal: Principal,
    when: datetime,
    activity: str,
    activity_type: str,
    resources: list[Resource],
    result: str = "Success",
) -> Json:
    """Appends the event to the tenant's audit log (callers hold ``tenant.lock``)."""
    event: Json = {
        "@odata.type": "#microsoft.graph.auditEvent",
        "id": str(uuid.uuid4()),
        "displayName": activity,
        "componentName": COMPONENT,
        "activity": activity,
        "activityDateTime": format_datetime(when),
        "activityType": activity_type,
        "activityOperationType": activity_type.split(" ", 1)[0],
        "activityResult": result,
        "correlationId": str(uuid.uuid4()),
        "category": "Role",
        "actor": actor(tenant, principal),
        "resources": [
            {"resourceId": r.resource_id, "displayName": r.display_name, "type": r.type}
            for r in resources
        ],
    }
    tenant.collections.setdefault(AUDIT_COLLECTION, []).append(event)
    tenant.emitted_audit.append(event)
    tenant.touch()
    return event
