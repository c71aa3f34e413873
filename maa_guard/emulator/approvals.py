"""Approval requests: filing, approve / reject / cancel by a delegated approver, completion."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from maa_guard.emulator import audit
from maa_guard.emulator.routes import Target
from maa_guard.emulator.tenant import Principal, Tenant
from maa_guard.emulator.wire import Call, Json, Reply, error
from maa_guard.snapshot.codec import format_datetime

REQUESTS = "deviceManagement/operationApprovalRequests"
POLICIES = "deviceManagement/operationApprovalPolicies"
ACCESS_POLICY_TYPE = "operationApprovalPolicy"  # the type filed for access-policy changes
_DEVICE_TYPES = ("deviceWipe", "deviceRetire", "deviceDelete")
_VERBS = {"approve": "approved", "reject": "rejected"}


def covering_policies(tenant: Tenant, kind: str) -> list[Json]:
    """Policies protecting ``kind``; access-policy changes are protected by every policy."""
    policies = tenant.collections.get(POLICIES, [])
    if kind == ACCESS_POLICY_TYPE:
        return list(policies)
    return [p for p in policies if _covers(str(p.get("policyType", "")), kind)]


def _covers(policy_type: str, kind: str) -> bool:
    return policy_type == kind or (policy_type == "deviceAction" and kind in _DEVICE_TYPES)


def excludes(tenant: Tenant, policies: list[Json], app_id: str) -> bool:
    """An app is excluded by its appId or its service principal's object id."""
    name = tenant.exclusions_property
    sp = tenant.find_by("servicePrincipals", "appId", app_id) or {}
    keys = {app_id.lower(), str(sp.get("id", "")).lower()} - {""}
    for policy in policies:
        listed = policy.get(name)
        if isinstance(listed, list) and keys & {str(v).lower() for v in listed}:
            return True
    return False


def identity_set(tenant: Tenant, principal: Principal) -> Json:
    if principal.app_only:
        sp = tenant.find_by("servicePrincipals", "appId", principal.app_id) or {}
        application = {"id": principal.app_id, "displayName": sp.get("displayName", "")}
        return {"application": application, "user": None, "device": None}
    user = tenant.find("users", principal.id) or {}
    who = {"id": principal.id, "displayName": user.get("displayName", "")}
    return {"user": who, "application": None, "device": None}


def new_request(
    tenant: Tenant,
    principal: Principal,
    kind: str,
    text: str,
    now: datetime,
    expiry: timedelta,
    payload: Json | None = None,
) -> Json:
    """A filed request; ``payload`` holds the undocumented ``payload*`` properties that live
    responses carry and that name the object the request is for."""
    stamp = format_datetime(now)
    return {
        "@odata.type": "#microsoft.graph.operationApprovalRequest",
        "id": str(uuid.uuid4()),
        "requestDateTime": stamp,
        "expirationDateTime": format_datetime(now + expiry),
        "lastModifiedDateTime": stamp,
        "requestor": identity_set(tenant, principal),
        "approver": None,
        "status": "needsApproval",
        "requestJustification": text,
        "approvalJustification": None,
        "requiredOperationApprovalPolicyTypes": [kind],
        **(payload or {}),
    }


def complete(tenant: Tenant, request: Json, principal: Principal, now: datetime) -> None:
    request["status"] = "completed"
    request["lastModifiedDateTime"] = format_datetime(now)
    resource = audit.Resource(str(request["id"]), "", "OperationApprovalRequest")
    audit.record(
        tenant, principal, now, "MAA: approved change applied",
        "Complete OperationApprovalRequest", [resource],
    )  # fmt: skip


