"""Pure detection of exclusion changes, approver-group membership changes and new findings.

An exclusion change can be seen twice: in the audit log (keyed by the audit event id) and as a
difference of the policy's exclusions property between two polls (keyed by the poll). Either
may come first (the audit log can lag), so each change told is remembered for a while
(``ChangeReport``) and the other source's sighting of it is matched, not told again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from maa_guard.watch.model import (
    DEFAULT_SEVERITY,
    ChangeReport,
    ChangeSource,
    Event,
    EventType,
    ExclusionChange,
    ExclusionVerb,
    FindingState,
    GroupState,
    MembershipChange,
    Observation,
    Person,
    PolicyState,
    Reading,
)

_EXCLUSION_TYPES = {
    ExclusionVerb.ADDED: EventType.EXCLUSION_ADDED,
    ExclusionVerb.REMOVED: EventType.EXCLUSION_REMOVED,
}


# ---- exclusions ------------------------------------------------------------------------------


def new_audit_changes(previous: Observation, reading: Reading) -> list[ExclusionChange]:
    """Exclusion changes from audit events not seen by an earlier poll."""
    if reading.audit_end is None:
        return []
    seen = set(previous.audit_seen)
    return [change for change in reading.audit_changes if change.audit_id not in seen]


def property_changes(
    previous: Mapping[str, PolicyState] | None,
    current: Mapping[str, PolicyState] | None,
    now: datetime,
) -> list[ExclusionChange]:
    """Differences of each policy's exclusions property; a new policy starts from none."""
    if previous is None or current is None:
        return []
    changes = []
    for policy in sorted(current.values(), key=lambda p: p.id):
        old = previous.get(policy.id)
        before = () if old is None else old.exclusions
        if policy.exclusions is None or before is None:
            continue
        changes += _differences(policy, before, now)
    return changes


def _differences(
    policy: PolicyState, before: Sequence[str], now: datetime
) -> list[ExclusionChange]:
    after = policy.exclusions or ()
    old, new = {a.lower() for a in before}, {a.lower() for a in after}
    added = [a for a in after if a.lower() not in old]
    removed = [a for a in before if a.lower() not in new]
    return [
        ExclusionChange(policy.id, app, verb, ChangeSource.POLICY_PROPERTY, now)
        for verb, apps in ((ExclusionVerb.ADDED, added), (ExclusionVerb.REMOVED, removed))
        for app in apps
    ]


def reconcile(
    reports: Iterable[ChangeReport],
    changes: Iterable[ExclusionChange],
    now: datetime,
    memory: timedelta,
) -> tuple[tuple[ChangeReport, ...], list[ExclusionChange]]:
    """The changes to tell, and the reports to remember (older than ``memory`` forgotten)."""
    live = [report for report in reports if now - report.at <= memory]
    told = []
    for change in changes:
        twin = _twin(live, change)
        if twin is not None:
            live[twin] = dataclasses.replace(live[twin], matched=True)
            continue
        told.append(change)
        live.append(ChangeReport(change.policy_id, change.app_id, change.verb, change.source, now))
    return tuple(live), told


def _twin(reports: Sequence[ChangeReport], change: ExclusionChange) -> int | None:
    for index, report in enumerate(reports):
        if (
            not report.matched
            and report.source is not change.source
            and report.verb is change.verb
            and report.policy_id.lower() == change.policy_id.lower()
            and report.app_id.lower() == change.app_id.lower()
        ):
            return index
    return None


def exclusion_events(
    told: Iterable[ExclusionChange], observation: Observation, now: datetime
) -> list[Event]:
    policies = observation.policies or {}
    events = []
    for change in told:
        policy = policies.get(change.policy_id)
        named = dataclasses.replace(
            change, policy_name=change.policy_name or (policy.display_name if policy else "")
        )
        kind = _EXCLUSION_TYPES[change.verb]
        events.append(
            Event(
                key=_exclusion_key(change, observation.seq),
                type=kind,
                severity=DEFAULT_SEVERITY[kind],
                detected_at=now,
                exclusion=named,
            )
        )
    return events


def _exclusion_key(change: ExclusionChange, seq: int) -> str:
    origin = f"audit-{change.audit_id}" if change.audit_id else f"poll-{seq}"
    return f"exclusion:{change.policy_id}:{change.app_id}:{change.verb.value}:{origin}"


# ---- approver groups -------------------------------------------------------------------------


def membership_events(
    previous: Observation, reading: Reading, observation: Observation
) -> list[Event]:
    """A group tracked in both polls whose direct members changed; a group first seen (a new
    policy named it) is a baseline, not a change."""
    if previous.groups is None or reading.groups is None:
        return []
    events = []
    for group in sorted(reading.groups.values(), key=lambda g: g.id):
        old = previous.groups.get(group.id)
        if old is None:
            continue
        change = _membership(old, group, observation, {**previous.people, **observation.people})
        if change.added or change.removed:
            events.append(_membership_event(change, observation, reading.taken_at))
    return events


def _membership(
    old: GroupState, new: GroupState, observation: Observation, people: Mapping[str, Person]
) -> MembershipChange:
    """``people`` includes the previous poll's: a member who left is still named."""
    before, after = set(old.member_ids), set(new.member_ids)
    policies = (observation.policies or {}).values()
    return MembershipChange(
        group_id=new.id,
        group_name=new.display_name,
        added=_people(sorted(after - before), people),
        removed=_people(sorted(before - after), people),
        policy_names=tuple(
            sorted(p.display_name or p.id for p in policies if new.id in p.approver_group_ids)
        ),
    )


def _people(ids: Iterable[str], people: Mapping[str, Person]) -> tuple[Person, ...]:
    return tuple(people.get(person_id, Person(person_id)) for person_id in ids)


def _membership_event(change: MembershipChange, observation: Observation, now: datetime) -> Event:
    kind = EventType.APPROVERS_CHANGED
    return Event(
        key=f"approvers:{change.group_id}:poll-{observation.seq}",
        type=kind,
        severity=DEFAULT_SEVERITY[kind],
        detected_at=now,
        membership=change,
    )


# ---- findings (--scan) -----------------------------------------------------------------------


def finding_events(previous: Observation, reading: Reading, seq: int) -> list[Event]:
    """Failing findings whose fingerprint the previous scan did not have; the first scan of a
    watch is a baseline."""
    if previous.findings is None or reading.findings is None:
        return []
    return [
        Event(
            key=f"finding:{finding.fingerprint}:poll-{seq}",
            type=EventType.FINDING_NEW,
            severity=finding.severity,
            detected_at=reading.taken_at,
            finding=finding,
        )
        for fingerprint, finding in sorted(reading.findings.items())
        if fingerprint not in previous.findings
    ]


def findings_after(
    previous: dict[str, FindingState] | None, reading: Reading
) -> dict[str, FindingState] | None:
    """An incomplete scan cannot tell that a finding went away: it keeps the earlier ones."""
    if reading.findings is None:
        return previous
    if reading.findings_complete or previous is None:
        return dict(reading.findings)
    return {**previous, **reading.findings}
