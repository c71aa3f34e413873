"""Shapes shared by the fixture builders: typed objects, ids, users, role assignments."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from maa_guard.emulator import graphroles as gr
from maa_guard.snapshot import Application, RoleAssignment, ServicePrincipal, Snapshot, User

Json = dict[str, Any]
INTUNE_SKU_ID = "061f9ace-7d42-4136-88ac-31dc755f143f"
INTUNE_PLAN = {
    "servicePlanId": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
    "servicePlanName": "INTUNE_A",
}
WORKLOAD_ID_SKU_ID = "7dc0e92d-bf15-401d-907e-0884efe7c760"
WORKLOAD_ID_PLAN = {
    "servicePlanId": "84c289f0-efcb-486f-8581-07f44fc9efad",
    "servicePlanName": "AAD_WRKLDID_P2",
}


class Named(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def display_name(self) -> str: ...


def typed(kind: str, fields: Mapping[str, Any]) -> Json:
    """A Graph object of type ``microsoft.graph.<kind>``, its ``@odata.type`` first."""
    return {"@odata.type": f"#microsoft.graph.{kind}", **fields}


def named(kind: str, item: Named, **fields: Any) -> Json:
    """A typed Graph object with the snapshot item's ``id`` and ``displayName``."""
    return typed(kind, {"id": item.id, "displayName": item.display_name, **fields})


def fixture_id(*parts: str) -> str:
    """A deterministic GUID for objects the snapshot does not carry."""
    return str(uuid.uuid5(gr.NAMESPACE, "/".join(parts)))


def user_json(user: User) -> Json:
    return named(
        "user",
        user,
        userPrincipalName=user.user_principal_name,
        accountEnabled=user.account_enabled,
        userType=user.user_type,
    )


def role_assignment(assignment: RoleAssignment) -> Json:
    return named(
        "deviceAndAppManagementRoleAssignment",
        assignment,
        members=list(assignment.members),
        scopeMembers=list(assignment.scope_members),
        resourceScopes=list(assignment.resource_scopes),
        scopeType=assignment.scope_type,
    )


def tenant_sps(snapshot: Snapshot) -> list[ServicePrincipal]:
    return [sp for sp in snapshot.service_principals if sp.app_id != gr.GRAPH_APP_ID]


def applications(snapshot: Snapshot) -> list[Application]:
    return [sp.application for sp in snapshot.service_principals if sp.application is not None]
