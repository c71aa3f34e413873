"""Settling what a crash or a lost answer left open, from the service's request list.

- A row in ``sending`` or ``unknown`` without a code: the one request for the same object and
  operation (``payloadId`` and ``payloadOperation``, when the service reports them), else the
  request whose justification carries the row's reference, gives the code. None found: a
  ``sending`` row is left alone while it may still be in flight in another command (younger
  than the write timeout plus a minute), then becomes ``unknown``.
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
from maa_guard.approval.justification import reference_in
from maa_guard.approval.match import entity_id, find_by_reference, find_duplicate
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
# payloadOperation by HTTP method; a POST to an object's action path is an action.
_OPERATIONS = {"PATCH": "update", "PUT": "update", "DELETE": "delete"}
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
    found, how = _filed_request(client, row, requests)
    if found is not None:
        return client.record(
            tracked.change_id,
            only=(Phase.SENDING, Phase.UNKNOWN),
            without_code=True,
            phase=_PHASE_OF.get(found.status, Phase.PENDING),
            code=found.code,
            status=found.status,
            outcome=f"code recovered from the request list {how}",
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


def _filed_request(
    client: ClientSession, row: StoredChange, requests: Sequence[RequestState]
) -> tuple[RequestState | None, str]:
    """The request a row without a code filed, and how it was recognised."""
    found = find_by_payload(client, row, requests)
    if found is not None:
        return found, f"by its object and operation ({found.payload_operation} {found.payload_id})"
    change_id = row.tracked.change_id
    return find_by_reference(requests, change_id, row.requestor), f"by reference {change_id}"


def find_by_payload(
    client: ClientSession, row: StoredChange, requests: Sequence[RequestState]
) -> RequestState | None:
    """The one active request whose ``payloadId`` is the write's target and whose
    ``payloadOperation`` is its operation, filed by this caller, with this change's
    justification (or none shown, or a shortened one) and not holding another tracked change's
    code. MAA keeps one active request per object, so a match is this write's request unless
    another client of the same identity filed one for the object. None when there is no such
    request or several, and for a create (no object yet): the reference then decides."""
    tracked = row.tracked
    target, operations = entity_id(tracked.url).lower(), payload_operations(tracked)
    if not target or not operations:
        return None
    found = [
        request
        for request in requests
        if request.status.active
        and request.payload_id.lower() == target
        and request.payload_operation.lower() in operations
        and _same_justification(request.justification, row)
        and _filed_by(request, row.requestor)
        and not _held_by_another(client, request.code, tracked.change_id)
    ]
    return found[0] if len(found) == 1 else None


def payload_operations(tracked: TrackedChange) -> frozenset[str]:
    """The ``payloadOperation`` values (lower case) a write can be filed as."""
    if tracked.method.upper() != "POST":
        operation = _OPERATIONS.get(tracked.method.upper())
        return frozenset({operation}) if operation else frozenset()
    segments = [s for s in tracked.url.split("?", 1)[0].split("/") if s]
    if segments and segments[0] in ("beta", "v1.0"):
        segments = segments[1:]
    # POST .../{id}/wipe: an action (some answers name it: Assign, Wipe)
    return frozenset({"action", segments[3].lower()}) if len(segments) >= 4 else frozenset()


def _same_justification(shown: str, row: StoredChange) -> bool:
    """The text this change sent (it carries the change's reference), a beginning of it, or
    nothing: a text with another reference or other words is another write's request."""
    text = shown.strip()
    if reference_in(text) is not None:
        return reference_in(text) == row.tracked.change_id
    return row.justification.startswith(text)


def _filed_by(request: RequestState, requestor: str) -> bool:
    if not requestor or request.requestor is None:
        return True
    return request.requestor.id.lower() == requestor.lower()


def _held_by_another(client: ClientSession, code: str, change_id: str) -> bool:
    stored = client.state.by_code(code)
    return stored is not None and stored.tracked.change_id != change_id


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
