"""An incremental collection equals a full one, end to end over loopback HTTP.

The demo tenant is served by the emulator on a held clock (both profiles); a first collection
takes Graph's delta links, the tenant changes (``emulator.change``), and a second one 10
minutes to 7 days later builds on the first. Whatever changed, it must equal a full collection
of the changed tenant at the same moment (a property test over random changes). Besides: what
each collection costs in requests, the fallbacks to a full read, the delta state file beside a
snapshot, and ``--since`` on the command line.

Changes Graph's delta does not report are made without logging them (``Editor.silently``): an
app role granted or revoked, the transitive members of a group nesting a changed group, an
object's new name or state in the lists that show it, and a deleted user in apps' owners.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import io
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maa_guard.cli import main
from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint
from maa_guard.collect.collector import Collected, collect, collect_tracked
from maa_guard.collect.delta import DELTA_COLLECTIONS
from maa_guard.collect.incremental import Baseline
from maa_guard.config import Settings
from maa_guard.emulator import READER_TOKEN, Emulator, LoggedRequest, fixture_from_snapshot
from maa_guard.errors import EXIT_USAGE, InputError
from maa_guard.model import SourceState
from maa_guard.scan.live import LiveOptions, collect_live_tracked
from maa_guard.scan.pipeline import ScanRequest, settings_for
from maa_guard.scan.served import demo_path
from maa_guard.scan.since import load_baseline, state_path, write_collected
from maa_guard.snapshot import (
    Application,
    AuditEvent,
    AuditResource,
    DirectoryObjectRef,
    FederatedIdentityCredential,
    Group,
    KeyCredential,
    PasswordCredential,
    ServicePrincipal,
    SignInActivity,
    Snapshot,
    SourceStatus,
    TenantInfo,
    User,
)
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot, snapshot_to_json
from maa_guard.workloads import is_intune_write_permission

Json = dict[str, Any]
T = TypeVar("T")
PROFILES = ("default", "published")
DEMO = load_snapshot(demo_path("snapshot.json"))
FIXTURE = fixture_from_snapshot(DEMO)
SETTINGS = settings_for(ScanRequest(None, True, None, {}), {}, demo_path("."))
DAYS = 30
T0 = DEMO.collected_at
T1 = T0 + timedelta(minutes=10)
NAMESPACE = uuid.UUID("6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b")
GRAPH_SP = next(
    sp
    for sp in FIXTURE["collections"]["servicePrincipals"]
    if sp["displayName"] == "Microsoft Graph"
)
WRITE_ROLES = frozenset(
    role["id"] for role in GRAPH_SP["appRoles"] if is_intune_write_permission(role["value"])
)
USER_JSON = {user["id"]: user for user in FIXTURE["collections"]["users"]}
EMPTY = dataclasses.replace(
    DEMO,
    policies=(),
    approval_requests=(),
    groups=(),
    users=(),
    service_principals=(),
    conditional_access_policies=(),
    role_definitions=(),
    role_assignments=(),
    audit_events=(),
    sign_in_activity=(),
)


# ---- collecting ------------------------------------------------------------------------------


class Clock:
    """The emulator's clock, held, moved forward by the test between collections."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@contextmanager
def serving(**options: Any) -> Iterator[tuple[Emulator, Clock]]:
    """The demo tenant on a held clock, without throttling (request counts are exact)."""
    clock = Clock(T0)
    with Emulator(FIXTURE, fixed_tokens=True, throttle=False, now=clock.now, **options) as running:
        yield running, clock


@dataclass(frozen=True, slots=True)
class Run:
    collected: Collected
    requests: int  # HTTP requests the client sent (each $batch once)
    log: list[LoggedRequest]  # what the emulator served for this collection


def collect_at(
    emulator: Emulator,
    moment: datetime,
    baseline: Baseline | None = None,
    days: int = DAYS,
    chosen: Settings = SETTINGS,
    tenant_id: str = DEMO.tenant.id,
) -> Run:
    served = len(emulator.requests)

    async def go() -> tuple[Collected, int]:
        endpoint = resolve_endpoint("global", emulator.url)
        async with GraphClient(StaticTokenCredential(READER_TOKEN), endpoint, timeout=30) as client:
            collected = await collect_tracked(
                client, chosen, days, baseline=baseline, now=moment, tenant_id=tenant_id
            )
            return collected, client.request_count

    collected, count = asyncio.run(go())
    return Run(collected, count, list(emulator.requests[served:]))


def baseline_of(collected: Collected) -> Baseline:
    return Baseline(
        collected.snapshot,
        collected.links,
        collected.history_categories,
        collected.full_collected_at,
    )


def as_json(collected: Collected) -> Json:
    parsed: Json = json.loads(snapshot_to_json(collected.snapshot))
    return parsed


def assert_same(incremental: Collected, full: Collected) -> None:
    """Equal snapshots, compared part by part first (a readable difference), then as text."""
    mine, theirs = as_json(incremental), as_json(full)
    for key in theirs:
        assert mine[key] == theirs[key], key
    assert snapshot_to_json(incremental.snapshot) == snapshot_to_json(full.snapshot)


# ---- changing the tenant as Graph would show it ---------------------------------------------


def shapes(**parts: Any) -> Json:
    """The fixture of a snapshot holding only ``parts``: each object in the shapes the
    emulator serves the demo in."""
    return fixture_from_snapshot(dataclasses.replace(EMPTY, **parts))


