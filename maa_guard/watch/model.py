"""What one poll sees (Reading), what the watch remembers (Observation), what it tells (Event).

Observation and Event are stored as JSON through :mod:`maa_guard.snapshot.codec`, so they hold only
types the codec knows: frozen dataclasses, enums, str, int, bool, datetime, tuples, dicts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from maa_guard.model import Severity


class EventType(str, enum.Enum):
    REQUEST_NEEDS_APPROVAL = "request.needs_approval"
    REQUEST_EXPIRING = "request.expiring"
    REQUEST_APPROVED = "request.approved"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_EXPIRED = "request.expired"
    EXCLUSION_ADDED = "exclusion.added"
    EXCLUSION_REMOVED = "exclusion.removed"
    APPROVERS_CHANGED = "approvers.changed"
    FINDING_NEW = "finding.new"
    # `watch test-notify` only: never detected, stored or routed.
    TEST = "test"

    def __str__(self) -> str:
        return self.value


DEFAULT_SEVERITY = {
    EventType.REQUEST_NEEDS_APPROVAL: Severity.MEDIUM,
    EventType.REQUEST_EXPIRING: Severity.HIGH,
    EventType.REQUEST_APPROVED: Severity.MEDIUM,
    EventType.REQUEST_REJECTED: Severity.LOW,
    EventType.REQUEST_CANCELLED: Severity.LOW,
    EventType.REQUEST_EXPIRED: Severity.MEDIUM,
    EventType.EXCLUSION_ADDED: Severity.HIGH,
    EventType.EXCLUSION_REMOVED: Severity.MEDIUM,
    EventType.APPROVERS_CHANGED: Severity.HIGH,
}

# The request status that each status event announces.
STATUS_EVENTS = {
    "needsApproval": EventType.REQUEST_NEEDS_APPROVAL,
    "approved": EventType.REQUEST_APPROVED,
    "rejected": EventType.REQUEST_REJECTED,
    "cancelled": EventType.REQUEST_CANCELLED,
    "expired": EventType.REQUEST_EXPIRED,
}
OPEN_STATUSES = ("needsApproval", "approved")


class ExclusionVerb(str, enum.Enum):
    ADDED = "added"
    REMOVED = "removed"


class ChangeSource(str, enum.Enum):
    AUDIT_LOG = "audit-log"
    POLICY_PROPERTY = "policy-property"


@dataclass(frozen=True, slots=True)
class Person:
    """A directory user; ``address`` is the mail, else the UPN, else empty."""

    id: str
    display_name: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class RequestState:
    """``requestor_source`` / ``approver_source``: where the person was learned, ``graph`` or
    ``audit-log`` (then ``*_event`` is the MAA audit event's id); empty while unknown."""

    id: str
    status: str
    requestor_id: str = ""
    requestor_name: str = ""
    requestor_kind: str = ""
    justification: str = ""
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    policy_types: tuple[str, ...] = ()
    approver_name: str = ""
    approver_notes: str = ""
    requestor_source: str = ""
    requestor_event: str = ""
    approver_id: str = ""
    approver_kind: str = ""
    approver_source: str = ""
    approver_event: str = ""


@dataclass(frozen=True, slots=True)
class PolicyState:
    """``exclusions`` is None when the tenant does not expose the exclusions property."""

    id: str
    display_name: str = ""
    policy_type: str = ""
    approver_group_ids: tuple[str, ...] = ()
    exclusions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class GroupState:
    id: str
    display_name: str = ""
    member_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExclusionChange:
    policy_id: str
    app_id: str
    verb: ExclusionVerb
    source: ChangeSource
    at: datetime
    policy_name: str = ""
    app_name: str = ""
    actor: str = ""
    audit_id: str = ""


@dataclass(frozen=True, slots=True)
class MembershipChange:
    group_id: str
    group_name: str
    added: tuple[Person, ...] = ()
    removed: tuple[Person, ...] = ()
    policy_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FindingState:
    fingerprint: str
    rule_id: str
    title: str
    severity: Severity
    resource_id: str = ""
    resource_name: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class ChangeReport:
    """An exclusion change already told, kept a while so the other source's sighting of the
    same change is recognised instead of told twice."""

    policy_id: str
    app_id: str
    verb: ExclusionVerb
    source: ChangeSource
    at: datetime
    matched: bool = False


@dataclass(frozen=True, slots=True)
class AuditSighting:
    id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Observation:
    """What the watch remembers between polls. A section is None until first read completely;
    a section that could not be read in a poll keeps its previous value."""

    seq: int
    taken_at: datetime
    requests: dict[str, RequestState] | None = None
    policies: dict[str, PolicyState] | None = None
    groups: dict[str, GroupState] | None = None
    people: dict[str, Person] = field(default_factory=dict)
    audit_cursor: datetime | None = None
    audit_seen: tuple[str, ...] = ()
    findings: dict[str, FindingState] | None = None
    reports: tuple[ChangeReport, ...] = ()


@dataclass(frozen=True, slots=True)
class Reading:
    """What one poll read. A None section could not be read completely (see ``problems``)."""

    taken_at: datetime
    requests: dict[str, RequestState] | None = None
    policies: dict[str, PolicyState] | None = None
    groups: dict[str, GroupState] | None = None
    people: dict[str, Person] = field(default_factory=dict)
    audit_end: datetime | None = None
    audit_events: tuple[AuditSighting, ...] = ()
    audit_changes: tuple[ExclusionChange, ...] = ()
    findings: dict[str, FindingState] | None = None
    findings_complete: bool = True
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to tell. ``key`` is stable: the same change always gets the same key, so the
    store keeps it once however often it is detected. ``audience`` holds mail addresses
    (approvers or the requestor) for receivers that mail the people concerned."""

    key: str
    type: EventType
    severity: Severity
    detected_at: datetime
    request: RequestState | None = None
    exclusion: ExclusionChange | None = None
    membership: MembershipChange | None = None
    finding: FindingState | None = None
    audience: tuple[str, ...] = ()
