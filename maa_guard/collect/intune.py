"""Intune sources: MAA access policies, approval requests, RBAC and the audit log."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from maa_guard.collect.common import (
    Outcome,
    Problems,
    decode_all,
    failed,
    fetch_present,
    select,
)
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.exclusions import read_policy_exclusions
from maa_guard.snapshot import (
    AccessPolicy,
    ApprovalRequest,
    AuditEvent,
    RoleAssignment,
    RoleDefinition,
    Window,
)
from maa_guard.snapshot.codec import format_datetime

POLICIES = "deviceManagement/operationApprovalPolicies"
REQUESTS = "deviceManagement/operationApprovalRequests"
ROLE_DEFINITIONS = "deviceManagement/roleDefinitions"
ROLE_ASSIGNMENTS = "deviceManagement/roleAssignments"
AUDIT_EVENTS = "deviceManagement/auditEvents"
INTUNE_TOP = "1000"
# Graph keeps two years of Intune audit events (Microsoft's docs; some sources say one):
# reading further back than the log holds costs one empty page per slice.
AUDIT_RETENTION_DAYS = 730
HISTORY_SLICES = 8
# The category of access-policy (MAA) events, exclusion changes among them, in the demo tenant
# and the emulator. Microsoft has not published MAA's audit strings.
EXCLUSION_CATEGORY = "Role"

REQUEST_FIELDS = select(
    "id",
    "status",
    "requestor",
    "approver",
    "requestDateTime",
    "expirationDateTime",
    "lastModifiedDateTime",
    "requestJustification",
    "approvalJustification",
    "requiredOperationApprovalPolicyTypes",
)
AUDIT_FIELDS = select(
    "id",
    "activityDateTime",
    "actor",
    "activity",
    "activityType",
    "activityOperationType",
    "activityResult",
    "category",
    "componentName",
    "resources",
)
ASSIGNMENT_FIELDS = select(
    "id", "displayName", "members", "scopeMembers", "resourceScopes", "scopeType"
)


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """``property_seen``: some policy carried the exclusions property (even empty)."""

    policies: Outcome[AccessPolicy]
    property_seen: bool


async def collect_policies(client: GraphClient, exclusions_property: str) -> PolicyOutcome:
    """List, then GET each policy: the list can omit ``approverGroupIds``.

    The per-policy GET carries no ``$select``: the exclusions property is undocumented, and
    Graph answers 400 to a ``$select`` naming a property it does not know.
    """
    try:
        listed = await client.get_all(POLICIES, {"$select": "id", "$top": INTUNE_TOP})
    except GraphError as error:
        return PolicyOutcome(Outcome((), failed(error)), False)
    ids = [str(item["id"]) for item in listed if item.get("id")]
    problems = Problems()
    # deleted between the list and the GET: a 404, left out
    found = await fetch_present(client, [f"{POLICIES}/{policy_id}" for policy_id in ids], problems)
    seen = any(exclusions_property in raw for raw in found)
    policies = [p for raw in found for p in _policy(raw, exclusions_property, problems)]
    status = problems.status(bool(policies) or not ids)
    return PolicyOutcome(Outcome(tuple(policies), status), seen)


def _policy(
    raw: dict[str, Any], exclusions_property: str, problems: Problems
) -> list[AccessPolicy]:
    shaped = {key: value for key, value in raw.items() if key != "exclusions"}
    decoded = decode_all(AccessPolicy, [shaped], problems)
    exclusions = read_policy_exclusions(raw, exclusions_property)
    return [dataclasses.replace(policy, exclusions=exclusions) for policy in decoded]


async def collect_requests(client: GraphClient) -> Outcome[ApprovalRequest]:
    try:
        raws = await client.get_all(REQUESTS, {"$select": REQUEST_FIELDS, "$top": INTUNE_TOP})
    except GraphError as error:
        return Outcome((), failed(error))
    problems = Problems()
    items = decode_all(ApprovalRequest, raws, problems)
    return Outcome(tuple(items), problems.status())


async def collect_rbac(
    client: GraphClient,
) -> tuple[Outcome[RoleDefinition], Outcome[RoleAssignment]]:
    """Definitions, assignments, and which definition each assignment grants.

    The assignment resource names its definition only through the ``roleDefinition``
    relationship, so each definition's ``roleAssignments`` are read (batched) to map them.
    """
    try:
        definitions, assignments = await asyncio.gather(
            client.get_all(
                ROLE_DEFINITIONS, {"$select": "id,displayName,isBuiltIn", "$top": INTUNE_TOP}
            ),
            client.get_all(ROLE_ASSIGNMENTS, {"$select": ASSIGNMENT_FIELDS, "$top": INTUNE_TOP}),
        )
    except GraphError as error:
        return Outcome((), failed(error)), Outcome((), failed(error))
    problems = Problems()
    owners = await _definition_of_assignments(client, definitions, problems)
    roles = decode_all(RoleDefinition, definitions, problems)
    granted = decode_all(RoleAssignment, assignments, problems)
    granted = [
        dataclasses.replace(a, role_definition_id=owners.get(a.id, a.role_definition_id))
        for a in granted
    ]
    status = problems.status()
    return Outcome(tuple(roles), status), Outcome(tuple(granted), status)


async def _definition_of_assignments(
    client: GraphClient, definitions: list[dict[str, Any]], problems: Problems
) -> dict[str, str]:
    ids = [str(d["id"]) for d in definitions if d.get("id")]
    paths = [f"{ROLE_DEFINITIONS}/{i}/roleAssignments?$select=id" for i in ids]
    owners: dict[str, str] = {}
    for definition_id, result in zip(ids, await client.batch_get_all(paths), strict=True):
        if isinstance(result, GraphError):
            problems.add(result)
            continue
        owners.update({str(item["id"]): definition_id for item in result if item.get("id")})
    return owners


def time_slices(window: Window, count: int) -> list[Window]:
    """``count`` equal, adjacent slices covering the window (start inclusive, end exclusive)."""
    count = max(1, count)
    step = (window.end - window.start) / count
    edges = [window.start + step * i for i in range(count)] + [window.end]
    return [Window(edges[i], edges[i + 1]) for i in range(count)]


def slice_count(window: Window) -> int:
    """One slice per day of the window, at most 32: a nextLink chain is sequential."""
    days = (window.end - window.start) / timedelta(days=1)
    return max(1, min(32, int(days + 0.999)))


async def collect_audit_events(client: GraphClient, window: Window) -> Outcome[AuditEvent]:
    """The window's Intune audit events, its time slices fetched in parallel."""
    return await _audit_events(client, time_slices(window, slice_count(window)))