class Editor:
    """Changes the emulated tenant. ``emulator.change`` logs each change for delta queries;
    :meth:`silently` changes what Graph's delta does not report. Objects are named by an index
    into those of their kind, the demo's and the ones added so far."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.change = emulator.change
        self.made = 0
        self.sps = [(sp.id, sp.app_id) for sp in DEMO.service_principals]
        self.applications = list(REGISTERED)
        self.users = list(USER_IDS)
        self.groups = list(GROUP_IDS)

    @property
    def maa_category(self) -> str:
        """The audit category of MAA's events on this profile."""
        return self.emulator.tenant.audit_category

    def new_id(self, kind: str) -> str:
        self.made += 1
        return str(uuid.uuid5(NAMESPACE, f"{kind}/{self.made}"))

    def find(self, collection: str, item_id: str) -> Json | None:
        tenant = self.emulator.tenant
        with tenant.lock:
            found = tenant.find(collection, item_id)
            return None if found is None else copy.deepcopy(found)

    def find_by(self, collection: str, key: str, value: str) -> Json | None:
        tenant = self.emulator.tenant
        with tenant.lock:
            found = tenant.find_by(collection, key, value)
            return None if found is None else copy.deepcopy(found)

    def related(self, template: str, parent_id: str) -> list[Json]:
        tenant = self.emulator.tenant
        with tenant.lock:
            name = tenant.relationship_name(template) or template
            items = tenant.relationships.get(name, {}).get(parent_id.lower(), [])
            return copy.deepcopy(items)

    def parents(self, template: str, member_id: str) -> list[str]:
        """The parents whose ``template`` list holds ``member_id``."""
        tenant = self.emulator.tenant
        with tenant.lock:
            by_parent = tenant.relationships.get(tenant.relationship_name(template) or "", {})
            return [
                parent
                for parent, items in by_parent.items()
                if any(str(i.get("id", "")).lower() == member_id.lower() for i in items)
            ]

    def silently(self, template: str, parent_id: str, items: Sequence[Json]) -> None:
        tenant = self.emulator.tenant
        with tenant.lock:
            name = tenant.relationship_name(template) or template
            tenant.relationships.setdefault(name, {})[parent_id.lower()] = list(items)
            tenant.touch()

    def put(self, collection: str, item: Json) -> None:
        """The object changed, and every relationship list showing it shows it as it is now
        (Graph lists the objects themselves); those lists' parents are not reported changed."""
        self.change.put(collection, item)
        tenant = self.emulator.tenant
        with tenant.lock:
            for by_parent in tenant.relationships.values():
                for items in by_parent.values():
                    for listed in items:
                        if str(listed.get("id", "")).lower() == item["id"].lower():
                            listed.update({k: v for k, v in item.items() if k in listed})
            tenant.touch()

    def append_event(self, event: AuditEvent) -> None:
        (item,) = shapes(audit_events=(event,))["collections"]["deviceManagement/auditEvents"]
        self.change.append("deviceManagement/auditEvents", [item])

    def signed_in(self, app_id: str, sp_id: str, when: datetime) -> None:
        """The report's row moves to ``when`` (when later), and the sign-in log shows it."""
        activity = SignInActivity(app_id, when)
        sp = ServicePrincipal(id=sp_id, app_id=app_id, account_enabled=True)
        parts = shapes(service_principals=(sp,), sign_in_activity=(activity,))["collections"]
        (row,) = parts["reports/servicePrincipalSignInActivities"]
        (sign_in,) = parts["auditLogs/signIns"]
        earlier = self.find("reports/servicePrincipalSignInActivities", row["id"])
        if earlier is not None:
            before = earlier["applicationAuthenticationClientSignInActivity"]["lastSignInDateTime"]
            if before is not None and before > row["lastSignInActivity"]["lastSignInDateTime"]:
                row = earlier
        self.change.put("reports/servicePrincipalSignInActivities", row)
        self.change.append("auditLogs/signIns", [{**sign_in, "id": self.new_id("signIn")}])

    def grants(self, sp_id: str, items: Sequence[Json]) -> None:
        """The app roles granted to ``sp_id``, on both sides (the principal's
        ``appRoleAssignments`` and Graph's ``appRoleAssignedTo``); not reported by delta."""
        self.silently("servicePrincipals/{id}/appRoleAssignments", sp_id, items)
        held = self.related("servicePrincipals/{id}/appRoleAssignedTo", GRAPH_SP["id"])
        kept = [g for g in held if g["principalId"].lower() != sp_id.lower()]
        self.silently("servicePrincipals/{id}/appRoleAssignedTo", GRAPH_SP["id"], [*kept, *items])

    def set_members(self, group_id: str, members: Sequence[Json]) -> None:
        """A group's direct members (reported), and the transitive members of it and of every
        group nesting it (a nesting group's are not reported: its own members did not change)."""
        self.change.set_relationship("groups/{id}/members", group_id, members)
        for parent in self._nesting(group_id):
            self.silently("groups/{id}/transitiveMembers", parent, self._transitive(parent))

    def _nesting(self, group_id: str) -> list[str]:
        found, queue = [group_id.lower()], [group_id.lower()]
        while queue:
            for parent in self.parents("groups/{id}/members", queue.pop()):
                if parent not in found:
                    found.append(parent)
                    queue.append(parent)
        return found

    def _transitive(self, group_id: str) -> list[Json]:
        members = self.related("groups/{id}/members", group_id)
        seen = {m["id"].lower() for m in members}
        result = list(members)
        for member in members:
            if member.get("@odata.type") == "#microsoft.graph.group":
                for inner in self._transitive(member["id"]):
                    if inner["id"].lower() not in seen:
                        seen.add(inner["id"].lower())
                        result.append(inner)
        return result


def moment(minute: int) -> datetime:
    """From 59 minutes before the first collection (late arrivals) to before the second."""
    return T0 - timedelta(minutes=59) + timedelta(minutes=minute)


def pick(items: Sequence[T], index: int) -> T:
    return items[index % len(items)]


MINUTES = st.integers(0, 68)
ANY = st.integers(0, 63)  # an index into the objects of a kind
REGISTERED = [sp.application.id for sp in DEMO.service_principals if sp.application is not None]
USER_IDS = [user.id for user in DEMO.users]
GROUP_IDS = [group.id for group in DEMO.groups]
NESTED_GROUP = "b7290acc-69ad-4e7f-9373-798346ea3d49"  # the one group others may nest
POLICY_IDS = [policy.id for policy in DEMO.policies]
EVENTS = {event.id: event for event in DEMO.audit_events}
APP_ONLY_EVENT = EVENTS["9cebd385-9dd2-475d-bcd0-a9233db8314b"]  # Create MobileApp, app-only
EXCLUSION_EVENT = EVENTS["545bf380-c3a9-48ce-9356-493abd70e217"]  # Add ...PolicyExclusion
USER_EVENT = EVENTS["9f8b435d-feec-4a87-91b2-1cecd4962fe4"]  # Create OperationApprovalPolicy


def _policy(editor: Editor, policy_id: str) -> Json:
    found = editor.find("deviceManagement/operationApprovalPolicies", policy_id)
    assert found is not None
    return found


def _app_only(editor: Editor, app_id: str, when: datetime) -> AuditEvent:
    actor = dataclasses.replace(
        APP_ONLY_EVENT.actor,
        application_id=app_id,
        application_display_name="Writer",
        service_principal_name="Writer",
    )
    return dataclasses.replace(
        APP_ONLY_EVENT, id=editor.new_id("event"), activity_date_time=when, actor=actor
    )


def _exclusion(
    editor: Editor, policy_id: str, app_id: str, when: datetime, operation: str, category: str
) -> AuditEvent:
    policy = _policy(editor, policy_id)
    return dataclasses.replace(
        EXCLUSION_EVENT,
        id=editor.new_id("event"),
        activity_date_time=when,
        activity=f"{operation} exclusion to access policy",
        activity_type=f"{operation} OperationApprovalPolicyExclusion",
        activity_operation_type=operation,
        category=category,
        component_name=category,
        resources=(
            AuditResource(policy_id, policy["displayName"], "OperationApprovalPolicy"),
            AuditResource(app_id, "", "ServicePrincipal"),
        ),
    )


