"""Finding requests in the service's list: a lost code by its reference, a 409's holder.

Pure functions over :class:`RequestState` values and the state file's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from maa_guard.approval.justification import reference_in
from maa_guard.approval.model import DuplicateMatch, Phase, RequestState, TrackedChange

MAX_CANDIDATES = 20


def find_by_reference(
    requests: Iterable[RequestState], reference: str, requestor_id: str = ""
) -> RequestState | None:
    """The request whose justification carries ``[maa-guard ref <reference>]``.

    When the caller's identity is known, a request filed by someone else is never taken, even
    with the right tag (someone could copy a justification)."""
    found = [r for r in requests if reference_in(r.justification) == reference]
    if requestor_id:
        found = [r for r in found if r.requestor is None or _same(r.requestor.id, requestor_id)]
    found.sort(key=lambda r: (r.requested_at is None, r.requested_at), reverse=True)
    return found[0] if found else None


def entity_id(path: str) -> str:
    """The object a write targets: ``/deviceAppManagement/mobileApps/{id}[/action]`` -> id;
    a POST to a collection targets no existing object (``""``)."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if segments and segments[0] in ("beta", "v1.0"):
        segments = segments[1:]
    return segments[2] if len(segments) >= 3 else ""


def find_duplicate(
    method: str,
    url: str,
    requests: Sequence[RequestState],
    local: Sequence[TrackedChange],
) -> DuplicateMatch:
    """Best effort, most certain first: a pending change of this state file for the same
    method and URL; then the one active request whose ``payloadId`` is the target's id."""
    active = [r for r in requests if r.status.active]
    mine = _local_holder(method, url, active, local)
    if mine is not None:
        return mine
    target = entity_id(url)
    same_object = [r for r in active if target and _same(r.payload_id, target)]
    if len(same_object) == 1:
        return DuplicateMatch(same_object[0], f"its payloadId is {target}")
    candidates = tuple((same_object or active)[:MAX_CANDIDATES])
    return DuplicateMatch(None, "", candidates)


def _local_holder(
    method: str, url: str, active: Sequence[RequestState], local: Sequence[TrackedChange]
) -> DuplicateMatch | None:
    by_code = {r.code: r for r in active}
    for change in sorted(local, key=lambda c: c.created, reverse=True):
        same_write = change.method == method and change.url.lower() == url.lower()
        if same_write and change.phase is Phase.PENDING and change.code in by_code:
            how = f"this state file filed it (change {change.change_id})"
            return DuplicateMatch(by_code[change.code], how, change_id=change.change_id)
    return None


def _same(value: str, expected: str) -> bool:
    return bool(expected) and value.lower() == expected.lower()