def history_span(window: Window) -> Window:
    """From the start of the audit log's retention to the start of the window."""
    return Window(window.end - timedelta(days=AUDIT_RETENTION_DAYS), window.start)


async def collect_exclusion_history(client: GraphClient, window: Window) -> Outcome[AuditEvent]:
    """Access-policy audit events from before the window, back to the audit log's retention:
    an exclusion added long ago is known only from its event (the window has the rest)."""
    span = history_span(window)
    if span.start >= span.end:
        return Outcome(())
    clause = f"category eq '{EXCLUSION_CATEGORY}'"
    return await _audit_events(client, time_slices(span, HISTORY_SLICES), clause)


def merge_audit_events(*parts: tuple[AuditEvent, ...]) -> tuple[AuditEvent, ...]:
    """Audit events read apart (the window, the exclusion history), each once, in time order."""
    by_id = {event.id: event for part in parts for event in part}
    return tuple(sorted(by_id.values(), key=lambda e: (e.activity_date_time, e.id)))


async def _audit_events(
    client: GraphClient, slices: list[Window], clause: str = ""
) -> Outcome[AuditEvent]:
    """Each slice's events (its own nextLink chain, all at once); complete when all are."""
    results = await asyncio.gather(
        *(_audit_slice(client, part, clause) for part in slices), return_exceptions=True
    )
    problems = Problems()
    raws: dict[str, dict[str, Any]] = {}
    for result in results:
        if isinstance(result, GraphError):
            problems.add(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            raws.update((str(r.get("id")), r) for r in result if str(r.get("id")) not in raws)
    events = decode_all(AuditEvent, raws.values(), problems)
    events.sort(key=lambda event: (event.activity_date_time, event.id))
    return Outcome(tuple(events), problems.status(len(problems.errors) < len(slices)))


async def _audit_slice(client: GraphClient, part: Window, clause: str) -> list[dict[str, Any]]:
    dates = (
        f"activityDateTime ge {format_datetime(part.start)} "
        f"and activityDateTime lt {format_datetime(part.end)}"
    )
    condition = f"{dates} and {clause}" if clause else dates
    params = {"$filter": condition, "$select": AUDIT_FIELDS, "$top": INTUNE_TOP}
    return await client.get_all(AUDIT_EVENTS, params)
