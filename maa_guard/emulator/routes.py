"""Resolving a Graph path against the tenant, and what each route needs: class and permissions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from maa_guard.emulator.changelog import DELTA_COLLECTIONS
from maa_guard.emulator.tenant import Tenant
from maa_guard.emulator.wire import Reply, error, not_found_segment, resource_not_found

_ALT_KEY = re.compile(r"^(?P<coll>[A-Za-z]+)\(appId='(?P<key>[^']*)'\)(?P<rest>/.*)?$")
_ALT_KEY_COLLECTIONS = ("servicePrincipals", "applications")
# Entity-bound actions the emulator knows (POST only): device actions and approval actions.
ACTIONS = frozenset({"wipe", "retire", "approve", "reject", "cancelApproval"})
# Collection-bound actions (POST only). ``cancelMyRequest`` takes the request id in its body;
# Graph answers the entity-bound form ``{id}/cancelMyRequest`` as an unknown segment.
COLLECTION_ACTIONS = {"deviceManagement/operationApprovalRequests": frozenset({"cancelMyRequest"})}
# Collection-bound functions (GET): the audit log's categories and a category's activity types.
AUDIT_EVENTS = "deviceManagement/auditEvents"
_CATEGORIES = "getAuditCategories"
_ACTIVITY_TYPES = "getAuditActivityTypes"
_ACTIVITY_TYPES_CALL = re.compile(r"^getAuditActivityTypes\(category='(?P<value>(?:[^']|'')*)'\)$")
# The delta function, by its short or fully qualified name, with or without ``()``.
_DELTA = frozenset({"delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"})


@dataclass(frozen=True, slots=True)
class Target:
    """``kind``: collection, entity, relationship, singleton, action, function or delta.
    ``template`` names the route; a function's parameter is in ``item_id``."""

    kind: str
    template: str
    collection: str = ""
    item_id: str = ""
    relationship: str = ""
    cast: str = ""

    @property
    def endpoint_class(self) -> str:
        return endpoint_class(self.template)

    @property
    def is_directory(self) -> bool:
        return self.endpoint_class == "directory"


def endpoint_class(template: str) -> str:
    """Throttling and paging class: intune, conditionalAccess, reports or directory."""
    lowered = template.lower()
    if lowered.startswith(("devicemanagement", "deviceappmanagement")):
        return "intune"
    if lowered.startswith(("identity/conditionalaccess", "identityprotection")):
        return "conditionalAccess"
    if lowered.startswith(("auditlogs", "reports")):
        return "reports"
    return "directory"


_BETA_ONLY = (
    "deviceManagement/operationApprovalPolicies",
    "deviceManagement/operationApprovalRequests",
    "reports/servicePrincipalSignInActivities",
)


def beta_only(template: str) -> bool:
    """Routes Graph serves under ``/beta`` only; ``/v1.0`` answers an unknown segment."""
    lowered = template.lower()
    return any(lowered.startswith(prefix.lower()) for prefix in _BETA_ONLY)


def resolve(tenant: Tenant, path: str) -> Target | Reply:
    """A target, or the error reply Graph gives for a path that names nothing."""
    path = path.strip("/")
    alternate = _ALT_KEY.match(path)
    if alternate:
        rewritten = _rewrite_alternate_key(tenant, alternate)
        if isinstance(rewritten, Reply):
            return rewritten
        path = rewritten
    singleton = _singleton(tenant, path)
    if singleton is not None:
        return singleton
    return _collection_target(tenant, path)


def _rewrite_alternate_key(tenant: Tenant, match: re.Match[str]) -> str | Reply:
    collection = tenant.collection_name(match["coll"])
    if collection is None or collection not in _ALT_KEY_COLLECTIONS:
        return not_found_segment(match["coll"])
    item = tenant.find_by(collection, "appId", match["key"])
    if item is None:
        return resource_not_found(match["key"], directory=True)
    return f"{collection}/{item['id']}{match['rest'] or ''}"


def _singleton(tenant: Tenant, path: str) -> Target | None:
    for name in tenant.singletons:
        if name.lower() == path.lower():
            return Target("singleton", name)
    return None


def _collection_target(tenant: Tenant, path: str) -> Target | Reply:
    segments = path.split("/")
    for cut in range(len(segments), 0, -1):
        collection = tenant.collection_name("/".join(segments[:cut]))
        if collection is not None:
            return _below_collection(tenant, collection, segments[cut:])
    return not_found_segment(segments[0])