def _event(editor: Editor, kind: str, app_id: str, policy_id: str, when: datetime) -> AuditEvent:
    if kind == "app-only":
        return _app_only(editor, app_id, when)
    if kind == "user":
        return dataclasses.replace(USER_EVENT, id=editor.new_id("event"), activity_date_time=when)
    operation, category = kind.split("/")
    category = editor.maa_category if category == "maa" else category
    return _exclusion(editor, policy_id, app_id, when, operation, category)


def _credential(editor: Editor, kind: str) -> Json:
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=180)
    key_id = editor.new_id("credential")
    credential: KeyCredential | PasswordCredential = PasswordCredential(
        key_id, "rotated", start, end
    )
    if kind == "keyCredentials":
        credential = KeyCredential(key_id, display_name="CN=rotated", start_date_time=start)
        credential = dataclasses.replace(credential, end_date_time=end)
    encoded: Json = encode(credential)
    return encoded


def _federated(editor: Editor, name: str) -> FederatedIdentityCredential:
    return FederatedIdentityCredential(
        name,
        "https://token.actions.githubusercontent.com",
        editor.new_id("federated"),
        f"repo:contoso-demo/{name}:ref:refs/heads/main",
        ("api://AzureADTokenExchange",),
    )


def _grants_of(sp_id: str, app_id: str, permissions: tuple[str, ...]) -> list[Json]:
    sp = ServicePrincipal(sp_id, app_id, True, app_permissions=permissions)
    grants: list[Json] = shapes(service_principals=(sp,))["relationships"][
        "servicePrincipals/{id}/appRoleAssignments"
    ][sp_id]
    return grants


@dataclass(frozen=True)
class AddApp:
    """A new service principal (and application), made relevant: an app-only audit event by
    its appId, an exclusion audit event or policy property naming it, or a write permission
    (or nothing: then it is not collected)."""

    relevance: str
    registered: bool
    policy: str
    minute: int
    signed_in: int | None

    def apply(self, editor: Editor) -> None:
        sp_id, app_id = editor.new_id("servicePrincipal"), editor.new_id("appId")
        name = f"Added app {editor.made}"
        owner = pick(DEMO.users, editor.made)
        owners = (DirectoryObjectRef(owner.id, "user", owner.display_name),)
        application = None
        if self.registered:
            application = Application(
                editor.new_id("application"),
                app_id,
                name,
                password_credentials=(PasswordCredential(editor.new_id("key"), "ci"),),
                federated_identity_credentials=(_federated(editor, "added"),),
                owners=owners,
            )
        sp = ServicePrincipal(sp_id, app_id, True, name, DEMO.tenant.id, application=application)
        shaped = shapes(service_principals=(dataclasses.replace(sp, owners=owners),))
        collections, relationships = shaped["collections"], shaped["relationships"]
        editor.change.put("servicePrincipals", collections["servicePrincipals"][0])
        owners_json = relationships["servicePrincipals/{id}/owners"][sp_id]
        editor.change.set_relationship("servicePrincipals/{id}/owners", sp_id, owners_json)
        editor.sps.append((sp_id, app_id))
        if application is not None:
            editor.change.put("applications", collections["applications"][0])
            for template in APPLICATION_LISTS:
                listed = relationships[template][application.id]
                editor.change.set_relationship(template, application.id, listed)
            editor.applications.append(application.id)
        if self.relevance == "holder":
            editor.grants(sp_id, _grants_of(sp_id, app_id, ("DeviceManagementApps.ReadWrite.All",)))
        self._relevant(editor, app_id)
        if self.signed_in is not None:
            editor.signed_in(app_id, sp_id, moment(self.signed_in))

    def _relevant(self, editor: Editor, app_id: str) -> None:
        when = moment(self.minute)
        if self.relevance == "app-only":
            editor.append_event(_app_only(editor, app_id, when))
        elif self.relevance == "exclusion":
            category = editor.maa_category
            editor.append_event(_exclusion(editor, self.policy, app_id, when, "Add", category))
        elif self.relevance == "property":
            policy = _policy(editor, self.policy)
            policy["excludedApplicationIds"] = [*policy.get("excludedApplicationIds", []), app_id]
            editor.change.put("deviceManagement/operationApprovalPolicies", policy)


APPLICATION_LISTS = ("applications/{id}/owners", "applications/{id}/federatedIdentityCredentials")


@dataclass(frozen=True)
class RemoveApp:
    """A service principal deleted (its app roles go with it; its registration stays)."""

    sp: int

    def apply(self, editor: Editor) -> None:
        sp_id, _ = pick(editor.sps, self.sp)
        if editor.find("servicePrincipals", sp_id) is not None:
            editor.change.remove("servicePrincipals", sp_id)
            editor.grants(sp_id, [])


@dataclass(frozen=True)
class EditApp:
    """A service principal's name, enabled state or credentials changed."""

    sp: int
    field: str

    def apply(self, editor: Editor) -> None:
        item = editor.find("servicePrincipals", pick(editor.sps, self.sp)[0])
        if item is None:
            return
        if self.field == "displayName":
            item["displayName"] = f"{item['displayName']} (renamed {editor.new_id('name')[:8]})"
        elif self.field == "accountEnabled":
            item["accountEnabled"] = not item["accountEnabled"]
        else:
            item[self.field] = [*item[self.field], _credential(editor, self.field)]
        editor.put("servicePrincipals", item)


@dataclass(frozen=True)
class AppOwners:
    sp: int
    owners: tuple[int, ...]

    def apply(self, editor: Editor) -> None:
        sp_id, _ = pick(editor.sps, self.sp)
        if editor.find("servicePrincipals", sp_id) is None:
            return
        owners = [editor.find("users", pick(editor.users, i)) for i in self.owners]
        listed = [owner for owner in owners if owner is not None]
        editor.change.set_relationship("servicePrincipals/{id}/owners", sp_id, listed)


@dataclass(frozen=True)
class Permission:
    """A Microsoft Graph permission granted, or every Intune write permission revoked (None);
    not reported by delta."""

    sp: int
    permission: str | None

    def apply(self, editor: Editor) -> None:
        sp_id, app_id = pick(editor.sps, self.sp)
        if editor.find("servicePrincipals", sp_id) is None:
            return
        held = editor.related("servicePrincipals/{id}/appRoleAssignments", sp_id)
        if self.permission is None:
            editor.grants(sp_id, [g for g in held if g["appRoleId"] not in WRITE_ROLES])
            return
        (grant,) = _grants_of(sp_id, app_id, (self.permission,))
        if all(g["appRoleId"] != grant["appRoleId"] for g in held):
            editor.grants(sp_id, [*held, grant])


PERMISSIONS = (
    "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementConfiguration.Read.All",
    "GroupMember.ReadWrite.All",
)


