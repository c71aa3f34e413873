"""Relationship routes of a fixture built from a snapshot (members, owners, grants, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from maa_guard.codec import encode
from maa_guard.emulator import graphroles as gr
from maa_guard.emulator.fixture_parts import (
    INTUNE_PLAN,
    INTUNE_SKU_ID,
    Json,
    applications,
    fixture_id,
    role_assignment,
    tenant_sps,
    user_json,
)
from maa_guard.snapshot import (
    Application,
    DirectoryObjectRef,
    Group,
    ServicePrincipal,
    Snapshot,
    User,
)


def relationships(snapshot: Snapshot, graph_sp: Json) -> Json:
    users = {user.id.lower(): user for user in snapshot.users}
    sps = tenant_sps(snapshot)
    grants = {sp.id: _grants(sp, graph_sp) for sp in sps}
    return {
        "groups/{id}/members": _refs(snapshot.groups, "members", users),
        "groups/{id}/transitiveMembers": _refs(snapshot.groups, "transitive_members", users),
        "groups/{id}/owners": _refs(snapshot.groups, "owners", users),
        "users/{id}/licenseDetails": {u.id: _licence_details(u) for u in snapshot.users},
        "servicePrincipals/{id}/owners": {sp.id: _objects(sp.owners, users) for sp in sps},
        "servicePrincipals/{id}/appRoleAssignments": grants,
        "servicePrincipals/{id}/appRoleAssignedTo": {
            graph_sp["id"]: [grant for items in grants.values() for grant in items]
        },
        "applications/{id}/owners": {
            app.id: _objects(app.owners, users) for app in applications(snapshot)
        },
        "applications/{id}/federatedIdentityCredentials": {
            app.id: [_federated(app, f) for f in app.federated_identity_credentials]
            for app in applications(snapshot)
        },
        "deviceManagement/roleDefinitions/{id}/roleAssignments": _assignments_by_role(snapshot),
    }


def _refs(groups: Iterable[Group], attribute: str, users: dict[str, User]) -> Json:
    return {group.id: _objects(getattr(group, attribute), users) for group in groups}


def _objects(refs: Iterable[DirectoryObjectRef], users: dict[str, User]) -> list[Json]:
    return [_object(ref, users.get(ref.id.lower())) for ref in refs]


def _object(ref: DirectoryObjectRef, user: User | None) -> Json:
    item: Json = {"@odata.type": f"#microsoft.graph.{ref.type}", "id": ref.id}
    item["displayName"] = ref.display_name
    if user is not None:
        item.update(user_json(user))
    return item


def _licence_details(user: User) -> list[Json]:
    if not user.intune_licensed:
        return []
    plan = {**INTUNE_PLAN, "provisioningStatus": "Success", "appliesTo": "User"}
    return [
        {
            "id": fixture_id("licenseDetails", user.id),
            "skuId": INTUNE_SKU_ID,
            "skuPartNumber": "INTUNE_A",
            "servicePlans": [plan],
        }
    ]


def _grants(sp: ServicePrincipal, graph_sp: Json) -> list[Json]:
    return [
        {
            "id": fixture_id("grant", sp.id, permission),
            "appRoleId": gr.app_role_id(permission),
            "principalId": sp.id,
            "principalType": "ServicePrincipal",
            "principalDisplayName": sp.display_name,
            "resourceId": graph_sp["id"],
            "resourceDisplayName": "Microsoft Graph",
            "creationTimestamp": None,
        }
        for permission in sp.app_permissions
    ]


def _federated(app: Application, credential: Any) -> Json:
    item: Json = encode(credential)
    item["id"] = credential.id or fixture_id("fic", app.id, credential.name)
    return item


def _assignments_by_role(snapshot: Snapshot) -> Json:
    by_role: dict[str, list[Json]] = {d.id: [] for d in snapshot.role_definitions}
    for assignment in snapshot.role_assignments:
        if assignment.role_definition_id in by_role:
            by_role[assignment.role_definition_id].append(role_assignment(assignment))
    return by_role
