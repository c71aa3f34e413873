"""Microsoft Graph application permissions (app roles) and the token names a fixture built
from a snapshot carries (each the bearer token itself only with ``fixed_tokens``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from maa_guard.emulator.wire import Json

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
NAMESPACE = uuid.UUID("6f0c3c1e-3a55-4f51-9a0e-1e6f3a7c9b21")

# Microsoft Graph's appRole ids for these application permissions (as its service principal's
# ``appRoles`` lists them); any other permission gets a deterministic uuid5 (app_role_id).
KNOWN_APP_ROLE_IDS = {
    "DeviceManagementApps.Read.All": "7a6ee1e7-141e-4cec-ae74-d9db155731ff",
    "DeviceManagementApps.ReadWrite.All": "78145de6-330d-4800-a6ce-494ff2d33d07",
    "DeviceManagementConfiguration.Read.All": "dc377aa6-52d8-4e23-b271-2a7ae04cedf3",
    "DeviceManagementConfiguration.ReadWrite.All": "9241abd9-d0e6-425a-bd4f-47ba86e767a4",
    "DeviceManagementManagedDevices.Read.All": "2f51be20-0bb4-4fed-bf7b-db946066c75e",
    "DeviceManagementManagedDevices.ReadWrite.All": "243333ab-4d21-40cb-a475-36241daa0842",
    "DeviceManagementManagedDevices.PrivilegedOperations.All": (
        "5b07b0dd-2377-4e44-a38d-703f09a0dc3c"
    ),
    "DeviceManagementRBAC.Read.All": "58ca0d9a-1575-47e1-a3cb-007ef2e4583b",
    "DeviceManagementRBAC.ReadWrite.All": "e330c4f0-4170-414e-a55a-2f022ec2b57b",
    "DeviceManagementServiceConfig.Read.All": "06a5fe6d-c49d-46a7-b082-56b1b14103c7",
    "DeviceManagementServiceConfig.ReadWrite.All": "5ac13192-7ace-4fcf-b828-1a26f28068ee",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    "Group.ReadWrite.All": "62a82d76-70ea-41e2-9197-370581804d09",
    "GroupMember.ReadWrite.All": "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
}

# The least-privilege read set of an MAA auditor: what the auditor's own app-only token holds.
READER_ROLES = (
    "DeviceManagementRBAC.Read.All",
    "DeviceManagementApps.Read.All",
    "Application.Read.All",
    "GroupMember.Read.All",
    "User.Read.All",
    "Policy.Read.All",
    "AuditLog.Read.All",
    "Directory.Read.All",
)
READER_TOKEN = "maa-guard-reader"
READER_APP_ID = str(uuid.uuid5(NAMESPACE, "maa-guard-reader"))
DELEGATED_SCOPES = (
    "DeviceManagementRBAC.ReadWrite.All",
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
)


def app_role_id(permission: str) -> str:
    return KNOWN_APP_ROLE_IDS.get(permission) or str(uuid.uuid5(NAMESPACE, f"role:{permission}"))


def app_roles(permissions: Iterable[str]) -> list[Json]:
    names = sorted({*KNOWN_APP_ROLE_IDS, *READER_ROLES, *permissions})
    return [
        {
            "id": app_role_id(name),
            "value": name,
            "displayName": name,
            "allowedMemberTypes": ["Application"],
            "isEnabled": True,
            "origin": "Application",
        }
        for name in names
    ]


def app_token(app_id: str) -> str:
    """The fixture's token name for an app's own app-only calls (``Emulator.app_token``
    gives the bearer token)."""
    return f"app-{app_id}"


def user_token(user_id: str) -> str:
    """The fixture's token name for a user's delegated calls (``Emulator.user_token`` gives
    the bearer token)."""
    return f"user-{user_id}"
