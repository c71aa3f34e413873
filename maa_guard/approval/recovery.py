"""Settling what a crash or a lost answer left open, from the service's request list.

- A row in ``sending`` or ``unknown`` without a code: the request whose justification carries
  the row's reference gives the code. None found: a ``sending`` row is left alone while it may
  still be in flight in another command (younger than the write timeout plus a minute), then
  becomes ``unknown``.
- A row in ``completing``: ``completed`` on the service settles it; still ``approved`` once it is
  no longer in flight puts it back to ``pending`` (completing again is safe: a code works once).
- Any row with a code: its status is refreshed; rejected, cancelled and expired close it.

Updates are conditional on the phase read, so news another command recorded meanwhile wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from maa_guard.approval.classify import Classification
from maa_guard.approval.errors import OutcomeUnknown
from maa_guard.approval.match import find_by_reference, find_duplicate
from maa_guard.approval.model import (
    Completed,
    DuplicateMatch,
    Phase,
    RequestState,
    RequestStatus,
    TrackedChange,
)
from maa_guard.approval.remote import fetch_request, fetch_requests
from maa_guard.approval.state import StoredChange
from maa_guard.errors import MaaGuardError

if TYPE_CHECKING:
    from maa_guard.approval.session import ClientSession

IMPLICIT_PHASES = (Phase.SENDING, Phase.COMPLETING)
OPEN_PHASES = (Phase.SENDING, Phase.UNKNOWN, Phase.COMPLETING, Phase.PENDING)
IN_FLIGHT_MARGIN = 60.0
_PHASE_OF = {
    RequestStatus.REJECTED: Phase.CLOSED,
    RequestStatus.CANCELLED: Phase.CLOSED,
    RequestStatus.EXPIRED: Phase.CLOSED,
    RequestStatus.COMPLETED: Phase.COMPLETED,
}
_MOVABLE = (Phase.SENDING, Phase.UNKNOWN, Phase.PENDING, Phase.COMPLETING)
_RETRY_HINT = (
    "run 'maa-guard requests complete CODE' again: a code works once, so the change cannot be "
    "applied twice"
)


def recover_quietly(client: ClientSession) -> None:
    rows = _rows(client, IMPLICIT_PHASES)
    if not rows:
        return
    try:
        reconcile(client, IMPLICIT_PHASES)
    except MaaGuardError as error:
        client.warnings.append(
            f"{len(rows)} open change(s) could not be checked against the service "
            f"({error.message}); they stay as they are"
        )


def reconcile(client: ClientSession, phases: Sequence[Phase]) -> list[TrackedChange]:
    rows = _rows(client, phases)
    if not rows:
        return []
    requests = client.run(fetch_requests(client.graph))
    by_code = {request.code: request for request in requests}
    changed = [row for row in rows if _settle(client, row, requests, by_code)]
    fresh = (client.state.get(row.tracked.change_id) for row in changed)
    return [stored.tracked for stored in fresh if stored is not None]


def _rows(client: ClientSession, phases: Sequence[Phase]) -> list[StoredChange]:
    rows = client.state.changes(phases)
    return [row for row in rows if row.tracked.endpoint == client.endpoint.root]


def _settle(
    client: ClientSession,
    row: StoredChange,
    requests: Sequence[RequestState],
    by_code: dict[str, RequestState],
) -> bool:
    tracked = row.tracked
    if tracked.code is None:
        return _find_code(client, row, requests)
    state = by_code.get(tracked.code)
    if state is None:
        return False
    if tracked.phase is Phase.COMPLETING and state.status is RequestStatus.APPROVED:
        return _stale(client, tracked) and client.record(
            tracked.change_id,
            only=(Phase.COMPLETING,),
            phase=Phase.PENDING,
            outcome="the resend with the code got no recorded answer; the request is still "
            "approved",
        )
    return apply_status(client, tracked, state)


def _find_code(client: ClientSession, row: StoredChange, requests: Sequence[RequestState]) -> bool:
    tracked = row.tracked
    found = find_by_reference(requests, tracked.change_id, row.requestor)
    if found is not None:
        return client.record(
            tracked.change_id,
            only=(Phase.SENDING, Phase.UNKNOWN),
            without_code=True,
            phase=_PHASE_OF.get(found.status, Phase.PENDING),
            code=found.code,
            status=found.status,
            outcome=f"code recovered from the request list by reference {tracked.change_id}",
        )
    if tracked.phase is not Phase.SENDING or not _stale(client, tracked):
        return False
    return client.record(
        tracked.change_id,
        only=(Phase.SENDING,),
        phase=Phase.UNKNOWN,
        outcome="no answer was recorded and no approval request carries its reference: it was "
        "not sent, was refused, or was applied without approval",
    )


def _stale(client: ClientSession, tracked: TrackedChange) -> bool:
    age = (client.now() - tracked.updated).total_seconds()
    return age > client.request_timeout + IN_FLIGHT_MARGIN


def apply_status(client: ClientSession, tracked: TrackedChange, state: RequestState) -> bool:
    """Record the service's status; a final one moves the row to ``closed`` or ``completed``."""
    phase = _PHASE_OF.get(state.status)
    outcome = f"the service reports the request {state.status.value}"
    if phase is None or phase is tracked.phase:
        if tracked.status is state.status:
            return False
        return client.record(tracked.change_id, status=state.status, outcome=outcome)
    return client.record(
        tracked.change_id, only=_MOVABLE, phase=phase, status=state.status, outcome=outcome
    )


def note_status(client: ClientSession, state: RequestState) -> None:
    stored = client.state.by_code(state.code)
    if stored is not None:
        apply_status(client, stored.tracked, state)


def find_filed(client: ClientSession, change: StoredChange) -> RequestState | None:
    requests = client.run(fetch_requests(client.graph))
    return find_by_reference(requests, change.tracked.change_id, change.requestor)


def duplicate_holder(client: ClientSession, change: StoredChange) -> DuplicateMatch:
    try:
        requests = client.run(fetch_requests(client.graph))
    except MaaGuardError as error:
        return DuplicateMatch(None, f"the request list could not be read: {error.message}")
    local = [stored.tracked for stored in client.state.changes((Phase.PENDING,))]
    return find_duplicate(change.tracked.method, change.tracked.url, requests, local)


def settle_completion(
    client: ClientSession, stored: StoredChange, code: str, verdict: Classification
) -> Completed:
    """The resend with the code got no usable answer: the request's status decides."""
    change_id = stored.tracked.change_id
    try:
        state = client.run(fetch_request(client.graph, code))
    except MaaGuardError as error:
        raise OutcomeUnknown(
            f"{verdict.summary}; the request's status could not be read either: {error.message}",
            _RETRY_HINT,
            change_id,
        ) from None
    if state.status is RequestStatus.COMPLETED:
        client.record(change_id, phase=Phase.COMPLETED, status=state.status, outcome="completed")
        message = f"{verdict.summary}; the service reports request {code} completed"
        return Completed(0, None, True, code, message)
    client.record(change_id, phase=Phase.PENDING, status=state.status, outcome=verdict.summary)
    raise OutcomeUnknown(
        f"{verdict.summary}; request {code} is still {state.status.value}", _RETRY_HINT, change_id
    )


def settle_cancel(client: ClientSession, code: str, verdict: Classification) -> RequestState:
    state = client.status(code)
    if state.status is RequestStatus.CANCELLED:
        return state
    raise OutcomeUnknown(
        f"{verdict.summary}; request {code} is still {state.status.value}",
        "run 'maa-guard requests cancel CODE' again",
        None,
    )
