"""How an MAA write can end other than applied or pending; each carries its exit code.

- exit 1 (``WriteRefused``, ``NotApproved``): the service answered, and not with what was asked
  (a duplicate, a refusal, a request that was rejected, cancelled or expired).
- exit 2 (``UsageError`` / ``InputError`` subclasses): bad input, found before anything is sent
  or written: a justification, a code, a URL, a body, the state file, an unknown code, a write
  that acts on approvals.
- exit 3 (``OutcomeUnknown``): no usable answer, and the request list could not settle it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maa_guard.errors import (
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    InputError,
    MaaGuardError,
    UsageError,
)

if TYPE_CHECKING:
    from maa_guard.approval.classify import Classification
    from maa_guard.approval.model import DuplicateMatch, RequestState

NEVER_APPROVES = "maa-guard never approves, rejects or cancels approvals; use the admin center"
NEVER_APPROVES_HINT = (
    "an approver decides in the Intune admin center (Tenant administration > Multi Admin "
    "Approval); to withdraw your own request: maa-guard requests cancel CODE"
)


class JustificationError(UsageError):
    """Empty, or longer than MAA accepts; raised before anything is sent or written."""


class CodeError(UsageError):
    """An approval code that is not a GUID."""


class ApprovalActionRefused(UsageError):
    """A write that would approve, reject or cancel an MAA approval (or otherwise write to
    approval requests): maa-guard never sends one; only ``cancelMyRequest`` through
    ``requests cancel``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, NEVER_APPROVES_HINT)


class StateError(InputError):
    """A state file that is not maa-guard's, is damaged, or is newer than this maa-guard."""


class UnknownChange(InputError):
    """A code or change id this state file does not hold (or holds for another endpoint)."""


class RequestNotFound(InputError):
    """The service has no approval request with this code."""


class WriteRefused(MaaGuardError):
    """The service answered the write with a refusal; nothing was filed or applied."""

    exit_code = EXIT_FINDINGS

    def __init__(
        self, message: str, hint: str, classification: Classification, change_id: str | None
    ) -> None:
        super().__init__(message, hint)
        self.classification = classification
        self.change_id = change_id


class DuplicateRequest(WriteRefused):
    """HTTP 409: a request for the same object is already pending; ``match`` says which."""

    def __init__(
        self,
        message: str,
        hint: str,
        classification: Classification,
        change_id: str | None,
        match: DuplicateMatch,
    ) -> None:
        super().__init__(message, hint, classification, change_id)
        self.match = match


class NotApproved(MaaGuardError):
    """``complete`` on a request that is not ``approved``: nothing was sent."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str, hint: str, state: RequestState) -> None:
        super().__init__(message, hint)
        self.state = state


class OutcomeUnknown(MaaGuardError):
    """No usable answer (5xx, timeout, connection error) and no request found to explain it."""

    exit_code = EXIT_INCOMPLETE

    def __init__(self, message: str, hint: str, change_id: str | None) -> None:
        super().__init__(message, hint)
        self.change_id = change_id