def act(tenant: Tenant, call: Call, target: Target, principal: Principal, now: datetime) -> Reply:
    """``approve`` / ``reject`` / ``cancelApproval`` on one request (delegated approvers only),
    or the collection-bound ``cancelMyRequest`` (body ``{"id": ...}``; the requester only)."""
    if target.relationship == "cancelMyRequest":
        return _cancel_my_request(tenant, call, principal, now)
    request = tenant.find(REQUESTS, target.item_id)
    assert request is not None
    if principal.app_only:
        return error(403, "Forbidden", "Applications cannot approve or reject approval requests.")
    if target.relationship == "cancelApproval":
        return _cancel(tenant, request, principal, now)
    refusal = _approval_refusal(tenant, request, principal)
    if refusal is not None:
        return refusal
    return _decide(tenant, call, request, principal, now, _VERBS[target.relationship])


def _cancel_my_request(tenant: Tenant, call: Call, principal: Principal, now: datetime) -> Reply:
    request_id = _json(call.body).get("id")
    if not isinstance(request_id, str) or not request_id:
        return error(400, "BadRequest", 'The request body must name the request: {"id": ...}.')
    request = tenant.find(REQUESTS, request_id)
    if request is None:
        return error(404, "ResourceNotFound", f"Resource '{request_id}' was not found.")
    return _cancel(tenant, request, principal, now)


def _approval_refusal(tenant: Tenant, request: Json, principal: Principal) -> Reply | None:
    if request.get("status") != "needsApproval":
        return error(400, "BadRequest", f"The request is {request.get('status')}, not pending.")
    requestor = (request.get("requestor") or {}).get("user") or {}
    if str(requestor.get("id", "")).lower() == principal.id.lower():
        return error(403, "Forbidden", "The requestor cannot approve or reject their own request.")
    if not _is_approver(tenant, request, principal.id):
        return error(
            403, "Forbidden", "Only a member of an approver group can act on this request."
        )
    return None


def _is_approver(tenant: Tenant, request: Json, user_id: str) -> bool:
    """Direct members of the approver groups of the policies covering the request's types."""
    members = tenant.relationships.get("groups/{id}/members", {})
    for kind in request.get("requiredOperationApprovalPolicyTypes") or []:
        for policy in covering_policies(tenant, str(kind)):
            for group_id in policy.get("approverGroupIds") or []:
                ids = {str(m.get("id", "")).lower() for m in members.get(str(group_id).lower(), [])}
                if user_id.lower() in ids:
                    return True
    return False


def _decide(
    tenant: Tenant, call: Call, request: Json, principal: Principal, now: datetime, status: str
) -> Reply:
    body = _json(call.body)
    request.update(
        status=status,
        approver=identity_set(tenant, principal),
        approvalJustification=body.get("justification"),
        lastModifiedDateTime=format_datetime(now),
    )
    verb = "Approve" if status == "approved" else "Reject"
    resource = audit.Resource(str(request["id"]), "", "OperationApprovalRequest")
    audit.record(
        tenant,
        principal,
        now,
        f"MAA {verb.lower()}",
        f"{verb} OperationApprovalRequest",
        [resource],
    )
    return Reply(200, {"value": request["id"]})


def _cancel(tenant: Tenant, request: Json, principal: Principal, now: datetime) -> Reply:
    if not is_requestor(request, principal):
        return error(403, "Forbidden", "Only the requestor can cancel this request.")
    if request.get("status") not in ("needsApproval", "approved"):
        return error(400, "BadRequest", f"The request is {request.get('status')}, not pending.")
    request.update(status="cancelled", lastModifiedDateTime=format_datetime(now))
    resource = audit.Resource(str(request["id"]), "", "OperationApprovalRequest")
    audit.record(
        tenant, principal, now, "MAA cancel", "Cancel OperationApprovalRequest", [resource]
    )
    return Reply(204)


def is_requestor(request: Json, principal: Principal) -> bool:
    """An app-only caller is the requestor of the requests its app filed; a user of their own."""
    requestor = request.get("requestor") or {}
    if principal.app_only:
        application = requestor.get("application") or {}
        return not requestor.get("user") and _same(application.get("id"), principal.app_id)
    return _same((requestor.get("user") or {}).get("id"), principal.id)


def _same(value: object, expected: str) -> bool:
    return bool(expected) and str(value or "").lower() == expected.lower()


def _json(raw: bytes) -> Json:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
