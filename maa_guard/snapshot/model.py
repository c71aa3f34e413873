"""The snapshot: one tenant's MAA inventory, the contract between collection and evaluation.

Classes marked ``GRAPH_SHAPED`` keep Microsoft Graph's camelCase property names in JSON
(``approverGroupIds``); the envelope (``Snapshot``, ``TenantInfo``, ...) uses snake_case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from maa_guard.model import ExclusionSource, SourceState

SCHEMA_VERSION = 1

# The data sources a collector records completeness for, and rules declare they need.
SOURCES = (
    "access_policies",
    "exclusions",
    "approval_requests",
    "groups",
    "users",
    "service_principals",
    "conditional_access",
    "rbac",
    "audit_events",
    "sign_in_activity",
)


@dataclass(frozen=True, slots=True)
class MalformedItem:
    """An item Graph returned that does not fit the model: left out of the snapshot, while its
    source stays complete. Every rule reading that source reports it as an ``error``.

    ``kind`` is the object type (``approvalRequest``), ``id`` the item's id (``#n``, its
    position in the answer, when it has none), ``path`` the JSON path, inside the item, of the
    field that failed and ``problem`` what is wrong with it."""

    kind: str
    id: str
    path: str
    problem: str


@dataclass(frozen=True, slots=True)
class SourceStatus:
    state: SourceState
    reason: str = ""
    missing_permission: str | None = None
    missing_licence: str | None = None
    malformed: tuple[MalformedItem, ...] = ()

    def describe(self, name: str) -> str:
        """``groups is failed (HTTP 403); missing permission GroupMember.Read.All``."""
        text = f"{name} is {self.state.value}"
        if self.reason:
            text += f" ({self.reason})"
        if self.missing_permission:
            text += f"; missing permission {self.missing_permission}"
        if self.missing_licence:
            text += f"; missing licence {self.missing_licence}"
        return text


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: str
    display_name: str = ""
    workload_identities_premium: bool | None = None
    unlicensed_admins_allowed: bool | None = None


@dataclass(frozen=True, slots=True)
class Exclusion:
    GRAPH_SHAPED: ClassVar[bool] = True
    app_id: str
    source: ExclusionSource
    service_principal_id: str | None = None
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    display_name: str
    policy_type: str
    approver_group_ids: tuple[str, ...]
    description: str = ""
    policy_platform: str = "notApplicable"
    last_modified_date_time: datetime | None = None
    exclusions: tuple[Exclusion, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class IdentitySet:
    GRAPH_SHAPED: ClassVar[bool] = True
    user: Identity | None = None
    application: Identity | None = None
    device: Identity | None = None

    @property
    def principal(self) -> Identity | None:
        return self.user or self.application or self.device


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """``requestor`` and ``approver`` may be null (live tenants return both as null):
    ``evaluate.identities`` then looks for them in the MAA audit events naming the request.

    ``payload_*`` are undocumented properties live answers carry: the object the request is
    for (``payloadId``: its id; ``payloadType``: e.g.
    ``Microsoft.Management.Services.Api.MobileApp``; ``payloadOperation``: ``Create``,
    ``Update``, ``Delete``, ``Action``, ...). The bodies (``payload``, ``displayPayload``) are
    not kept: they can hold script content and settings values, and are bulky."""

    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    status: str
    request_date_time: datetime
    requestor: IdentitySet | None = None
    approver: IdentitySet | None = None
    request_justification: str = ""
    approval_justification: str = ""
    expiration_date_time: datetime | None = None
    last_modified_date_time: datetime | None = None
    required_operation_approval_policy_types: tuple[str, ...] = ()
    payload_id: str = ""
    payload_type: str = ""
    payload_subtype: str = ""
    payload_operation: str = ""
    payload_name: str = ""


@dataclass(frozen=True, slots=True)
class DirectoryObjectRef:
    """A member or owner: ``type`` is user, group, servicePrincipal, device or orgContact."""

    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    type: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    display_name: str
    security_enabled: bool
    mail_enabled: bool
    group_types: tuple[str, ...] = ()
    is_assignable_to_role: bool | None = None
    membership_rule: str | None = None
    on_premises_sync_enabled: bool | None = None
    members: tuple[DirectoryObjectRef, ...] = ()
    transitive_members: tuple[DirectoryObjectRef, ...] = ()
    owners: tuple[DirectoryObjectRef, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    user_principal_name: str
    account_enabled: bool
    display_name: str = ""
    user_type: str = "Member"
    intune_licensed: bool | None = None


# Credentials keep what the rules need (id, name, kind, validity) and no secret material: Graph's
# ``hint`` (a client secret's first characters), ``secretText`` and a certificate's ``key`` are
# not fields, so the codec drops them when a snapshot is collected or a file is loaded, and no
# snapshot file, history or state written from the model holds them.
@dataclass(frozen=True, slots=True)
class KeyCredential:
    GRAPH_SHAPED: ClassVar[bool] = True
    key_id: str
    type: str = "AsymmetricX509Cert"
    usage: str = "Verify"
    display_name: str = ""
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class PasswordCredential:
    GRAPH_SHAPED: ClassVar[bool] = True
    key_id: str
    display_name: str = ""
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class FederatedIdentityCredential:
    GRAPH_SHAPED: ClassVar[bool] = True
    name: str
    issuer: str
    id: str = ""
    subject: str | None = None
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Application:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    app_id: str
    display_name: str = ""
    password_credentials: tuple[PasswordCredential, ...] = ()
    key_credentials: tuple[KeyCredential, ...] = ()
    federated_identity_credentials: tuple[FederatedIdentityCredential, ...] = ()
    owners: tuple[DirectoryObjectRef, ...] = ()


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """``app_permissions``: granted Microsoft Graph application permissions, by name."""

    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    app_id: str
    account_enabled: bool
    display_name: str = ""
    app_owner_organization_id: str | None = None
    service_principal_type: str = "Application"
    password_credentials: tuple[PasswordCredential, ...] = ()
    key_credentials: tuple[KeyCredential, ...] = ()
    owners: tuple[DirectoryObjectRef, ...] = ()
    app_permissions: tuple[str, ...] = ()
    application: Application | None = None


@dataclass(frozen=True, slots=True)
class ClientApplications:
    GRAPH_SHAPED: ClassVar[bool] = True
    include_service_principals: tuple[str, ...] = ()
    exclude_service_principals: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionalAccessLocations:
    GRAPH_SHAPED: ClassVar[bool] = True
    include_locations: tuple[str, ...] = ()
    exclude_locations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionalAccessConditions:
    GRAPH_SHAPED: ClassVar[bool] = True
    client_applications: ClientApplications | None = None
    locations: ConditionalAccessLocations | None = None
    service_principal_risk_levels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GrantControls:
    GRAPH_SHAPED: ClassVar[bool] = True
    operator: str = "OR"
    built_in_controls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionalAccessPolicy:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    display_name: str
    state: str
    conditions: ConditionalAccessConditions = field(default_factory=ConditionalAccessConditions)
    grant_controls: GrantControls | None = None


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    display_name: str
    is_built_in: bool = False


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """An Intune role assignment; ``members`` are the admin group object ids."""

    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    display_name: str
    members: tuple[str, ...] = ()
    role_definition_id: str | None = None
    scope_members: tuple[str, ...] = ()
    resource_scopes: tuple[str, ...] = ()
    scope_type: str | None = None


@dataclass(frozen=True, slots=True)
class AuditActor:
    GRAPH_SHAPED: ClassVar[bool] = True
    application_id: str | None = None
    application_display_name: str = ""
    user_principal_name: str | None = None
    service_principal_name: str | None = None
    audit_actor_type: str | None = None
    user_id: str | None = None

    @property
    def is_app_only(self) -> bool:
        return bool(self.application_id) and not self.user_principal_name


@dataclass(frozen=True, slots=True)
class AuditResource:
    GRAPH_SHAPED: ClassVar[bool] = True
    resource_id: str | None = None
    display_name: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    GRAPH_SHAPED: ClassVar[bool] = True
    id: str
    activity_date_time: datetime
    actor: AuditActor
    activity: str = ""
    activity_type: str = ""
    activity_operation_type: str = ""
    activity_result: str = ""
    category: str = ""
    component_name: str = ""
    resources: tuple[AuditResource, ...] = ()


@dataclass(frozen=True, slots=True)
class SignInActivity:
    """The last app-only sign-in of an app as a client (``applicationAuthenticationClient...``)."""

    GRAPH_SHAPED: ClassVar[bool] = True
    app_id: str
    last_app_only_client_sign_in_date_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    schema_version: int
    tool_version: str
    collected_at: datetime
    tenant: TenantInfo
    window: Window
    sources: dict[str, SourceStatus]
    policies: tuple[AccessPolicy, ...] = ()
    approval_requests: tuple[ApprovalRequest, ...] = ()
    groups: tuple[Group, ...] = ()
    users: tuple[User, ...] = ()
    service_principals: tuple[ServicePrincipal, ...] = ()
    conditional_access_policies: tuple[ConditionalAccessPolicy, ...] = ()
    role_definitions: tuple[RoleDefinition, ...] = ()
    role_assignments: tuple[RoleAssignment, ...] = ()
    audit_events: tuple[AuditEvent, ...] = ()
    sign_in_activity: tuple[SignInActivity, ...] = ()

    def source_state(self, name: str) -> SourceStatus:
        """A source the collector did not record is as good as failed: never assume complete."""
        return self.sources.get(
            name, SourceStatus(SourceState.FAILED, reason="not recorded in the snapshot")
        )