@dataclass(frozen=True)
class EditRegistration:
    """An application's credentials, federated credentials or owners changed."""

    application: int
    field: str

    def apply(self, editor: Editor) -> None:
        if not editor.applications:
            return
        app_id = pick(editor.applications, self.application)
        if self.field in ("passwordCredentials", "keyCredentials"):
            item = editor.find("applications", app_id)
            assert item is not None
            item[self.field] = [*item[self.field], _credential(editor, self.field)]
            editor.put("applications", item)
        elif self.field == "owners":
            owner = editor.find("users", pick(editor.users, editor.made))
            editor.new_id("owner")
            listed = [] if owner is None else [owner]
            editor.change.set_relationship("applications/{id}/owners", app_id, listed)
        else:
            template = "applications/{id}/federatedIdentityCredentials"
            credential = encode(_federated(editor, f"added-{editor.made}"))
            listed = [*editor.related(template, app_id), credential]
            editor.change.set_relationship(template, app_id, listed)


@dataclass(frozen=True)
class Registration:
    """A service principal's application deleted, or one registered (or restored from the
    deleted items) for a service principal without one."""

    sp: int

    def apply(self, editor: Editor) -> None:
        sp_id, app_id = pick(editor.sps, self.sp)
        sp = editor.find("servicePrincipals", sp_id)
        if sp is None:
            return
        registered = editor.find_by("applications", "appId", app_id)
        if registered is not None:
            editor.change.remove("applications", registered["id"])
            editor.applications.remove(registered["id"])
            return
        application = Application(editor.new_id("application"), app_id, sp["displayName"])
        owned = ServicePrincipal(sp_id, app_id, True, application=application)
        shaped = shapes(service_principals=(owned,))
        editor.change.put("applications", shaped["collections"]["applications"][0])
        for template in APPLICATION_LISTS:
            listed = shaped["relationships"][template][application.id]
            editor.change.set_relationship(template, application.id, listed)
        editor.applications.append(application.id)


@dataclass(frozen=True)
class EditUser:
    """A user's name, enabled state, type or Intune licence changed."""

    user: int
    field: str

    def apply(self, editor: Editor) -> None:
        user_id = pick(editor.users, self.user)
        item = editor.find("users", user_id)
        if item is None:
            return
        if self.field == "licence":
            licensed = bool(editor.related("users/{id}/licenseDetails", user_id))
            details = _licence(user_id, not licensed)
            editor.change.set_relationship("users/{id}/licenseDetails", user_id, details)
            return
        if self.field == "accountEnabled":
            item["accountEnabled"] = not item["accountEnabled"]
        elif self.field == "userType":
            item["userType"] = "Guest" if item["userType"] == "Member" else "Member"
        else:
            item["displayName"] = f"{item['displayName']} ({editor.new_id('name')[:4]})"
        editor.put("users", item)


@dataclass(frozen=True)
class RemoveUser:
    """A user deleted: gone from every group (reported: members and owners are tracked) and
    from the owners of apps (not reported)."""

    user: int

    def apply(self, editor: Editor) -> None:
        user_id = pick(editor.users, self.user)
        if editor.find("users", user_id) is None:
            return
        editor.change.remove("users", user_id)
        for group_id in editor.parents("groups/{id}/members", user_id):
            listed = editor.related("groups/{id}/members", group_id)
            editor.set_members(group_id, [m for m in listed if m["id"].lower() != user_id])
        for template in (*OWNERS, "groups/{id}/transitiveMembers"):
            for parent in editor.parents(template, user_id):
                listed = [m for m in editor.related(template, parent) if m["id"] != user_id]
                if template == "groups/{id}/owners":
                    editor.change.set_relationship(template, parent, listed)
                else:
                    editor.silently(template, parent, listed)


OWNERS = ("groups/{id}/owners", "servicePrincipals/{id}/owners", "applications/{id}/owners")


def _licence(user_id: str, licensed: bool) -> list[Json]:
    user = User(user_id, "", True, intune_licensed=licensed)
    listed: list[Json] = shapes(users=(user,))["relationships"]["users/{id}/licenseDetails"][
        user_id
    ]
    return listed


@dataclass(frozen=True)
class Members:
    """A group's direct members: users, a new user, and the nested group."""

    group: int
    users: tuple[int, ...]
    new_user: bool
    nest: bool

    def apply(self, editor: Editor) -> None:
        group_id = pick(editor.groups, self.group)
        if editor.find("groups", group_id) is None:
            return
        found = [editor.find("users", pick(editor.users, i)) for i in self.users]
        members = list({m["id"]: m for m in found if m is not None}.values())
        if self.new_user:
            members.append(_new_user(editor))
        nested = editor.find("groups", NESTED_GROUP)
        if self.nest and group_id != NESTED_GROUP and nested is not None:
            members.append({key: nested[key] for key in ("@odata.type", "id", "displayName")})
        editor.set_members(group_id, members)


def _new_user(editor: Editor) -> Json:
    user_id = editor.new_id("user")
    user = User(user_id, f"new.{editor.made}@contoso-demo.example", True, f"New {editor.made}")
    (item,) = shapes(users=(user,))["collections"]["users"]
    editor.change.put("users", item)
    licence = _licence(user_id, editor.made % 2 == 0)
    editor.change.set_relationship("users/{id}/licenseDetails", user_id, licence)
    editor.users.append(user_id)
    return dict(item)


@dataclass(frozen=True)
class RemoveGroup:
    """A group deleted: gone from the groups nesting it (reported: members are tracked)."""

    group: int

    def apply(self, editor: Editor) -> None:
        group_id = pick(editor.groups, self.group)
        if editor.find("groups", group_id) is None:
            return
        parents = editor.parents("groups/{id}/members", group_id)
        editor.change.remove("groups", group_id)
        for parent in parents:
            listed = editor.related("groups/{id}/members", parent)
            editor.set_members(parent, [m for m in listed if m["id"].lower() != group_id])


@dataclass(frozen=True)
class GroupOwners:
    group: int
    owners: tuple[int, ...]

    def apply(self, editor: Editor) -> None:
        group_id = pick(editor.groups, self.group)
        if editor.find("groups", group_id) is None:
            return
        found = [editor.find("users", pick(editor.users, i)) for i in self.owners]
        owners = list({m["id"]: m for m in found if m is not None}.values())
        editor.change.set_relationship("groups/{id}/owners", group_id, owners)


@dataclass(frozen=True)
class RenameGroup:
    group: int

    def apply(self, editor: Editor) -> None:
        item = editor.find("groups", pick(editor.groups, self.group))
        if item is None:
            return
        item["displayName"] = f"{item['displayName']} ({editor.new_id('name')[:4]})"
        editor.put("groups", item)


