"""The values of the MAA write protocol: request states, outcomes and tracked changes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class RequestStatus(enum.Enum):
    """Graph's ``operationApprovalRequestStatus`` enum; anything else reads as ``unknown``."""

    NEEDS_APPROVAL = "needsApproval"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> RequestStatus:
        for status in cls:
            if isinstance(value, str) and value.lower() == status.value.lower():
                return status
        return cls.UNKNOWN

    @property
    def active(self) -> bool:
        """Still waiting for a decision or for the approved change to be sent."""
        return self in (RequestStatus.NEEDS_APPROVAL, RequestStatus.APPROVED)

    @property
    def final(self) -> bool:
        """No later status can follow."""
        return self in _FINAL


_FINAL = frozenset(
    {
        RequestStatus.REJECTED,
        RequestStatus.CANCELLED,
        RequestStatus.COMPLETED,
        RequestStatus.EXPIRED,
    }
)


class Phase(enum.Enum):
    """Where a tracked change is in the protocol (the state file's ``phase`` column)."""

    SENDING = "sending"  # committed before the first send; outcome not yet recorded
    PENDING = "pending"  # approval code known; waiting for approval, then completion
    COMPLETING = "completing"  # resent with the code; outcome not yet recorded
    APPLIED = "applied"  # applied on the first send: no approval happened
    COMPLETED = "completed"  # applied with the approval code
    CLOSED = "closed"  # rejected, cancelled or expired: never applied
    REFUSED = "refused"  # the service refused the first send; nothing was filed
    UNKNOWN = "unknown"  # no answer, and no approval request found for it


@dataclass(frozen=True, slots=True)
class Identity:
    """One side of an ``identitySet``: ``kind`` is ``user``, ``application`` or ``device``."""

    kind: str
    id: str
    display_name: str = ""

    def describe(self) -> str:
        name = self.display_name or self.id
        return f"{name} ({self.kind})" if name else self.kind


@dataclass(frozen=True, slots=True)
class RequestState:
    """An ``operationApprovalRequest`` as the service reports it; ``code`` is its id."""

    code: str
    status: RequestStatus
    requestor: Identity | None = None
    approver: Identity | None = None
    approval_notes: str = ""
    justification: str = ""
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    last_modified: datetime | None = None
    policy_types: tuple[str, ...] = ()
    # ``payload*``, undocumented but seen in live answers: the object the request is for
    # (``payloadId``), its type, subtype and name, and the operation (Create, Update, Delete,
    # Action, ...).
    payload_id: str = ""
    payload_type: str = ""
    payload_subtype: str = ""
    payload_operation: str = ""
    payload_name: str = ""


@dataclass(frozen=True, slots=True)
class Completed:
    """The write was applied. ``approval_happened`` is False when it went through on the first
    send: no access policy protects the target, or the calling application is excluded."""

    status_code: int
    body: Any
    approval_happened: bool
    code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Pending:
    """MAA filed an approval request: wait for ``code`` to be approved, then complete it."""

    code: str
    change_id: str
    state: RequestState | None


@dataclass(frozen=True, slots=True)
class TrackedChange:
    """One row of the state file: a write this state file sent, and what became of it."""

    change_id: str
    created: datetime
    updated: datetime
    method: str
    url: str
    label: str
    origin: str | None
    phase: Phase
    code: str | None
    status: RequestStatus | None
    endpoint: str
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """Which request holds the object a 409 refused. ``request`` is None when the service's
    list does not say; ``candidates`` then lists the active requests that might."""

    request: RequestState | None
    how: str
    candidates: tuple[RequestState, ...] = ()
    change_id: str | None = None

    @property
    def identified(self) -> bool:
        return self.request is not None
