"""Who filed and who decided each approval request: from Graph, else from the MAA audit events.

Live tenants return ``requestor`` and ``approver`` as null. Microsoft records MAA's request
actions in the Intune audit log with the request among the event's ``resources``, but has not
published the event strings; so an event is matched by the request id in ``resources[]`` and
by the words of its ``activity`` / ``activityType``, never by its category:

- approve or reject: the actor decided the request (the approver);
- create, file, submit or block: the actor filed it (the requestor);
- complete: the actor sent the approved change again, which only the requestor can do (the
  requestor, when no filing event names the request);
- cancel, and anything else, says nothing here (an approval can be cancelled by either side).

Pure: a function of the snapshot's requests, audit events and users.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from maa_guard.snapshot import ApprovalRequest, AuditEvent, Identity, IdentitySet, User

GRAPH = "graph"
AUDIT_LOG = "audit-log"
_FILING_WORDS = ("create", "file", "submit", "block")
# A filing event may well report the write as blocked: that is not a failure here.
_FAILED_RESULTS = ("fail", "denied", "error", "forbidden", "unauthorized")


@dataclass(frozen=True, slots=True)
class KnownIdentity:
    """An identity and where it was learned: ``graph``, or ``audit-log`` with the event id."""

    identity: IdentitySet
    source: str
    event_id: str = ""

    @property
    def principal(self) -> Identity:
        principal = self.identity.principal
        assert principal is not None  # a KnownIdentity is only built around a principal
        return principal

    def evidence(self) -> dict[str, Any]:
        """``{id, displayName, source}``, and ``eventId`` when it came from the audit log."""
        document: dict[str, Any] = {
            "id": self.principal.id,
            "displayName": self.principal.display_name,
            "source": self.source,
        }
        if self.event_id:
            document["eventId"] = self.event_id
        return document


@dataclass(frozen=True, slots=True)
class RequestIdentities:
    """``named_by_events``: how many MAA audit events name the request among their resources."""

    requestor: KnownIdentity | None
    approver: KnownIdentity | None
    named_by_events: int = 0


def resolve_identities(
    requests: Iterable[ApprovalRequest], events: Iterable[AuditEvent], users: Iterable[User]
) -> dict[str, RequestIdentities]:
    """Every request's identities by request id (lower case)."""
    pending = list(requests)
    wanted = {
        r.id.lower() for r in pending if _known(r.requestor) is None or _known(r.approver) is None
    }
    naming = _events_naming(events, wanted)
    by_upn = {u.user_principal_name.lower(): u for u in users if u.user_principal_name}
    return {
        request.id.lower(): _identities(request, naming.get(request.id.lower(), []), by_upn)
        for request in pending
    }


def _events_naming(
    events: Iterable[AuditEvent], request_ids: set[str]
) -> dict[str, list[AuditEvent]]:
    """The events naming each wanted request, oldest first."""
    found: dict[str, list[AuditEvent]] = defaultdict(list)
    if not request_ids:
        return found
    for event in events:
        named = {(r.resource_id or "").lower() for r in event.resources} & request_ids
        for request_id in named:
            found[request_id].append(event)
    for listed in found.values():
        listed.sort(key=lambda e: (e.activity_date_time, e.id))
    return found


def _identities(
    request: ApprovalRequest, events: list[AuditEvent], users: Mapping[str, User]
) -> RequestIdentities:
    requestor = _from_graph(request.requestor) or _requestor_from(events, users)
    approver = _from_graph(request.approver) or _approver_from(request, events, users)
    return RequestIdentities(requestor, approver, len(events))


def _known(identity_set: IdentitySet | None) -> Identity | None:
    principal = identity_set.principal if identity_set else None
    return principal if principal is not None and principal.id else None


def _from_graph(identity_set: IdentitySet | None) -> KnownIdentity | None:
    if identity_set is None or _known(identity_set) is None:
        return None
    return KnownIdentity(identity_set, GRAPH)


def _requestor_from(events: list[AuditEvent], users: Mapping[str, User]) -> KnownIdentity | None:
    """The first filing event's actor; else the actor who completed the request."""
    for wanted in ("file", "complete"):
        found = _first_actor((e for e in events if action_of(e) == wanted), users)
        if found is not None:
            return found
    return None


def _approver_from(
    request: ApprovalRequest, events: list[AuditEvent], users: Mapping[str, User]
) -> KnownIdentity | None:
    """The latest decision matching the request's status (a rejection for a rejected one)."""
    wanted = "reject" if request.status == "rejected" else "approve"
    return _first_actor((e for e in reversed(events) if action_of(e) == wanted), users)


def _first_actor(events: Iterable[AuditEvent], users: Mapping[str, User]) -> KnownIdentity | None:
    """The actor of the first successful event that names one."""
    for event in events:
        found = _from_event(event, users) if succeeded(event) else None
        if found is not None:
            return found
    return None


def action_of(event: AuditEvent) -> str | None:
    """``file``, ``approve``, ``reject``, ``complete`` or None, from the event's words."""
    text = f"{event.activity} {event.activity_type} {event.activity_operation_type}".lower()
    if "cancel" in text:
        return None
    if "reject" in text:
        return "reject"
    # "approved change applied" is a completion: look for it before "approve".
    if "complete" in text:
        return "complete"
    if "approve" in text:
        return "approve"
    fields = (event.activity, event.activity_type, event.activity_operation_type)
    first_words = {field.strip().split(" ", 1)[0].lower() for field in fields}
    if any(word in text for word in _FILING_WORDS) or "request" in first_words:
        return "file"
    return None


def succeeded(event: AuditEvent) -> bool:
    """A failed attempt (an outsider's refused approval) names no one; a blank result counts."""
    result = event.activity_result.strip().lower()
    return not any(word in result for word in _FAILED_RESULTS)


def _from_event(event: AuditEvent, users: Mapping[str, User]) -> KnownIdentity | None:
    actor = event.actor
    upn = (actor.user_principal_name or "").strip()
    if upn or actor.user_id:
        user = users.get(upn.lower())
        user_id = actor.user_id or (user.id if user else "") or upn
        name = user.display_name if user and user.display_name else upn
        identity = IdentitySet(user=Identity(user_id, name))
    elif actor.application_id:
        name = actor.application_display_name or actor.service_principal_name or ""
        identity = IdentitySet(application=Identity(actor.application_id, name))
    else:
        return None
    return KnownIdentity(identity, AUDIT_LOG, event.id)