def _below_collection(tenant: Tenant, collection: str, rest: list[str]) -> Target | Reply:
    if not rest:
        return Target("collection", collection, collection)
    if len(rest) == 1 and rest[0] in COLLECTION_ACTIONS.get(collection, ()):
        return Target("action", f"{collection}/{rest[0]}", collection, "", rest[0])
    if len(rest) == 1 and collection == AUDIT_EVENTS and rest[0].startswith("getAudit"):
        return _audit_function(collection, rest[0])
    if len(rest) == 1 and collection in DELTA_COLLECTIONS and rest[0].lower() in _DELTA:
        return Target("delta", f"{collection}/delta", collection)
    item_id = rest[0]
    directory = endpoint_class(collection) == "directory"
    if tenant.find(collection, item_id) is None:
        return resource_not_found(item_id, directory)
    if len(rest) == 1:
        return Target("entity", f"{collection}/{{id}}", collection, item_id)
    if len(rest) == 2 and rest[1] in ACTIONS:
        return Target("action", f"{collection}/{{id}}/{rest[1]}", collection, item_id, rest[1])
    return _relationship(tenant, collection, item_id, rest[1:])


def _audit_function(collection: str, segment: str) -> Target | Reply:
    """``getAuditCategories`` or ``getAuditActivityTypes(category='...')`` ('' quotes a ')."""
    if segment == _CATEGORIES:
        return Target("function", f"{collection}/{segment}", collection, "", segment)
    call = _ACTIVITY_TYPES_CALL.match(segment)
    if call is None:
        if segment.startswith(_ACTIVITY_TYPES):
            return error(
                400,
                "BadRequest",
                f"The function '{_ACTIVITY_TYPES}' needs a category: "
                f"{_ACTIVITY_TYPES}(category='...').",
            )
        return not_found_segment(segment)
    category = call["value"].replace("''", "'")
    return Target(
        "function", f"{collection}/{_ACTIVITY_TYPES}", collection, category, _ACTIVITY_TYPES
    )


def _relationship(tenant: Tenant, collection: str, item_id: str, rest: list[str]) -> Target | Reply:
    name = tenant.relationship_name(f"{collection}/{{id}}/{rest[0]}")
    if name is None or len(rest) > 2:
        return not_found_segment(rest[0])
    cast = rest[1] if len(rest) == 2 else ""
    if cast and not cast.startswith("microsoft.graph."):
        return not_found_segment(cast)
    return Target("relationship", name, collection, item_id, name, cast)


# Accepted permissions per route prefix, as Graph's API pages list them, most specific first.
_READ = {
    "deviceManagement/auditEvents": ("DeviceManagementApps.Read.All",),
    "deviceAppManagement": ("DeviceManagementApps.Read.All",),
    "deviceManagement/managedDevices": ("DeviceManagementManagedDevices.Read.All",),
    "deviceManagement/managedDevices/{id}/wipe": (
        "DeviceManagementManagedDevices.PrivilegedOperations.All",
    ),
    "deviceManagement/managedDevices/{id}/retire": (
        "DeviceManagementManagedDevices.PrivilegedOperations.All",
    ),
    "deviceManagement": (
        "DeviceManagementRBAC.Read.All",
        "DeviceManagementConfiguration.Read.All",
    ),
    "users/{id}/licenseDetails": ("User.Read.All", "Directory.Read.All"),
    "groups": ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"),
    "users": ("User.Read.All", "Directory.Read.All"),
    "servicePrincipals": ("Application.Read.All", "Directory.Read.All"),
    "applications": ("Application.Read.All", "Directory.Read.All"),
    "identity/conditionalAccess": ("Policy.Read.All", "Policy.Read.ConditionalAccess"),
    "reports": ("AuditLog.Read.All",),
    "auditLogs": ("AuditLog.Read.All",),
    "subscribedSkus": ("Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All"),
    "organization": ("Organization.Read.All", "Directory.Read.All", "User.Read"),
}
_WRITE_OF = {
    "DeviceManagementApps.Read.All": "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementRBAC.Read.All": "DeviceManagementRBAC.ReadWrite.All",
    "DeviceManagementConfiguration.Read.All": "DeviceManagementConfiguration.ReadWrite.All",
    "GroupMember.Read.All": "GroupMember.ReadWrite.All",
    "Group.Read.All": "Group.ReadWrite.All",
    "Directory.Read.All": "Directory.ReadWrite.All",
    "User.Read.All": "User.ReadWrite.All",
    "Application.Read.All": "Application.ReadWrite.All",
    "Policy.Read.All": "Policy.ReadWrite.ConditionalAccess",
    "Organization.Read.All": "Organization.ReadWrite.All",
    "DeviceManagementManagedDevices.Read.All": "DeviceManagementManagedDevices.ReadWrite.All",
    "DeviceManagementManagedDevices.PrivilegedOperations.All": (
        "DeviceManagementManagedDevices.PrivilegedOperations.All"
    ),
}


def accepted_permissions(template: str, write: bool) -> frozenset[str]:
    """Any one of these grants the call; a write needs a ReadWrite permission."""
    reads = _route_reads(template)
    writes = {_WRITE_OF[p] for p in reads if p in _WRITE_OF}
    return frozenset(writes if write else set(reads) | writes)


def _route_reads(template: str) -> tuple[str, ...]:
    lowered = template.lower()
    for prefix in sorted(_READ, key=len, reverse=True):
        key = prefix.lower()
        if lowered == key or lowered.startswith(key + "/"):
            return _READ[prefix]
    return ("Directory.Read.All",)
