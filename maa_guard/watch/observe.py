"""One poll's reads from Graph (GET only, through the collector's source functions).

A source that is not read completely leaves its section of the Reading empty (None) and adds
a problem line: the watch then keeps what it knew and tells nothing about that source, rather
than mistaking a failed read for "everything was removed".
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from maa_guard.collect import GraphClient
from maa_guard.collect.common import Outcome, run_sync, unique
from maa_guard.collect.directory import collect_groups
from maa_guard.collect.intune import (
    PolicyOutcome,
    collect_audit_events,
    collect_policies,
    collect_requests,
)
from maa_guard.evaluate.identities import (
    AUDIT_LOG,
    KnownIdentity,
    RequestIdentities,
    resolve_identities,
)

# The one function that knows what an audit event says about an exclusion (see the report).
from maa_guard.exclusions import exclusion_change
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    ApprovalRequest,
    AuditEvent,
    Group,
    IdentitySet,
    SourceStatus,
    Window,
)
from maa_guard.watch.model import (
    AuditSighting,
    ChangeSource,
    ExclusionChange,
    ExclusionVerb,
    GroupState,
    Observation,
    Person,
    PolicyState,
    Reading,
    RequestState,
)

PERSON_FIELDS = "id,displayName,mail,userPrincipalName"
_VERBS = {"add": ExclusionVerb.ADDED, "remove": ExclusionVerb.REMOVED}


@dataclass(frozen=True, slots=True)
class ReadOptions:
    exclusions_property: str
    audit_overlap: timedelta = timedelta(hours=1)
    max_audit_window: timedelta = timedelta(days=30)


def audit_window(previous: Observation | None, now: datetime, options: ReadOptions) -> Window:
    """From the last cursor less the overlap (late audit events), at most 30 days back."""
    cursor = previous.audit_cursor if previous is not None else None
    start = (cursor or now) - options.audit_overlap
    return Window(max(start, now - options.max_audit_window), now)


def read_sync(
    client_factory: Callable[[], GraphClient],
    previous: Observation | None,
    now: datetime,
    options: ReadOptions,
) -> Reading:
    async def run() -> Reading:
        async with client_factory() as client:
            return await read_tenant(client, previous, now, options)

    return run_sync(run)


async def read_tenant(
    client: GraphClient, previous: Observation | None, now: datetime, options: ReadOptions
) -> Reading:
    window = audit_window(previous, now, options)
    requests, policies, audit = await asyncio.gather(
        collect_requests(client),
        collect_policies(client, options.exclusions_property),
        collect_audit_events(client, window),
    )
    problems: list[str] = []
    request_states = _requests(requests, audit.items, problems)
    policy_states = _policies(policies, problems)
    known_policies = policy_states or (previous.policies if previous else None) or {}
    groups = await _approver_groups(client, known_policies.values(), problems)
    people = await read_people(client, _people_ids(groups or [], request_states), problems)
    audited = audit.items if _complete(audit.status, "audit_events", problems) else None
    return Reading(
        taken_at=now,
        requests=_directory_names(request_states, people),
        policies=policy_states,
        groups=_group_states(groups) if groups is not None else None,
        people=people,
        audit_end=window.end if audited is not None else None,
        audit_events=tuple(AuditSighting(e.id, e.activity_date_time) for e in audited or ()),
        audit_changes=tuple(audit_changes(audited or (), known_policies)),
        problems=tuple(problems),
    )


def _complete(status: SourceStatus, name: str, problems: list[str]) -> bool:
    if status.state is SourceState.COMPLETE:
        return True
    problems.append(status.describe(name))
    return False


def _requests(
    outcome: Outcome[ApprovalRequest], events: Iterable[AuditEvent], problems: list[str]
) -> dict[str, RequestState] | None:
    """Who filed and who decided each request: from Graph, else from the MAA audit events of
    this poll's window that name it (live tenants return both as null)."""
    if not _complete(outcome.status, "approval_requests", problems):
        return None
    identities = resolve_identities(outcome.items, events, ())
    return {
        request.id: request_state(request, identities[request.id.lower()])
        for request in outcome.items
    }


def request_state(request: ApprovalRequest, identities: RequestIdentities) -> RequestState:
    requestor = _who(identities.requestor, request.requestor)
    approver = _who(identities.approver, request.approver)
    return RequestState(
        id=request.id,
        status=request.status,
        requestor_id=requestor.id,
        requestor_name=requestor.name,
        requestor_kind=requestor.kind,
        justification=request.request_justification,
        requested_at=request.request_date_time,
        expires_at=request.expiration_date_time,
        policy_types=request.required_operation_approval_policy_types,
        approver_name=approver.name or approver.id,
        approver_notes=request.approval_justification,
        requestor_source=requestor.source,
        requestor_event=requestor.event,
        approver_id=approver.id,
        approver_kind=approver.kind,
        approver_source=approver.source,
        approver_event=approver.event,
    )


@dataclass(frozen=True, slots=True)
class _Who:
    id: str = ""
    name: str = ""
    kind: str = ""
    source: str = ""
    event: str = ""