@dataclass(frozen=True)
class NewApproverGroup:
    """A new group, named as approvers by a policy."""

    policy: str
    users: tuple[int, ...]

    def apply(self, editor: Editor) -> None:
        group_id = editor.new_id("group")
        found = [editor.find("users", pick(editor.users, i)) for i in self.users]
        members = list({m["id"]: m for m in found if m is not None}.values())
        group = Group(group_id, f"SG-New-{editor.made}", True, False)
        (item,) = shapes(groups=(group,))["collections"]["groups"]
        editor.change.put("groups", item)
        editor.change.set_relationship("groups/{id}/owners", group_id, [])
        editor.set_members(group_id, members)
        editor.groups.append(group_id)
        policy = _policy(editor, self.policy)
        policy["approverGroupIds"] = [*policy["approverGroupIds"], group_id]
        editor.change.put("deviceManagement/operationApprovalPolicies", policy)


@dataclass(frozen=True)
class Event:
    """An audit event of the new window (or one arriving late, up to an hour before the first
    collection): an app-only write, an exclusion added or removed, or an admin's change."""

    kind: str
    app: int
    policy: str
    minute: int

    def apply(self, editor: Editor) -> None:
        app_id = pick(editor.sps, self.app)[1]
        editor.append_event(_event(editor, self.kind, app_id, self.policy, moment(self.minute)))


@dataclass(frozen=True)
class EdgeEvent:
    """Before the first collection only: an event near the start of the window, which the
    second collection's window (10 minutes later) may have left."""

    kind: str
    app: int
    policy: str
    minute: int

    def apply(self, editor: Editor) -> None:
        app_id = pick(editor.sps, self.app)[1]
        when = T0 - timedelta(days=DAYS, minutes=5) + timedelta(minutes=self.minute)
        editor.append_event(_event(editor, self.kind, app_id, self.policy, when))


@dataclass(frozen=True)
class SignIn:
    app: int
    minute: int

    def apply(self, editor: Editor) -> None:
        sp_id, app_id = pick(editor.sps, self.app)
        editor.signed_in(app_id, sp_id, moment(self.minute))


def _indexes(most: int) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(ANY, max_size=most).map(tuple)


EVENT_KINDS = ["app-only", "user", "Add/maa", "Remove/maa", "Add/DeviceConfiguration"]
CHANGES = st.one_of(
    st.builds(
        AddApp,
        relevance=st.sampled_from(["app-only", "exclusion", "property", "holder", "none"]),
        registered=st.booleans(),
        policy=st.sampled_from(POLICY_IDS),
        minute=MINUTES,
        signed_in=st.none() | MINUTES,
    ),
    st.builds(RemoveApp, sp=ANY),
    st.builds(
        EditApp,
        sp=ANY,
        field=st.sampled_from(
            ["displayName", "accountEnabled", "passwordCredentials", "keyCredentials"]
        ),
    ),
    st.builds(AppOwners, sp=ANY, owners=_indexes(2)),
    st.builds(Permission, sp=ANY, permission=st.none() | st.sampled_from(PERMISSIONS)),
    st.builds(
        EditRegistration,
        application=ANY,
        field=st.sampled_from(["passwordCredentials", "keyCredentials", "federated", "owners"]),
    ),
    st.builds(
        EditUser,
        user=ANY,
        field=st.sampled_from(["accountEnabled", "userType", "licence", "displayName"]),
    ),
    st.builds(RemoveUser, user=ANY),
    st.builds(Members, group=ANY, users=_indexes(4), new_user=st.booleans(), nest=st.booleans()),
    st.builds(RenameGroup, group=ANY),
    st.builds(RemoveGroup, group=ANY),
    st.builds(GroupOwners, group=ANY, owners=_indexes(2)),
    st.builds(Registration, sp=ANY),
    st.builds(NewApproverGroup, policy=st.sampled_from(POLICY_IDS), users=_indexes(3)),
    st.builds(
        Event,
        kind=st.sampled_from(EVENT_KINDS),
        app=ANY,
        policy=st.sampled_from(POLICY_IDS),
        minute=MINUTES,
    ),
    st.builds(SignIn, app=ANY, minute=MINUTES),
)
BEFORE = CHANGES | st.builds(
    EdgeEvent,
    kind=st.sampled_from(EVENT_KINDS),
    app=ANY,
    policy=st.sampled_from(POLICY_IDS),
    minute=st.integers(0, 20),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile=st.sampled_from(PROFILES),
    before=st.lists(BEFORE, max_size=4),
    between=st.lists(CHANGES, max_size=8),
    later=st.sampled_from([timedelta(minutes=10), timedelta(days=2), timedelta(days=7)]),
    days=st.sampled_from([DAYS, 20]),
)
def test_an_incremental_collection_equals_a_full_one_whatever_changed(
    profile: str, before: list[Any], between: list[Any], later: timedelta, days: int
) -> None:
    """Changes before the first collection shape the tenant it starts from; those between the
    two are what the second collection (``later``, with an audit window of ``days``) must
    find. Up to 7 days after a full collection, one builds on the other."""
    with serving(profile=profile) as (emulator, clock):
        editor = Editor(emulator)
        for change in before:
            change.apply(editor)
        first = collect_at(emulator, T0)
        for change in between:
            change.apply(editor)
        clock.moment = T0 + later
        incremental = collect_at(emulator, clock.moment, baseline_of(first.collected), days)
        full = collect_at(emulator, clock.moment, days=days)
    assert (incremental.collected.full_reason, full.collected.full_reason) == (
        "",
        "no earlier snapshot",
    )
    assert_same(incremental.collected, full.collected)


# ---- what a collection costs -----------------------------------------------------------------


def paths(log: Sequence[LoggedRequest], in_batch: bool) -> Counter[str]:
    """The paths served, each GUID in them as ``{id}``."""
    return Counter(GUID.sub("{id}", r.path) for r in log if r.in_batch is in_batch)


GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# What a collection with a usable earlier one and no change reads: the 4 delta links (nothing
# changed), the Intune sources in full (access policies, approval requests, RBAC, audit
# categories), Conditional Access, the tenant's facts, the audit log and the service principal
# sign-ins since an hour before the earlier collection, and the holders of Intune write
# permissions (the Graph service principal and its appRoleAssignedTo); not the exclusion
# history, the sign-in report, the users or the service principals.
UNCHANGED_GETS = Counter(
    {
        "/beta/deviceManagement/operationApprovalPolicies": 1,
        "/beta/deviceManagement/operationApprovalRequests": 1,
        "/beta/deviceManagement/roleDefinitions": 1,
        "/beta/deviceManagement/roleAssignments": 1,
        "/beta/deviceManagement/auditEvents/getAuditCategories": 1,
        "/beta/deviceManagement/auditEvents": 1,
        "/beta/auditLogs/signIns": 1,
        "/beta/identity/conditionalAccess/policies": 1,
        "/v1.0/organization": 1,
        "/v1.0/subscribedSkus": 1,
        "/beta/deviceManagement": 1,
        "/beta/servicePrincipals(appId='{id}')": 1,  # the Graph service principal
        "/beta/servicePrincipals/{id}/appRoleAssignedTo": 1,
        "/v1.0/users/delta": 1,
        "/v1.0/groups/delta": 1,
        "/v1.0/servicePrincipals/delta": 1,
        "/v1.0/applications/delta": 1,
        "/beta/$batch": 7,
    }
)
# In its 7 $batch requests: the declared apps tried as object ids (each is an appId: 404),
# each policy, each role definition's assignments, the audit categories' activity types, the
# excluded app that has no service principal (404 every time), and the groups that cannot be
# taken forward: the one that nests a group (its members may change inside the nested one) and
# the one a policy names that does not exist.
UNCHANGED_BATCHED = Counter(
    {
        "/beta/servicePrincipals/{id}": 5,
        "/beta/deviceManagement/operationApprovalPolicies/{id}": 7,
        "/beta/deviceManagement/roleDefinitions/{id}/roleAssignments": 3,
        **{
            f"/beta/deviceManagement/auditEvents/getAuditActivityTypes(category='{category}')": 1
            for category in ("Application", "Device", "DeviceConfiguration", "Enrollment", "Role")
        },
        "/beta/servicePrincipals(appId='{id}')": 1,
        "/beta/groups/{id}": 2,
        "/beta/groups/{id}/members": 1,
        "/beta/groups/{id}/transitiveMembers": 1,
        "/beta/groups/{id}/owners": 1,
    }
)


