"""Pure detection: the previous Observation and this poll's Reading give the next Observation
and the events to tell. No I/O, no clock: time is the Reading's ``taken_at``.

First poll (no previous observation): a baseline is recorded and nothing is told, unless
``notify_existing`` is set, which tells the requests that are still open (needs approval,
approved but not completed) and those about to expire. History (old audit events, existing
exclusions, current approvers, current findings) is never told.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from maa_guard.watch.changes import (
    exclusion_events,
    finding_events,
    findings_after,
    membership_events,
    new_audit_changes,
    property_changes,
    reconcile,
)
from maa_guard.watch.model import (
    DEFAULT_SEVERITY,
    OPEN_STATUSES,
    STATUS_EVENTS,
    ChangeReport,
    Event,
    EventType,
    GroupState,
    Observation,
    Person,
    PolicyState,
    Reading,
    RequestState,
)

T = TypeVar("T")
DEVICE_TYPES = frozenset({"deviceWipe", "deviceRetire", "deviceDelete"})


@dataclass(frozen=True, slots=True)
class DetectOptions:
    warn_before: timedelta = timedelta(hours=12)
    notify_existing: bool = False
    audit_overlap: timedelta = timedelta(hours=1)
    report_memory: timedelta = timedelta(days=1)


def detect(
    previous: Observation | None, reading: Reading, options: DetectOptions
) -> tuple[Observation, tuple[Event, ...]]:
    if previous is None:
        return _baseline(reading, options)
    reading = dataclasses.replace(reading, requests=_known_people(previous.requests, reading))
    changes = [
        *new_audit_changes(previous, reading),
        *property_changes(previous.policies, reading.policies, reading.taken_at),
    ]
    reports, told = reconcile(previous.reports, changes, reading.taken_at, options.report_memory)
    observation = _next(previous, reading, options, reports)
    context = _Context(observation, reading.taken_at)
    events = [
        *request_events(previous, reading, options, context),
        *exclusion_events(told, observation, reading.taken_at),
        *membership_events(previous, reading, observation),
        *finding_events(previous, reading, observation.seq),
    ]
    return observation, tuple(events)


def _baseline(reading: Reading, options: DetectOptions) -> tuple[Observation, tuple[Event, ...]]:
    empty = Observation(seq=0, taken_at=reading.taken_at)
    observation = _next(empty, reading, options, ())
    if not options.notify_existing or reading.requests is None:
        return observation, ()
    context = _Context(observation, reading.taken_at)
    events: list[Event] = []
    for request in _in_order(reading.requests.values()):
        if request.status in OPEN_STATUSES:
            events.append(_status_event(request, context))
        if _expiring(request, reading.taken_at, options.warn_before):
            events.append(_expiring_event(request, context))
    return observation, tuple(events)


def _next(
    previous: Observation,
    reading: Reading,
    options: DetectOptions,
    reports: tuple[ChangeReport, ...],
) -> Observation:
    requests = _kept(reading.requests, previous.requests)
    groups = _kept(reading.groups, previous.groups)
    return Observation(
        seq=previous.seq + 1,
        taken_at=reading.taken_at,
        requests=requests,
        policies=_kept(reading.policies, previous.policies),
        groups=groups,
        people=_people(previous, reading, requests, groups),
        audit_cursor=reading.audit_end or previous.audit_cursor,
        audit_seen=_audit_seen(previous, reading, options.audit_overlap),
        findings=findings_after(previous.findings, reading),
        reports=reports,
    )


def _kept(current: T | None, previous: T | None) -> T | None:
    return current if current is not None else previous


_REQUESTOR = (
    "requestor_id",
    "requestor_name",
    "requestor_kind",
    "requestor_source",
    "requestor_event",
)
_APPROVER = ("approver_id", "approver_name", "approver_kind", "approver_source", "approver_event")


def _known_people(
    previous: Mapping[str, RequestState] | None, reading: Reading
) -> dict[str, RequestState] | None:
    """A request's requestor and approver, once named, stay named when a later poll's audit
    window no longer holds the events that named them (Graph may return both as null)."""
    if previous is None or reading.requests is None:
        return reading.requests
    return {
        request_id: _remembered(previous.get(request_id), request)
        for request_id, request in reading.requests.items()
    }


def _remembered(old: RequestState | None, new: RequestState) -> RequestState:
    if old is None:
        return new
    kept = {
        name: getattr(old, name)
        for side in (_REQUESTOR, _APPROVER)
        if _named(old, side) and not _named(new, side)
        for name in side
    }
    return dataclasses.replace(new, **kept) if kept else new


def _named(request: RequestState, side: tuple[str, ...]) -> bool:
    """Whether the side's id or name is known."""
    return bool(getattr(request, side[0]) or getattr(request, side[1]))


