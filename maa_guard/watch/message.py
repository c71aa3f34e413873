"""What every notification says, before any channel renders it.

A Message holds our own wording (title, labels, next step) apart from tenant strings (fact
values), so each channel knows exactly which text to make inert. The deep link is built from
``[watch] portal_link``; ``{request_id}`` in it is replaced by the URL-quoted request id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from maa_guard.snapshot.codec import format_datetime
from maa_guard.watch.model import Event, EventType, RequestState

ADMIN_CENTER = "Open in the Intune admin center"


@dataclass(frozen=True, slots=True)
class Fact:
    """``label`` is ours; ``value`` may come from the tenant and is hostile."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Message:
    event: Event
    title: str
    facts: tuple[Fact, ...]
    next_step: str
    link: str
    idempotency_key: str
    attempt: int = 1


def idempotency_key(event_key: str, receiver: str) -> str:
    """The same (event, receiver) always gets the same key, across retries and restarts."""
    digest = hashlib.sha256(f"{event_key}\n{receiver}".encode()).hexdigest()
    return f"maa-guard-{digest[:32]}"


def build_message(event: Event, receiver: str, portal_link: str, attempt: int = 1) -> Message:
    title, facts, next_step = _CONTENT[event.type](event)
    request_id = event.request.id if event.request else ""
    return Message(
        event=event,
        title=title,
        facts=tuple(facts),
        next_step=next_step,
        link=portal_link.replace("{request_id}", quote(request_id, safe="")),
        idempotency_key=idempotency_key(event.key, receiver),
        attempt=attempt,
    )


def when(moment: datetime | None) -> str:
    return format_datetime(moment) if moment is not None else "unknown"


# ---- requests --------------------------------------------------------------------------------

_REQUEST_TITLES = {
    EventType.REQUEST_NEEDS_APPROVAL: "MAA approval needed",
    EventType.REQUEST_EXPIRING: "MAA request expires soon",
    EventType.REQUEST_APPROVED: "MAA request approved: complete it",
    EventType.REQUEST_REJECTED: "MAA request rejected",
    EventType.REQUEST_CANCELLED: "MAA request cancelled",
    EventType.REQUEST_EXPIRED: "MAA request expired",
}
_DECIDE = (
    "An approver approves or rejects it in the Intune admin center: Tenant administration > "
    "Multi Admin Approval > All requests."
)
_CLOSED = "Nothing to complete; file a new request if the change is still needed."


def _request_content(event: Event) -> tuple[str, list[Fact], str]:
    request = event.request or RequestState(id="", status="unknown")
    facts = [
        Fact("Request", request.id),
        Fact("Protected area", ", ".join(request.policy_types) or "unknown"),
        Fact("Requested by", _requestor(request)),
        Fact("Justification", request.justification or "(none given)"),
        Fact("Requested", when(request.requested_at)),
        Fact("Expires", when(request.expires_at)),
        Fact("Status", request.status),
    ]
    if request.approver_name or request.approver_notes:
        facts.append(Fact("Approver", request.approver_name or "unknown"))
        facts.append(Fact("Approver notes", request.approver_notes or "(none given)"))
    return _REQUEST_TITLES[event.type], facts, _request_next_step(event.type, request)


def _requestor(request: RequestState) -> str:
    name = request.requestor_name or "unknown"
    kind = request.requestor_kind or "principal"
    return f"{name} ({kind} {request.requestor_id or 'unknown'})"


def _request_next_step(kind: EventType, request: RequestState) -> str:
    if kind is EventType.REQUEST_APPROVED:
        return (
            f"The requestor completes it: run `maa-guard requests complete {request.id}` "
            "(or resend the same call with the x-msft-approval-code header) before it expires."
        )
    if kind in (EventType.REQUEST_NEEDS_APPROVAL, EventType.REQUEST_EXPIRING):
        return _DECIDE
    return _CLOSED


# ---- changes ---------------------------------------------------------------------------------


def _exclusion_content(event: Event) -> tuple[str, list[Fact], str]:
    change = event.exclusion
    assert change is not None
    verb = change.verb.value
    facts = [
        Fact("Policy", _named(change.policy_name, change.policy_id)),
        Fact("Application", _named(change.app_name, change.app_id)),
        Fact("Changed by", change.actor or "unknown (seen in the policy, not the audit log)"),
        Fact("Justification", "(see the approval request of the policy change)"),
        Fact("Seen", f"{when(change.at)} ({change.source.value})"),
    ]
    step = (
        "Check that the change was approved and is expected; app-only calls by an excluded "
        "app skip MAA approval for this policy."
    )
    return f"MAA exclusion {verb}", facts, step


def _membership_content(event: Event) -> tuple[str, list[Fact], str]:
    change = event.membership
    assert change is not None
    facts = [
        Fact("Approver group", _named(change.group_name, change.group_id)),
        Fact("Policies", ", ".join(change.policy_names) or "none"),
        Fact("Added", ", ".join(_named(p.display_name, p.id) for p in change.added) or "none"),
        Fact("Removed", ", ".join(_named(p.display_name, p.id) for p in change.removed) or "none"),
    ]
    step = "Check that the change is expected: members of this group approve MAA requests."
    return "MAA approver group changed", facts, step


def _finding_content(event: Event) -> tuple[str, list[Fact], str]:
    finding = event.finding
    assert finding is not None
    facts = [
        Fact("Rule", f"{finding.rule_id} {finding.title}"),
        Fact("Severity", finding.severity.label),
        Fact("Resource", _named(finding.resource_name, finding.resource_id)),
        Fact("Finding", finding.message),
    ]
    step = f"Run `maa-guard rules show {finding.rule_id}` for how to fix it."
    return f"New {finding.severity.label} maa-guard finding", facts, step


def _named(name: str, identifier: str) -> str:
    return f"{name} ({identifier})" if name and name != identifier else identifier or "unknown"


_CONTENT: dict[EventType, Callable[[Event], tuple[str, list[Fact], str]]] = {
    **dict.fromkeys(_REQUEST_TITLES, _request_content),
    EventType.EXCLUSION_ADDED: _exclusion_content,
    EventType.EXCLUSION_REMOVED: _exclusion_content,
    EventType.APPROVERS_CHANGED: _membership_content,
    EventType.FINDING_NEW: _finding_content,
}
