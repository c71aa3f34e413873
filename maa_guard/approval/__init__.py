"""MAA-aware writes: submit with a justification, wait for approval, complete with the code.

Above the pipeline: imports ``collect`` (Graph transport), ``reporters`` (text), ``snapshot``
(codec) and ``storage``; never ``scan``, ``cli`` or the emulator.

The four steps Microsoft documents for an application writing to an MAA-protected resource::

    from maa_guard import approval

    write = approval.WriteRequest("POST", "/deviceManagement/deviceManagementScripts", script)
    outcome = approval.submit(write, "CHG-1234: deploy the cleanup script")
    if isinstance(outcome, approval.Pending):            # MAA filed an approval request
        state = approval.wait(outcome.code, timeout=3600)  # a person approves it in Intune
        if state.status is approval.RequestStatus.APPROVED:
            done = approval.complete(outcome.code)         # same write, x-msft-approval-code
    elif not outcome.approval_happened:                   # applied at once: not protected,
        ...                                               # or this application is excluded

This package is the only code in maa-guard that sends writes, and it never approves, rejects
or cancels an approval: such a write raises :class:`ApprovalActionRefused` (exit 2). Every
change is recorded in a SQLite state file before it is sent, and its approval code before
anyone is told; a write is never resent blindly. ``docs/approval.md`` describes the commands,
exit codes, the state file and reconciliation.

Importing this package has no side effects and does not import the Graph stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maa_guard.approval.classify import Classification, Verdict, classify
from maa_guard.approval.errors import (
    ApprovalActionRefused,
    CodeError,
    DuplicateRequest,
    JustificationError,
    NotApproved,
    OutcomeUnknown,
    RequestNotFound,
    StateError,
    UnknownChange,
    WriteRefused,
)
from maa_guard.approval.justification import (
    MAX_JUSTIFICATION,
    REFERENCE_LENGTH,
    check_justification,
    checked_code,
    encode_justification,
)
from maa_guard.approval.model import (
    Completed,
    DuplicateMatch,
    Identity,
    Pending,
    Phase,
    RequestState,
    RequestStatus,
    TrackedChange,
)
from maa_guard.approval.state import StateStore, default_state_path
from maa_guard.approval.write import WriteRequest
from maa_guard.errors import MaaGuardError

if TYPE_CHECKING:
    from maa_guard.approval.client import ApprovalClient, Backoff
    from maa_guard.approval.default import cancel, complete, connect, status, submit, wait

_LAZY = {
    "ApprovalClient": "maa_guard.approval.client",
    "Backoff": "maa_guard.approval.client",
    "connect": "maa_guard.approval.default",
    "submit": "maa_guard.approval.default",
    "status": "maa_guard.approval.default",
    "wait": "maa_guard.approval.default",
    "complete": "maa_guard.approval.default",
    "cancel": "maa_guard.approval.default",
}


def __getattr__(name: str) -> Any:
    """The client and the one-call functions import the Graph stack only when first used."""
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'maa_guard.approval' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "MAX_JUSTIFICATION",
    "REFERENCE_LENGTH",
    "ApprovalActionRefused",
    "ApprovalClient",
    "Backoff",
    "Classification",
    "CodeError",
    "Completed",
    "DuplicateMatch",
    "DuplicateRequest",
    "Identity",
    "JustificationError",
    "MaaGuardError",
    "NotApproved",
    "OutcomeUnknown",
    "Pending",
    "Phase",
    "RequestNotFound",
    "RequestState",
    "RequestStatus",
    "StateError",
    "StateStore",
    "TrackedChange",
    "UnknownChange",
    "Verdict",
    "WriteRefused",
    "WriteRequest",
    "cancel",
    "check_justification",
    "checked_code",
    "classify",
    "complete",
    "connect",
    "default_state_path",
    "encode_justification",
    "status",
    "submit",
    "wait",
]