def test_with_no_change_the_second_collection_reads_only_what_it_cannot_take_forward() -> None:
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0)
        clock.moment = T1
        second = collect_at(emulator, T1, baseline_of(first.collected))
        full = collect_at(emulator, T1)
    assert (first.requests, second.requests, full.requests) == (35, 24, 35)
    assert (paths(second.log, False), paths(second.log, True)) == (
        UNCHANGED_GETS,
        UNCHANGED_BATCHED,
    )
    assert sum(UNCHANGED_GETS.values()) == second.requests
    assert (second.collected.full_reason, second.collected.notes) == ("", ())
    assert second.collected.full_collected_at == T0
    assert second.collected.history_categories == first.collected.history_categories == ("Role",)
    assert sorted(second.collected.links) == sorted(DELTA_COLLECTIONS)
    assert_same(second.collected, full.collected)


def test_the_first_tracked_collection_costs_a_full_one_and_four_delta_links() -> None:
    with serving() as (emulator, _):
        tracked = collect_at(emulator, T0)
        untracked_from = len(emulator.requests)
        snapshot = asyncio.run(_untracked(emulator))
        untracked = emulator.requests[untracked_from:]
    latest = [r for r in tracked.log if r.path.endswith("/delta")]
    assert ["$deltatoken=latest" in r.query for r in latest] == [True] * 4
    assert (tracked.requests, len([r for r in untracked if not r.in_batch])) == (35, 31)
    assert tracked.collected.full_reason == "no earlier snapshot"
    assert snapshot_to_json(snapshot) == snapshot_to_json(tracked.collected.snapshot)


async def _untracked(emulator: Emulator) -> Snapshot:
    endpoint = resolve_endpoint("global", emulator.url)
    async with GraphClient(StaticTokenCredential(READER_TOKEN), endpoint, timeout=30) as client:
        return await collect(client, SETTINGS, DAYS, now=T0, tenant_id=DEMO.tenant.id)


# ---- falling back to a full read -------------------------------------------------------------

# Every user, group, service principal and application (and the rest of a full read) but the
# exclusion history, which still builds on the earlier one: a full read's 35 requests, the 4
# refused links, less the history.
DIRECTORY_IN_FULL = 35 + 4 - 1


def refused(why: str) -> tuple[str, ...]:
    return tuple(
        f"{collection}: its delta link was refused ({why}), read in full"
        for collection in ("users", "groups", "servicePrincipals", "applications")
    )


def test_expired_delta_links_read_the_directory_in_full_and_take_new_links() -> None:
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0)
        emulator.expire_delta_tokens()
        clock.moment = T1
        second = collect_at(emulator, T1, baseline_of(first.collected))
        full = collect_at(emulator, T1)
        third = collect_at(emulator, T1, baseline_of(second.collected))
    assert (second.collected.incremental, second.requests) == (True, DIRECTORY_IN_FULL)
    assert second.collected.notes == refused("HTTP 410 syncStateNotFound")
    assert paths(second.log, True) == paths(full.log, True)  # nothing taken forward
    assert sorted(second.collected.links) == sorted(DELTA_COLLECTIONS)
    assert all(second.collected.links[c] != first.collected.links[c] for c in DELTA_COLLECTIONS)
    assert_same(second.collected, full.collected)
    assert (third.collected.incremental, third.requests, third.collected.notes) == (True, 24, ())


def test_delta_switched_off_reads_in_full_and_leaves_no_links(tmp_path: Path) -> None:
    saved = tmp_path / "tenant.json"
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0)
        emulator.delta = False
        clock.moment = T1
        second = collect_at(emulator, T1, baseline_of(first.collected))
        full = collect_at(emulator, T1)
        write_collected(saved, second.collected)
        emulator.delta = True
        baseline, why = load_baseline(saved)
        assert baseline is not None
        third = collect_at(emulator, T1, baseline)
    assert (second.collected.incremental, second.requests) == (True, DIRECTORY_IN_FULL)
    assert second.collected.notes == refused("HTTP 400 Request_UnsupportedQuery")
    assert (second.collected.links, full.collected.links, baseline.links, why) == ({}, {}, {}, "")
    assert_same(second.collected, full.collected)
    assert third.collected.notes == tuple(
        f"{collection}: no earlier delta link, read in full"
        for collection in ("users", "groups", "servicePrincipals", "applications")
    )
    assert sorted(third.collected.links) == sorted(DELTA_COLLECTIONS)


@pytest.mark.parametrize(
    ("source", "state", "reason"),
    [
        ("groups", SourceState.PARTIAL, "the earlier snapshot is incomplete (groups)"),
        (
            "sign_in_activity",
            SourceState.FAILED,
            "the earlier snapshot is incomplete (sign_in_activity)",
        ),
    ],
)
def test_an_earlier_snapshot_with_a_source_not_complete_is_not_built_on(
    source: str, state: SourceState, reason: str
) -> None:
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0).collected
        sources = {**first.snapshot.sources, source: SourceStatus(state, reason="denied")}
        snapshot = dataclasses.replace(first.snapshot, sources=sources)
        earlier = dataclasses.replace(baseline_of(first), snapshot=snapshot)
        clock.moment = T1
        second = collect_at(emulator, T1, earlier)
        full = collect_at(emulator, T1)
    assert (second.collected.full_reason, second.collected.incremental) == (reason, False)
    assert (second.requests, second.collected.full_collected_at) == (35, T1)
    assert_same(second.collected, full.collected)


