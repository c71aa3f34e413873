"""Applying a write to the tenant once MAA lets it through, and auditing it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from maa_guard.emulator import audit
from maa_guard.emulator.routes import Target
from maa_guard.emulator.tenant import Principal, Tenant
from maa_guard.emulator.wire import Call, Json, Reply, error

POLICIES = "deviceManagement/operationApprovalPolicies"


def parse_body(call: Call) -> Json | Reply | None:
    if not call.body:
        return None
    try:
        body = json.loads(call.body)
    except ValueError:
        return error(400, "BadRequest", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return error(400, "BadRequest", "The request body must be a JSON object.")
    return body


def apply(
    tenant: Tenant,
    call: Call,
    target: Target,
    principal: Principal,
    when: datetime,
    keep: Collection[str] = (),
) -> Reply:
    """Callers hold ``tenant.lock``; the body has been validated by :func:`parse_body`. A PUT
    keeps the properties named in ``keep`` (those a profile does not serve)."""
    body = parse_body(call)
    if isinstance(body, Reply):
        return body
    reply = _change(tenant, call, target, body or {}, principal, when, keep)
    if reply.status < 300:
        resource = _resource(tenant, target, reply)
        verb = call.method.capitalize() if target.kind != "action" else target.relationship
        audit.record(
            tenant,
            principal,
            when,
            f"{verb} {resource.type}",
            f"{verb} {resource.type}",
            [resource],
        )
    return reply


def _change(
    tenant: Tenant,
    call: Call,
    target: Target,
    body: Json,
    principal: Principal,
    when: datetime,
    keep: Collection[str],
) -> Reply:
    items = tenant.collections[target.collection]
    if target.kind == "collection" and call.method == "POST":
        created = {**body, "id": str(body.get("id") or uuid.uuid4())}
        items.append(created)
        tenant.changed(target.collection, created["id"])
        return Reply(201, created)
    if target.kind == "action":
        return Reply(204)
    if target.kind != "entity":
        return error(405, "BadRequest", f"{call.method} is not supported on this route.")
    current = tenant.find(target.collection, target.item_id)
    assert current is not None
    if call.method == "DELETE":
        items.remove(current)
        tenant.changed(target.collection, str(current["id"]), removed=True)
        return Reply(204)
    before = dict(current)
    if call.method == "PUT":
        current.clear()
        current.update({name: before[name] for name in keep if name in before})
    current.update({**body, "id": before["id"]})
    tenant.changed(target.collection, str(before["id"]))
    if target.collection == POLICIES:
        _audit_exclusions(tenant, principal, when, before, current)
    return Reply(204)


def type_name(collection: str) -> str:
    """``deviceAppManagement/mobileApps`` -> ``MobileApp``."""
    kind = collection.rsplit("/", 1)[-1]
    singular = kind[:-3] + "y" if kind.endswith("ies") else kind.removesuffix("s")
    return singular[:1].upper() + singular[1:]


def _resource(tenant: Tenant, target: Target, reply: Reply) -> audit.Resource:
    item_id = target.item_id or (reply.body or {}).get("id", "")
    item = tenant.find(target.collection, item_id) or {}
    return audit.Resource(item_id, str(item.get("displayName", "")), type_name(target.collection))


def _audit_exclusions(
    tenant: Tenant, principal: Principal, when: datetime, before: Json, after: Json
) -> None:
    name = tenant.exclusions_property
    old, new = _excluded(before, name), _excluded(after, name)
    policy = audit.Resource(
        str(after["id"]), str(after.get("displayName", "")), "OperationApprovalPolicy"
    )
    for verb, app_ids in (("Add", new - old), ("Remove", old - new)):
        for app_id in sorted(app_ids):
            app = _app_resource(tenant, app_id)
            activity = f"{verb} exclusion {'to' if verb == 'Add' else 'from'} access policy"
            audit.record(
                tenant,
                principal,
                when,
                activity,
                f"{verb} OperationApprovalPolicyExclusion",
                [policy, app],
            )


def _excluded(policy: Json, name: str) -> set[str]:
    value: Any = policy.get(name)
    return {str(v) for v in value} if isinstance(value, list) else set()


def _app_resource(tenant: Tenant, app_id: str) -> audit.Resource:
    sp = tenant.find_by("servicePrincipals", "appId", app_id) or {}
    return audit.Resource(app_id, str(sp.get("displayName", "")), "ServicePrincipal")