def _who(known: KnownIdentity | None, from_graph: IdentitySet | None) -> _Who:
    """The resolved identity; else whatever Graph shows (a name without an id, say)."""
    who = known.identity if known is not None else from_graph or IdentitySet()
    principal = who.principal
    if principal is None:
        return _Who()
    kind = "user" if who.user else "application" if who.application else "device"
    if known is None:
        return _Who(principal.id, principal.display_name, kind)
    return _Who(principal.id, principal.display_name, kind, known.source, known.event_id)


def _directory_names(
    requests: dict[str, RequestState] | None, people: Mapping[str, Person]
) -> dict[str, RequestState] | None:
    """An audit event names a user by UPN: the directory's display name replaces it."""
    if requests is None:
        return None
    return {request_id: _named(request, people) for request_id, request in requests.items()}


def _named(request: RequestState, people: Mapping[str, Person]) -> RequestState:
    requestor = _audited_user(
        request.requestor_id, request.requestor_kind, request.requestor_source, people
    )
    approver = _audited_user(
        request.approver_id, request.approver_kind, request.approver_source, people
    )
    return dataclasses.replace(
        request,
        requestor_name=requestor or request.requestor_name,
        approver_name=approver or request.approver_name,
    )


def _audited_user(user_id: str, kind: str, source: str, people: Mapping[str, Person]) -> str:
    """The directory's display name of a user learned from the audit log, else empty."""
    person = people.get(user_id) if kind == "user" and source == AUDIT_LOG else None
    return person.display_name if person is not None else ""


def _policies(outcome: PolicyOutcome, problems: list[str]) -> dict[str, PolicyState] | None:
    """Exclusions are known from the property only when the tenant returns it at all."""
    if not _complete(outcome.policies.status, "access_policies", problems):
        return None
    seen = outcome.property_seen
    return {
        policy.id: PolicyState(
            id=policy.id,
            display_name=policy.display_name,
            policy_type=policy.policy_type,
            approver_group_ids=policy.approver_group_ids,
            exclusions=tuple(e.app_id for e in policy.exclusions) if seen else None,
        )
        for policy in outcome.policies.items
    }


async def _approver_groups(
    client: GraphClient, policies: Iterable[PolicyState], problems: list[str]
) -> list[Group] | None:
    ids = unique(g for p in policies for g in p.approver_group_ids)
    outcome = await collect_groups(client, ids)
    if outcome.status.state is not SourceState.COMPLETE:
        problems.append(outcome.status.describe("groups"))
        return None
    return list(outcome.items)


def _group_states(groups: Iterable[Group]) -> dict[str, GroupState]:
    """Direct members of every type: Intune wants approvers as direct members, not nested."""
    return {
        g.id: GroupState(g.id, g.display_name, tuple(sorted(m.id for m in g.members)))
        for g in groups
    }


def _people_ids(groups: Iterable[Group], requests: dict[str, RequestState] | None) -> list[str]:
    members = [m.id for g in groups for m in g.members if m.type == "user"]
    named = (requests or {}).values()
    requestors = [r.requestor_id for r in named if r.requestor_kind == "user" and r.requestor_id]
    approvers = [r.approver_id for r in named if r.approver_kind == "user" and r.approver_id]
    return unique([*members, *requestors, *approvers])


async def read_people(
    client: GraphClient, ids: Sequence[str], problems: list[str]
) -> dict[str, Person]:
    """Display name and mail address (else UPN) of each user; a missing user is left out."""
    paths = [f"users/{quote(i, safe='')}?$select={PERSON_FIELDS}" for i in ids]
    people: dict[str, Person] = {}
    for answer in await client.batch_get(paths):
        if answer.status == 404:
            continue
        if answer.status >= 300:
            problems.append(f"users could not be read ({answer.error().message})")
            continue
        person = _person(answer.body)
        if person is not None:
            people[person.id] = person
    return people


def _person(body: dict[str, Any]) -> Person | None:
    person_id = body.get("id")
    if not isinstance(person_id, str) or not person_id:
        return None
    address = body.get("mail") or body.get("userPrincipalName") or ""
    name = body.get("displayName") or ""
    return Person(person_id, name if isinstance(name, str) else "", str(address))


def audit_changes(
    events: Iterable[AuditEvent], policies: dict[str, PolicyState]
) -> list[ExclusionChange]:
    changes = []
    for event in events:
        found = exclusion_change(event, set(policies))
        if found is None:
            continue
        verb, policy_id, exclusion = found
        policy = policies.get(policy_id)
        changes.append(
            ExclusionChange(
                policy_id=policy_id,
                app_id=exclusion.app_id,
                verb=_VERBS[verb],
                source=ChangeSource.AUDIT_LOG,
                at=event.activity_date_time,
                policy_name=policy.display_name if policy else "",
                app_name=exclusion.display_name,
                actor=_actor(event),
                audit_id=event.id,
            )
        )
    return changes


def _actor(event: AuditEvent) -> str:
    actor = event.actor
    return actor.user_principal_name or actor.application_display_name or actor.application_id or ""