def test_exclusions_partial_only_because_graph_publishes_no_property_is_built_on() -> None:
    """Against what Microsoft's Graph publishes, the exclusions source is partial however
    complete every read was: it is derived, and its inputs are judged on their own."""
    with serving(profile="published") as (emulator, clock):
        first = collect_at(emulator, T0).collected
        clock.moment = T1
        second = collect_at(emulator, T1, baseline_of(first))
        full = collect_at(emulator, T1)
    assert first.snapshot.sources["exclusions"].state is SourceState.PARTIAL
    assert (second.collected.full_reason, second.requests) == ("", 23)
    assert_same(second.collected, full.collected)


@pytest.mark.parametrize(
    ("later", "days", "reason"),
    [
        (timedelta(days=7, seconds=1), DAYS, "the last full collection is more than 7 days old"),
        (-timedelta(seconds=1), DAYS, "the earlier snapshot is newer than this collection"),
        (timedelta(minutes=10), 31, "this audit window reaches further back than the earlier one"),
    ],
    ids=["older-than-7-days", "newer", "longer-window"],
)
def test_an_earlier_snapshot_that_cannot_be_built_on_says_why(
    later: timedelta, days: int, reason: str
) -> None:
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0).collected
        clock.moment = T0 + later
        second = collect_at(emulator, clock.moment, baseline_of(first), days)
        full = collect_at(emulator, clock.moment, days=days)
    assert (second.collected.full_reason, second.collected.incremental) == (reason, False)
    assert second.collected.full_collected_at == clock.moment
    assert_same(second.collected, full.collected)


def test_a_chain_of_incremental_collections_is_read_in_full_7_days_after_it_began() -> None:
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0).collected
        clock.moment = T0 + timedelta(days=4)
        second = collect_at(emulator, clock.moment, baseline_of(first)).collected
        clock.moment = T0 + timedelta(days=7, minutes=1)
        third = collect_at(emulator, clock.moment, baseline_of(second)).collected
    assert (second.full_reason, second.full_collected_at) == ("", T0)
    assert (third.full_reason, third.full_collected_at) == (
        "the last full collection is more than 7 days old",
        clock.moment,
    )


def test_an_earlier_snapshot_of_another_tenant_is_bad_input() -> None:
    other = "0b6f3a7c-1d2e-4f50-8a9b-c0d1e2f3a4b5"
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0).collected
        tenant = dataclasses.replace(first.snapshot.tenant, id=other)
        earlier = dataclasses.replace(
            baseline_of(first), snapshot=dataclasses.replace(first.snapshot, tenant=tenant)
        )
        clock.moment = T1
        with pytest.raises(InputError) as raised:
            collect_at(emulator, T1, earlier)
    assert (raised.value.message, raised.value.hint, raised.value.exit_code) == (
        f"the earlier snapshot is of tenant {other}, not of this tenant {DEMO.tenant.id}",
        "name a snapshot of this tenant, or collect without one",
        EXIT_USAGE,
    )


# ---- the delta state beside a snapshot -------------------------------------------------------

HINT = "delete it to collect in full next time"


@pytest.fixture(scope="module")
def collected() -> Collected:
    with serving() as (emulator, _):
        return collect_at(emulator, T0).collected


def test_the_delta_state_round_trips_with_its_snapshot(
    tmp_path: Path, collected: Collected
) -> None:
    saved = tmp_path / "tenant.json"
    write_collected(saved, collected)
    state = json.loads(state_path(saved).read_text(encoding="utf-8"))
    baseline, why = load_baseline(saved)
    assert state_path(saved) == tmp_path / "tenant.delta.json"
    assert state == {
        "kind": "maa-guard delta state",
        "version": 1,
        "tenant": DEMO.tenant.id,
        "collected_at": "2026-11-01T08:00:00Z",
        "full_collected_at": "2026-11-01T08:00:00Z",
        "delta_links": dict(sorted(collected.links.items())),
        "history_categories": ["Role"],
    }
    assert baseline is not None and why == ""
    assert snapshot_to_json(baseline.snapshot) == snapshot_to_json(collected.snapshot)
    assert (baseline.links, baseline.history_categories, baseline.full_collected_at) == (
        collected.links,
        ("Role",),
        T0,
    )


def test_no_snapshot_or_no_state_beside_it_is_no_baseline(
    tmp_path: Path, collected: Collected
) -> None:
    saved = tmp_path / "tenant.json"
    assert load_baseline(saved) == (None, f"{saved} does not exist yet")
    write_collected(saved, collected)
    state_path(saved).unlink()
    assert load_baseline(saved) == (None, "no delta state tenant.delta.json beside it")


def test_a_state_of_another_collection_is_no_baseline(tmp_path: Path, collected: Collected) -> None:
    saved = tmp_path / "tenant.json"
    write_collected(saved, collected)
    state = json.loads(state_path(saved).read_text(encoding="utf-8"))
    state_path(saved).write_text(
        json.dumps({**state, "collected_at": "2026-11-01T07:50:00Z"}), encoding="utf-8"
    )
    assert load_baseline(saved) == (
        None,
        "tenant.delta.json belongs to another collection of tenant.json",
    )


GOOD_STATE = {
    "kind": "maa-guard delta state",
    "version": 1,
    "collected_at": "2026-11-01T08:00:00Z",
    "full_collected_at": "2026-11-01T08:00:00Z",
    "delta_links": {},
    "history_categories": None,
}


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "{",
            "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
            HINT,
        ),
        ("[]", "not a maa-guard delta state file", HINT),
        (
            json.dumps({**GOOD_STATE, "kind": "maa-guard snapshot"}),
            "not a maa-guard delta state file",
            HINT,
        ),
        (
            json.dumps({**GOOD_STATE, "version": 2}),
            "unknown delta state version 2",
            f"upgrade maa-guard, or {HINT}",
        ),
        (
            json.dumps({**GOOD_STATE, "delta_links": {"users": 7}}),
            "delta_links.users: not a delta link of maa-guard",
            HINT,
        ),
        (
            json.dumps(
                {
                    **GOOD_STATE,
                    "delta_links": {"devices": "https://graph.microsoft.com/v1.0/devices/delta"},
                }
            ),
            "delta_links.devices: not a delta link of maa-guard",
            HINT,
        ),
        (json.dumps({**GOOD_STATE, "delta_links": []}), "delta_links: expected an object", HINT),
        (
            json.dumps({**GOOD_STATE, "collected_at": "2026-11-01T08:00:00"}),
            "collected_at: expected a date and time with a time zone",
            HINT,
        ),
        (
            json.dumps({**GOOD_STATE, "full_collected_at": "yesterday"}),
            "full_collected_at: expected a date and time with a time zone",
            HINT,
        ),
        (
            json.dumps({**GOOD_STATE, "history_categories": "Role"}),
            "history_categories: expected a list of strings or null",
            HINT,
        ),
    ],
    ids=[
        "json",
        "array",
        "kind",
        "version",
        "link-type",
        "link-collection",
        "links",
        "naive-date",
        "date",
        "categories",
    ],
)
def test_a_malformed_state_is_bad_input(
    tmp_path: Path, collected: Collected, text: str, message: str, hint: str
) -> None:
    saved = tmp_path / "tenant.json"
    write_collected(saved, collected)
    state_path(saved).write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_baseline(saved)
    assert (raised.value.message, raised.value.hint, raised.value.exit_code) == (
        f"{state_path(saved)}: {message}",
        hint,
        EXIT_USAGE,
    )


