"""Relationship routes of a fixture built from a snapshot (members, owners, grants, ...)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from maa_guard.emulator import graphroles as gr
from maa_guard.emulator.fixture_parts import (
    INTUNE_PLAN,
    INTUNE_SKU_ID,
    Json,
    Named,
    applications,
    fixture_id,
    named,
    role_assignment,
    tenant_sps,
    user_json,
)
from maa_guard.snapshot import (
    Application,
    DirectoryObjectRef,
    ServicePrincipal,
    Snapshot,
    User,
)
from maa_guard.snapshot.codec import encode

P = TypeVar("P", bound=Named)


def relationships(snapshot: Snapshot, graph_sp: Json) -> Json:
    users = {user.id.lower(): user for user in snapshot.users}
    objects = functools.partial(_objects, users=users)
    sps, apps, groups = tenant_sps(snapshot), applications(snapshot), snapshot.groups
    grants = _listing(sps, lambda sp: _grants(sp, graph_sp))
    return {
        "groups/{id}/members": _listing(groups, lambda g: objects(g.members)),
        "groups/{id}/transitiveMembers": _listing(groups, lambda g: objects(g.transitive_members)),
        "groups/{id}/owners": _listing(groups, lambda g: objects(g.owners)),
        "users/{id}/licenseDetails": _listing(snapshot.users, _licence_details),
        "servicePrincipals/{id}/owners": _listing(sps, lambda sp: objects(sp.owners)),
        "servicePrincipals/{id}/appRoleAssignments": grants,
        "servicePrincipals/{id}/appRoleAssignedTo": {
            graph_sp["id"]: [grant for items in grants.values() for grant in items]
        },
        "applications/{id}/owners": _listing(apps, lambda app: objects(app.owners)),
        "applications/{id}/federatedIdentityCredentials": _listing(apps, _federated_credentials),
        "deviceManagement/roleDefinitions/{id}/roleAssignments": _assignments_by_role(snapshot),
    }


def _listing(parents: Iterable[P], items: Callable[[P], list[Json]]) -> dict[str, list[Json]]:
    """A relationship: each parent's id and the objects it lists."""
    return {parent.id: items(parent) for parent in parents}


def _objects(refs: Iterable[DirectoryObjectRef], users: dict[str, User]) -> list[Json]:
    return [_object(ref, users.get(ref.id.lower())) for ref in refs]


def _object(ref: DirectoryObjectRef, user: User | None) -> Json:
    return user_json(user) if user is not None else named(ref.type, ref)


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


def _federated_credentials(app: Application) -> list[Json]:
    return [_federated(app, credential) for credential in app.federated_identity_credentials]


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
