"""Service principals and applications: credentials, owners, Graph app permissions by name.

Besides the apps the policies and the audit log name, the service principals that hold an Intune
write permission of Microsoft Graph (``workloads.is_intune_write_permission``) are read, from
the Graph service principal's ``appRoleAssignedTo``: an app that can write to Intune but neither
wrote in the window nor is excluded is one MAA would block on its next write (the impact
report's ``read-only`` and ``inactive`` rows).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maa_guard.collect.batched import Answer, Read, batch_read, query_text
from maa_guard.collect.common import (
    COMPLETE,
    Outcome,
    Problems,
    decode_all,
    failed,
    fetch_present,
    references,
    select,
    unique,
)
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.incremental import Reuse, in_order, split
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    Application,
    AuditEvent,
    FederatedIdentityCredential,
    ServicePrincipal,
    SourceStatus,
)
from maa_guard.workloads import is_intune_write_permission

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SP_FIELDS = select(
    "id",
    "appId",
    "displayName",
    "accountEnabled",
    "appOwnerOrganizationId",
    "servicePrincipalType",
    "passwordCredentials",
    "keyCredentials",
)
APP_FIELDS = select("id", "appId", "displayName", "passwordCredentials", "keyCredentials")
OWNER_PARAMS = {"$select": "id,displayName", "$top": "999"}
FEDERATED_PARAMS = {"$select": "id,name,issuer,subject,audiences", "$top": "999"}
GRANT_PARAMS = {"$select": "appRoleId,resourceId", "$top": "999"}
OWNER_QUERY = "?" + query_text(OWNER_PARAMS)
FEDERATED_QUERY = "?" + query_text(FEDERATED_PARAMS)
GRANT_QUERY = "?" + query_text(GRANT_PARAMS)
HOLDER_FIELDS = select("principalId", "principalType", "appRoleId")
GraphRoleNames = tuple[str, dict[str, str]]
Listed = list[dict[str, Any]] | GraphError  # a collection's items, or why it was not read


def app_only_writers(events: Iterable[AuditEvent]) -> list[str]:
    """The appIds that wrote to Intune with app-only tokens."""
    return unique(e.actor.application_id or "" for e in events if e.actor.is_app_only)


async def collect_service_principals(
    client: GraphClient,
    app_ids: Sequence[str],
    more: Awaitable[Sequence[str]] | None = None,
    reuse: Reuse | None = None,
) -> Outcome[ServicePrincipal]:
    """Each appId's service principal (an appId with none is left out) and application.

    ``more``: appIds known only later (from the audit log), looked up when they arrive while
    ``app_ids`` are looked up at once; the result lists ``app_ids``' first. ``reuse``: service
    principals taken as they are instead of read.
    """
    ids = unique(app_ids)
    problems = Problems()
    roles = _GraphRoles(client, problems)
    known = reuse or Reuse()
    sps = await _look_up(client, ids, roles, problems, known)
    if more is not None:
        seen = set(ids)
        later = [i for i in unique(await more) if i not in seen]
        sps += await _look_up(client, later, roles, problems, known)
        ids += later
    return Outcome(tuple(sps), problems.status(bool(sps) or not ids))


async def _look_up(
    client: GraphClient, ids: Sequence[str], roles: _GraphRoles, problems: Problems, reuse: Reuse
) -> list[ServicePrincipal]:
    if not ids:
        return []
    to_read, kept = split(ids, reuse.sps_by_app_id)
    reuse.taken.update(sp.id.lower() for sp in kept.values())
    paths = [_by_app_id("servicePrincipals", i, SP_FIELDS) for i in to_read]
    sps = decode_all(ServicePrincipal, await fetch_present(client, paths, problems), problems)
    graph_roles = await roles.get() if sps else None
    sps = await _with_sp_relations(client, sps, graph_roles, problems)
    sps = await _with_applications(client, sps, problems)
    return in_order(ids, sps, kept, lambda sp: sp.app_id)


# ---- one app whose service principal is known, read at once ----------------------------------


def one_app_reads(app_id: str, sp_id: str) -> tuple[Read, ...]:
    """What :func:`collect_one_app` reads: none depends on another, so one ``$batch`` holds
    them. The application, its owners and its federated credentials are read by appId (where
    the app is registered in another tenant, all three are 404)."""
    application = f"applications(appId='{app_id}')"
    return (
        batch_read(f"servicePrincipals(appId='{app_id}')", {"$select": SP_FIELDS}),
        batch_read(f"servicePrincipals(appId='{GRAPH_APP_ID}')", {"$select": "id,appRoles"}),
        batch_read(f"servicePrincipals/{sp_id}/owners", OWNER_PARAMS),
        batch_read(f"servicePrincipals/{sp_id}/appRoleAssignments", GRANT_PARAMS),
        batch_read(application, {"$select": APP_FIELDS}),
        batch_read(f"{application}/owners", OWNER_PARAMS),
        batch_read(f"{application}/federatedIdentityCredentials", FEDERATED_PARAMS),
    )


async def collect_one_app(
    client: GraphClient, app_id: str, sp_id: str, answers: Mapping[Read, Answer]
) -> Outcome[ServicePrincipal]:
    """As :func:`collect_service_principals` for one appId, from the answers to
    :func:`one_app_reads` (``sp_id``: the object id of the appId's service principal)."""
    sp_read, graph, owners, grants, app_read, app_owners, federated = one_app_reads(app_id, sp_id)
    problems = Problems()
    sps = decode_all(ServicePrincipal, _present(answers[sp_read], problems), problems)
    if not sps:
        return Outcome((), problems.status(anything_read=False))
    roles = _roles_from(answers[graph], problems)
    relations = await asyncio.gather(
        answers[owners].items_or_error(client), answers[grants].items_or_error(client)
    )
    sp = _filled_sp(sps[0], *relations, roles, problems)
    apps = decode_all(Application, _present(answers[app_read], problems), problems)
    if apps:
        relations = await asyncio.gather(
            answers[app_owners].items_or_error(client), answers[federated].items_or_error(client)
        )
        filled = _filled_app(apps[0], *relations, problems)
        sp = dataclasses.replace(sp, application=filled if filled.app_id == sp.app_id else None)
    return Outcome((sp,), problems.status())


def _present(answer: Answer, problems: Problems) -> list[dict[str, Any]]:
    """The body as :func:`fetch_present` keeps it: none for a 404, a problem for a failure."""
    error = None if answer.missing else answer.error()
    if error is not None:
        problems.add(error)
    return [] if answer.missing or error is not None else [answer.raw]


def _roles_from(answer: Answer, problems: Problems) -> GraphRoleNames | None:
    error = answer.error()
    if error is not None:
        problems.add(error)
        return None
    return _role_names(answer.raw)


@dataclass(slots=True)
class _GraphRoles:
    """The Microsoft Graph service principal's app roles, read once when first needed."""

    client: GraphClient
    problems: Problems
    read: bool = False
    value: tuple[str, dict[str, str]] | None = None

    async def get(self) -> tuple[str, dict[str, str]] | None:
        if not self.read:
            self.read = True
            self.value = await _graph_app_roles(self.client, self.problems)
        return self.value


def _by_app_id(collection: str, app_id: str, fields: str) -> str:
    return f"{collection}(appId='{app_id}')?$select={fields}"


async def _graph_app_roles(
    client: GraphClient, problems: Problems
) -> tuple[str, dict[str, str]] | None:
    """The Microsoft Graph service principal: its object id and appRoleId -> permission name."""
    try:
        raw = await client.get(_by_app_id("servicePrincipals", GRAPH_APP_ID, "id,appRoles"))
    except GraphError as error:
        problems.add(error)
        return None
    return _role_names(raw)


def _role_names(raw: dict[str, Any]) -> GraphRoleNames:
    names = {
        str(role.get("id")): str(role.get("value"))
        for role in raw.get("appRoles") or []
        if isinstance(role, dict) and role.get("value")
    }
    return str(raw.get("id", "")), names


async def _with_sp_relations(
    client: GraphClient,
    sps: list[ServicePrincipal],
    roles: tuple[str, dict[str, str]] | None,
    problems: Problems,
) -> list[ServicePrincipal]:
    paths = [
        path
        for sp in sps
        for path in (
            f"servicePrincipals/{sp.id}/owners{OWNER_QUERY}",
            f"servicePrincipals/{sp.id}/appRoleAssignments{GRANT_QUERY}",
        )
    ]
    results = iter(await client.batch_get_all(paths))
    return [_filled_sp(sp, next(results), next(results), roles, problems) for sp in sps]


def _filled_sp(
    sp: ServicePrincipal,
    owners: Listed,
    grants: Listed,
    roles: GraphRoleNames | None,
    problems: Problems,
) -> ServicePrincipal:
    graph_id, names = roles or ("", {})
    changes: dict[str, Any] = {}
    for result in (owners, grants):
        if isinstance(result, GraphError):
            problems.add(result)
    if not isinstance(owners, GraphError):
        changes["owners"] = references(owners)
    if not isinstance(grants, GraphError) and graph_id:
        changes["app_permissions"] = permission_names(grants, graph_id, names)
    return dataclasses.replace(sp, **changes)


def permission_names(
    grants: Iterable[dict[str, Any]], graph_sp_id: str, names: dict[str, str]
) -> tuple[str, ...]:
    """Microsoft Graph application permissions granted, by name, in grant order."""
    granted = (
        names.get(str(grant.get("appRoleId")), str(grant.get("appRoleId")))
        for grant in grants
        if str(grant.get("resourceId", "")).lower() == graph_sp_id.lower()
    )
    return tuple(unique(granted))


async def _with_applications(
    client: GraphClient, sps: list[ServicePrincipal], problems: Problems
) -> list[ServicePrincipal]:
    """The application object, where it is registered in this tenant (else 404: none)."""
    paths = [_by_app_id("applications", sp.app_id, APP_FIELDS) for sp in sps]
    found = decode_all(Application, await fetch_present(client, paths, problems), problems)
    apps = {app.app_id: app for app in found}
    filled_apps = await _with_app_relations(client, list(apps.values()), problems)
    by_app_id = {app.app_id: app for app in filled_apps}
    return [dataclasses.replace(sp, application=by_app_id.get(sp.app_id)) for sp in sps]


async def _with_app_relations(
    client: GraphClient, apps: list[Application], problems: Problems
) -> list[Application]:
    paths = [
        path
        for app in apps
        for path in (
            f"applications/{app.id}/owners{OWNER_QUERY}",
            f"applications/{app.id}/federatedIdentityCredentials{FEDERATED_QUERY}",
        )
    ]
    results = iter(await client.batch_get_all(paths))
    return [_filled_app(app, next(results), next(results), problems) for app in apps]


def _filled_app(
    app: Application, owners: Listed, federated: Listed, problems: Problems
) -> Application:
    changes: dict[str, Any] = {}
    if isinstance(owners, GraphError):
        problems.add(owners)
    else:
        changes["owners"] = references(owners)
    if isinstance(federated, GraphError):
        problems.add(federated)
    else:
        credentials = decode_all(FederatedIdentityCredential, federated, problems)
        changes["federated_identity_credentials"] = tuple(credentials)
    return dataclasses.replace(app, **changes)


# ---- holders of Intune write permissions -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteHolders:
    """Service principal object ids holding an Intune write permission of Microsoft Graph, the
    Graph service principal's id and role names (to name the holders' permissions), the read's
    status, and every service principal's Microsoft Graph permissions by lower-cased id (from
    the same read: a taken-forward one whose permissions changed is read again)."""

    ids: tuple[str, ...]
    graph_roles: GraphRoleNames | None
    status: SourceStatus
    granted: Mapping[str, frozenset[str]] = field(default_factory=dict)


async def write_holder_ids(client: GraphClient) -> WriteHolders:
    """``GET servicePrincipals/{graph}/appRoleAssignedTo``, kept to service principals granted a
    ``DeviceManagement*.ReadWrite.All`` or ``...PrivilegedOperations.All`` role; starts at once."""
    problems = Problems()
    roles = await _graph_app_roles(client, problems)
    if roles is None:
        return WriteHolders((), None, problems.status(anything_read=False))
    graph_id, names = roles
    try:
        grants = await client.get_all(
            f"servicePrincipals/{graph_id}/appRoleAssignedTo",
            {"$select": HOLDER_FIELDS, "$top": "999"},
        )
    except GraphError as error:
        return WriteHolders((), roles, failed(error))
    ids = unique(
        str(grant.get("principalId") or "")
        for grant in grants
        if str(grant.get("principalType", "")).lower() == "serviceprincipal"
        and is_intune_write_permission(names.get(str(grant.get("appRoleId")), ""))
    )
    return WriteHolders(tuple(i for i in ids if i), roles, COMPLETE, _granted(grants, names))


def _granted(grants: Iterable[dict[str, Any]], names: dict[str, str]) -> dict[str, frozenset[str]]:
    """Each service principal's permissions by name (an unknown role by its id, as
    :func:`permission_names` names it)."""
    by_principal: dict[str, set[str]] = {}
    for grant in grants:
        if str(grant.get("principalType", "")).lower() == "serviceprincipal":
            role = str(grant.get("appRoleId"))
            principal = str(grant.get("principalId") or "").lower()
            by_principal.setdefault(principal, set()).add(names.get(role, role))
    return {principal: frozenset(held) for principal, held in by_principal.items()}


async def with_write_holders(
    client: GraphClient,
    lookup: Awaitable[Outcome[ServicePrincipal]],
    holders: Awaitable[WriteHolders],
    reuse: Reuse | None = None,
) -> Outcome[ServicePrincipal]:
    """The looked-up service principals, then the write holders not among them (read by object
    id, with owners, permissions and application). A failed holder read makes the outcome
    partial: an app MAA would block may be missing.

    ``reuse``: holders taken as they are instead of read; and a service principal taken from
    it whose Microsoft Graph permissions the holder read now contradicts is read again (Graph's
    delta does not report a permission granted or revoked)."""
    found, held = await lookup, await holders
    known = reuse or Reuse()
    present = {sp.id.lower() for sp in found.items}
    wanted = [i for i in held.ids if i.lower() not in present]
    _, kept = split(wanted, known.sps_by_id)
    known.taken.update(kept)
    stale = _stale([*found.items, *kept.values()], held, known)
    kept = {key: sp for key, sp in kept.items() if key not in stale}
    to_read = [i for i in wanted if i.lower() not in kept]
    to_read += [sp.id for sp in found.items if sp.id.lower() in stale]
    problems = Problems()
    paths = [f"servicePrincipals/{i}?$select={SP_FIELDS}" for i in to_read]
    sps = decode_all(ServicePrincipal, await fetch_present(client, paths, problems), problems)
    sps = await _with_sp_relations(client, sps, held.graph_roles, problems)
    sps = await _with_applications(client, sps, problems)
    fresh = {sp.id.lower(): sp for sp in sps}
    looked_up = [fresh.get(sp.id.lower()) if sp.id.lower() in stale else sp for sp in found.items]
    items = [sp for sp in looked_up if sp is not None]
    items += in_order(wanted, sps, kept, lambda sp: sp.id)
    return Outcome(tuple(items), _merged_status(found.status, held.status, problems.status()))


def _stale(found: Iterable[ServicePrincipal], held: WriteHolders, reuse: Reuse) -> set[str]:
    """Taken-forward service principals whose Microsoft Graph permissions the holder read
    contradicts (one granted or revoked since, holder or not)."""
    if held.status.state is not SourceState.COMPLETE:
        return set()
    return {
        sp.id.lower()
        for sp in found
        if sp.id.lower() in reuse.taken
        and frozenset(sp.app_permissions) != held.granted.get(sp.id.lower(), frozenset())
    }


def _merged_status(found: SourceStatus, *holders: SourceStatus) -> SourceStatus:
    """``found``'s status while it is not complete; else the first holder problem, as partial."""
    if found.state is not SourceState.COMPLETE:
        return found
    broken = next((s for s in holders if s.state is not SourceState.COMPLETE), None)
    if broken is None:
        return found
    return dataclasses.replace(
        broken,
        state=SourceState.PARTIAL,
        reason=f"holders of Intune write permissions: {broken.reason}",
    )