def _people(
    previous: Observation,
    reading: Reading,
    requests: Mapping[str, RequestState] | None,
    groups: Mapping[str, GroupState] | None,
) -> dict[str, Person]:
    """The approvers and requestors still named; a user read now wins over one remembered."""
    known = {**previous.people, **reading.people}
    named = {m for g in (groups or {}).values() for m in g.member_ids}
    named |= {r.requestor_id for r in (requests or {}).values()}
    return {person_id: known[person_id] for person_id in sorted(named) if person_id in known}


def _audit_seen(previous: Observation, reading: Reading, overlap: timedelta) -> tuple[str, ...]:
    """Ids the next window (which starts ``overlap`` before this one's end) will read again."""
    if reading.audit_end is None:
        return previous.audit_seen
    since = reading.audit_end - overlap
    return tuple(s.id for s in reading.audit_events if s.at >= since)


# ---- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    """Who to tell: the remembered policies, groups and people."""

    observation: Observation
    now: datetime

    def approvers_of(self, request: RequestState) -> tuple[str, ...]:
        policies = (self.observation.policies or {}).values()
        groups = self.observation.groups or {}
        group_ids = {
            g for p in covering(policies, request.policy_types) for g in p.approver_group_ids
        }
        member_ids = {m for g in group_ids if g in groups for m in groups[g].member_ids}
        member_ids.discard(request.requestor_id)
        return _addresses(member_ids, self.observation.people)

    def requestor_of(self, request: RequestState) -> tuple[str, ...]:
        if request.requestor_kind != "user":
            return ()
        return _addresses({request.requestor_id}, self.observation.people)


def covering(policies: Iterable[PolicyState], policy_types: Iterable[str]) -> list[PolicyState]:
    """Policies that protect any of the types; access-policy changes need every policy's
    approvers (as the emulator and the Intune docs have it)."""
    kinds = set(policy_types)
    candidates = list(policies)
    if "operationApprovalPolicy" in kinds:
        return candidates
    return [
        p
        for p in candidates
        if p.policy_type in kinds or (p.policy_type == "deviceAction" and kinds & DEVICE_TYPES)
    ]


def _addresses(ids: Iterable[str], people: Mapping[str, Person]) -> tuple[str, ...]:
    found = (people.get(i) for i in sorted(ids))
    return tuple(dict.fromkeys(p.address for p in found if p is not None and p.address))


def request_events(
    previous: Observation, reading: Reading, options: DetectOptions, context: _Context
) -> list[Event]:
    if previous.requests is None or reading.requests is None:
        return []
    events = []
    for request in _in_order(reading.requests.values()):
        old = previous.requests.get(request.id)
        if (old is None or old.status != request.status) and request.status in STATUS_EVENTS:
            events.append(_status_event(request, context))
        was_expiring = old is not None and _expiring(old, previous.taken_at, options.warn_before)
        if _expiring(request, reading.taken_at, options.warn_before) and not was_expiring:
            events.append(_expiring_event(request, context))
    return events


def _in_order(requests: Iterable[RequestState]) -> list[RequestState]:
    return sorted(requests, key=lambda r: (r.requested_at is None, r.requested_at or 0, r.id))


def _expiring(request: RequestState, now: datetime, warn_before: timedelta) -> bool:
    expires = request.expires_at
    return (
        request.status == "needsApproval"
        and expires is not None
        and expires - warn_before <= now < expires
    )


def _status_event(request: RequestState, context: _Context) -> Event:
    kind = STATUS_EVENTS[request.status]
    audience = (
        context.approvers_of(request)
        if kind is EventType.REQUEST_NEEDS_APPROVAL
        else context.requestor_of(request)
    )
    return Event(
        key=f"request:{request.id}:status:{request.status}",
        type=kind,
        severity=DEFAULT_SEVERITY[kind],
        detected_at=context.now,
        request=request,
        audience=audience,
    )


def _expiring_event(request: RequestState, context: _Context) -> Event:
    kind = EventType.REQUEST_EXPIRING
    return Event(
        key=f"request:{request.id}:expiring",
        type=kind,
        severity=DEFAULT_SEVERITY[kind],
        detected_at=context.now,
        request=request,
        audience=context.approvers_of(request),
    )
