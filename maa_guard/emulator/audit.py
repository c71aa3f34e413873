"""The emulator's own Intune audit events: every write, approval, block, pass and exclusion change.

Microsoft has not published MAA's real ``category`` / ``activityType`` strings; these follow
the shape of the demo tenant's events so ``maa_guard.exclusions`` can replay them. The category
is the tenant's ``audit_category``: ``Role``, or ``MultiAdminApproval`` in the ``published``
profile. ``categories`` and ``activity_types`` answer the audit log's two Graph functions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from maa_guard.emulator.tenant import Principal, Tenant
from maa_guard.emulator.wire import Json
from maa_guard.snapshot.codec import format_datetime, parse_datetime

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
    event = build(tenant, principal, when, activity, activity_type, resources, result)
    tenant.collections.setdefault(AUDIT_COLLECTION, []).append(event)
    tenant.emitted_audit.append(event)
    tenant.touch()
    return event


def build(
    tenant: Tenant,
    principal: Principal,
    when: datetime,
    activity: str,
    activity_type: str,
    resources: list[Resource],
    result: str = "Success",
) -> Json:
    """One audit event as the service writes it, in this tenant's MAA category."""
    return {
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
        "category": tenant.audit_category,
        "actor": actor(tenant, principal),
        "resources": [
            {"resourceId": r.resource_id, "displayName": r.display_name, "type": r.type}
            for r in resources
        ],
    }


_DECISIONS = {"approved": "Approve", "completed": "Approve", "rejected": "Reject"}


def request_history(tenant: Tenant, request: Json) -> list[Json]:
    """The MAA events the service wrote for a request of the fixture: filed by its requestor,
    then approved or rejected by its approver (a request the emulator files writes its own)."""
    filed_at = _moment(request.get("requestDateTime"))
    if filed_at is None:
        return []
    resource = [Resource(str(request.get("id", "")), "", "OperationApprovalRequest")]
    events = []
    requestor = _principal(request.get("requestor"))
    if requestor is not None:
        events.append(
            build(tenant, requestor, filed_at, "MAA block: approval request filed",
                  "Create OperationApprovalRequest", resource)
        )  # fmt: skip
    verb = _DECISIONS.get(str(request.get("status")))
    approver = _principal(request.get("approver"))
    if verb is not None and approver is not None:
        when = _moment(request.get("lastModifiedDateTime")) or filed_at
        events.append(
            build(tenant, approver, when, f"MAA {verb.lower()}",
                  f"{verb} OperationApprovalRequest", resource)
        )  # fmt: skip
    return events


def _moment(value: object) -> datetime | None:
    try:
        return parse_datetime(str(value)) if value else None
    except ValueError:
        return None


def _principal(identity_set: object) -> Principal | None:
    if not isinstance(identity_set, dict):
        return None
    user, application = identity_set.get("user"), identity_set.get("application")
    if isinstance(user, dict) and user.get("id"):
        return Principal("user", str(user["id"]), frozenset())
    if isinstance(application, dict) and application.get("id"):
        app_id = str(application["id"])
        return Principal("application", app_id, frozenset(), app_id=app_id)
    return None


def categories(events: list[Json]) -> list[str]:
    """``getAuditCategories``: the distinct categories of the tenant's events, sorted."""
    return sorted({str(e["category"]) for e in events if e.get("category")})


def activity_types(events: list[Json], category: str) -> list[str]:
    """``getAuditActivityTypes(category=...)``: the distinct activity types of that category
    (compared case-insensitively, as ``category eq`` filters), sorted."""
    wanted = category.lower()
    chosen = {
        str(e["activityType"])
        for e in events
        if str(e.get("category", "")).lower() == wanted and e.get("activityType")
    }
    return sorted(chosen)