def test_a_delta_link_to_another_origin_is_never_sent_the_token(tmp_path: Path) -> None:
    """A state file whose users link points elsewhere (here: a second emulator, which logs
    every request it gets): the collection completes, reads the users in full, takes a link
    of its own endpoint, and the other server gets nothing."""
    saved = tmp_path / "tenant.json"
    with serving() as (emulator, clock), serving() as (elsewhere, _):
        first = collect_at(emulator, T0).collected
        foreign = first.links["users"].replace(emulator.url, elsewhere.url)
        write_collected(saved, dataclasses.replace(first, links={**first.links, "users": foreign}))
        baseline, _ = load_baseline(saved)
        assert baseline is not None and baseline.links["users"] == foreign
        clock.moment = T1
        second = collect_at(emulator, T1, baseline)
        full = collect_at(emulator, T1)
        assert elsewhere.requests == []
    assert (second.collected.incremental, second.collected.links["users"][: len(emulator.url)]) == (
        True,
        emulator.url,
    )
    assert second.collected.notes == (
        f"users: its delta link points to {elsewhere.url}, not to the Graph endpoint "
        f"{emulator.url}: not followed, read in full",
    )
    users = paths(second.log, True)["/beta/users/{id}"]
    assert (users, paths(second.log, True)["/beta/users/{id}/licenseDetails"]) == (15, 15)
    assert_same(second.collected, full.collected)


# ---- on the command line ---------------------------------------------------------------------


def test_snapshot_since_builds_on_the_earlier_snapshot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", READER_TOKEN)
    monkeypatch.delenv("AZURE_TENANT_ID", raising=False)
    first, second = tmp_path / "tenant.json", tmp_path / "later.json"
    with Emulator(FIXTURE, fixed_tokens=True, throttle=False) as emulator:
        live = ["--graph-endpoint", emulator.url, "--auth", "token"]
        assert main(["snapshot", *live, "-o", str(first)]) == 0
        full = len([r for r in emulator.requests if not r.in_batch])
        written = first.read_bytes(), state_path(first).read_bytes()
        capsys.readouterr()
        assert main(["snapshot", *live, "--since", str(first), "-o", str(second)]) == 0
        incremental = len([r for r in emulator.requests if not r.in_batch]) - full
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == [
        f"incremental collection: only what changed since {first} was read",
        f"wrote {second}",
    ]
    assert incremental < full  # on today's clock: what the demo's dates leave in the window
    assert (first.read_bytes(), state_path(first).read_bytes()) == written
    state = json.loads(state_path(second).read_text(encoding="utf-8"))
    assert load_snapshot(second).collected_at.isoformat() == state["collected_at"].replace(
        "Z", "+00:00"
    )
    assert sorted(state["delta_links"]) == sorted(DELTA_COLLECTIONS)
    assert state["full_collected_at"] == json.loads(state_path(first).read_text())["collected_at"]
    third, missing = tmp_path / "third.json", tmp_path / "missing.json"
    with Emulator(FIXTURE, fixed_tokens=True, throttle=False) as emulator:
        live = ["--graph-endpoint", emulator.url, "--auth", "token"]
        assert main(["snapshot", *live, "--since", str(missing), "-o", str(third)]) == 0
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"full collection: {missing} does not exist yet",
        f"wrote {third}",
    ]


def test_scan_since_without_a_live_collection_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--since", str(tmp_path / "tenant.json")]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "error: --since builds on a live collection\nhint: add --auth or --graph-endpoint\n"
    )


# ---- what cannot be shown to be this tenant's, and maa-guard's own copies --------------------


def test_a_tenant_whose_id_cannot_be_read_is_read_again_in_full() -> None:
    with serving() as (emulator, clock):
        first = collect_at(emulator, T0).collected
        for organization in list(emulator.tenant.collections["organization"]):
            emulator.change.remove("organization", str(organization["id"]))
        clock.moment = T1
        second = collect_at(emulator, T1, baseline_of(first), tenant_id="").collected
        full = collect_at(emulator, T1, tenant_id="").collected
    assert (second.incremental, second.full_reason, second.snapshot.tenant.id) == (
        False,
        "this tenant's id could not be read to match the earlier one",
        "",
    )
    assert_same(second, full)


def live_options(url: str, kept: Path, own_copy: bool) -> LiveOptions:
    return LiveOptions("token", "global", url, 30.0, DAYS, False, since=kept, own_copy=own_copy)


def test_a_damaged_copy_of_its_own_is_replaced_by_a_full_collection(tmp_path: Path) -> None:
    kept = tmp_path / "kept.json"
    kept.write_text("", encoding="utf-8")  # killed between creating it and writing it
    shown = io.StringIO()
    environ = {"MAA_GUARD_ACCESS_TOKEN": READER_TOKEN}
    with Emulator(FIXTURE, fixed_tokens=True, throttle=False) as emulator:
        options = live_options(emulator.url, kept, own_copy=True)
        collected = collect_live_tracked(options, SETTINGS, environ, shown)
        with pytest.raises(InputError) as refused:
            collect_live_tracked(live_options(emulator.url, kept, False), SETTINGS, environ)
    assert collected.incremental is False
    assert shown.getvalue().splitlines()[-1] == (
        f"full collection: the kept copy could not be read ({refused.value.message})"
    )
    assert refused.value.message.startswith(f"{kept}: not valid JSON: ")


def test_a_copy_of_its_own_of_another_tenant_is_replaced_and_a_named_one_refused(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "kept.json"
    environ = {"MAA_GUARD_ACCESS_TOKEN": READER_TOKEN}
    other = "00000000-0000-0000-0000-0000000000aa"
    with serving() as (emulator, _):
        first = collect_at(emulator, T0).collected
        elsewhere = dataclasses.replace(first.snapshot, tenant=TenantInfo(other, "Elsewhere"))
        write_collected(kept, dataclasses.replace(first, snapshot=elsewhere))
        with pytest.raises(InputError) as refused:
            collect_live_tracked(live_options(emulator.url, kept, False), SETTINGS, environ)
        replaced = collect_live_tracked(
            live_options(emulator.url, kept, True), SETTINGS, environ, io.StringIO()
        )
    assert refused.value.message == (
        f"the earlier snapshot is of tenant {other}, not of this tenant {DEMO.tenant.id}"
    )
    assert (replaced.incremental, replaced.snapshot.tenant.id) == (False, DEMO.tenant.id)
