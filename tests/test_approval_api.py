"""``maa_guard.approval`` end to end against the emulator, in both approval modes (403 and 412).

Real HTTP, the real msgraph-core / httpx stack; a delegated approver acts through the emulator's
approve and reject actions, as a person in the admin center would.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_approval_support import (
    APP_URL,
    MODES,
    REQUESTS,
    Clock,
    app_name,
    client_for,
    decide,
    graph,
    rows,
    running,
    service_requests,
    writes_sent,
)

from maa_guard import approval
from maa_guard.approval import (
    ApprovalClient,
    Completed,
    DuplicateRequest,
    NotApproved,
    Pending,
    Phase,
    RequestNotFound,
    RequestStatus,
    StateError,
    StateStore,
    UnknownChange,
    Verdict,
    WriteRefused,
    WriteRequest,
)
from maa_guard.approval.transport import write_http_client
from maa_guard.emulator import Emulator

PATCH = WriteRequest("PATCH", APP_URL, {"displayName": "CP 2", "notes": "ünïcode"})
SENT_URL = "/beta" + APP_URL


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(mode: str, clock: Clock) -> Iterator[Emulator]:
    with running(mode, clock) as started:
        yield started


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def sent_bodies() -> list[tuple[str, bytes]]:
    return []


@pytest.fixture
def client(
    emulator: Emulator, state_path: Path, sent_bodies: list[tuple[str, bytes]]
) -> Iterator[ApprovalClient]:
    """The bodies that left the process are recorded by an httpx event hook on the real client."""
    http = write_http_client()

    async def record(request: httpx.Request) -> None:
        sent_bodies.append((request.method, request.content))

    http.event_hooks["request"].append(record)
    with StateStore(state_path) as state, client_for(emulator, state, http=http) as opened:
        yield opened


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _pending(client: ApprovalClient, justification: str = "CHG-1 rename the portal") -> Pending:
    outcome = client.submit(PATCH, justification, label="rename")
    assert isinstance(outcome, Pending)
    return outcome


# ---- the lifecycle ---------------------------------------------------------------------------


def test_full_lifecycle_submit_wait_complete(
    client: ApprovalClient,
    emulator: Emulator,
    state_path: Path,
    sent_bodies: list[tuple[str, bytes]],
) -> None:
    pending = _pending(client)
    sent_text = f"CHG-1 rename the portal [maa-guard ref {pending.change_id}]"
    assert pending.state is not None
    assert pending.state.code == pending.code
    assert pending.state.status is RequestStatus.NEEDS_APPROVAL
    assert pending.state.justification == sent_text
    assert pending.state.requestor == approval.Identity("application", "auto-app", "Automation")
    [row] = rows(state_path)
    assert (row["phase"], row["code"], row["label"]) == ("pending", pending.code, "rename")
    assert row["body"] == PATCH.content == '{"displayName":"CP 2","notes":"ünïcode"}'.encode()

    with pytest.raises(NotApproved) as early:
        client.complete(pending.code)
    assert early.value.exit_code == 1
    assert len(writes_sent(emulator)) == 1  # nothing was sent

    assert decide(emulator, pending.code) == 200
    approved = client.wait(pending.code, timeout=0)
    assert approved.status is RequestStatus.APPROVED
    assert approved.approver == approval.Identity("user", "approver", "Abe")
    assert approved.approval_notes == "ok"

    done = client.complete(pending.code)
    assert done == Completed(
        204, None, True, pending.code, "the approved change was applied (HTTP 204)"
    )
    assert app_name(emulator) == "CP 2"
    assert [r["status"] for r in service_requests(emulator)] == ["completed"]
    assert writes_sent(emulator) == [
        ("PATCH", SENT_URL, _b64(sent_text), None),
        ("PATCH", SENT_URL, None, pending.code),
    ]
    assert sent_bodies == [("PATCH", PATCH.content), ("PATCH", PATCH.content)]
    [row] = rows(state_path)
    assert (row["phase"], row["status"]) == ("completed", "completed")
    again = client.complete(pending.code)
    assert (again.status_code, again.approval_happened) == (0, True)
    assert len(writes_sent(emulator)) == 2  # already completed: nothing sent


def test_rejection(client: ApprovalClient, emulator: Emulator, state_path: Path) -> None:
    pending = _pending(client)
    assert decide(emulator, pending.code, "reject") == 200
    state = client.wait(pending.code, timeout=60)
    assert state.status is RequestStatus.REJECTED
    with pytest.raises(NotApproved) as refused:
        client.complete(pending.code)
    assert refused.value.message == (
        f"request {pending.code} is rejected, not approved; nothing was sent"
    )
    assert [(r["phase"], r["status"]) for r in rows(state_path)] == [("closed", "rejected")]
    assert app_name(emulator) == "Company Portal"


def test_expiry(client: ApprovalClient, emulator: Emulator, clock: Clock, state_path: Path) -> None:
    pending = _pending(client)
    clock.moment += timedelta(hours=72)
    assert client.status(pending.code).status is RequestStatus.EXPIRED
    with pytest.raises(NotApproved):
        client.complete(pending.code)
    assert [(r["phase"], r["status"]) for r in rows(state_path)] == [("closed", "expired")]
    assert len(writes_sent(emulator)) == 1


def test_cancellation_through_collection_bound_cancel_my_request(
    client: ApprovalClient, emulator: Emulator, state_path: Path
) -> None:
    pending = _pending(client)
    state = client.cancel(pending.code)
    assert state.status is RequestStatus.CANCELLED
    assert writes_sent(emulator)[-1] == ("POST", f"{REQUESTS}/cancelMyRequest", None, None)
    assert [(r["phase"], r["status"]) for r in rows(state_path)] == [("closed", "cancelled")]
    with pytest.raises(WriteRefused) as again:
        client.cancel(pending.code)
    assert again.value.classification.status == 400
    assert again.value.message == (
        f"the service refused to cancel {pending.code} (HTTP 400 BadRequest): "
        "The request is cancelled, not pending."
    )
    with pytest.raises(NotApproved):
        client.complete(pending.code)


# ---- refusals --------------------------------------------------------------------------------


def test_duplicate_pending_request_filed_by_this_state_file_is_shown(
    client: ApprovalClient, emulator: Emulator, state_path: Path
) -> None:
    first = _pending(client)
    with pytest.raises(DuplicateRequest) as duplicate:
        client.submit(WriteRequest("PATCH", APP_URL, {"displayName": "other"}), "CHG-2 again")
    match = duplicate.value.match
    assert (duplicate.value.exit_code, duplicate.value.classification.verdict) == (
        1,
        Verdict.DUPLICATE,
    )
    assert match.request is not None and match.request.code == first.code
    assert match.how == f"this state file filed it (change {first.change_id})"
    assert duplicate.value.message.endswith(
        f"it is held by request {first.code} (needsApproval; {match.how})"
    )
    assert [(r["phase"], r["code"]) for r in rows(state_path)] == [
        ("pending", first.code),
        ("refused", None),
    ]
    assert len(service_requests(emulator)) == 1


def test_duplicate_filed_by_someone_else_is_found_by_payload_id(
    client: ApprovalClient, emulator: Emulator
) -> None:
    filed = graph(
        emulator, "PATCH", "/beta" + APP_URL, "requester", {"displayName": "Rita's"}
    )  # no justification: 400, nothing filed
    assert filed.status_code == 400
    with httpx.Client() as http:
        response = http.patch(
            f"{emulator.url}/beta{APP_URL}",
            json={"displayName": "Rita's"},
            headers={
                "Authorization": "Bearer requester",
                "x-msft-approval-justification": _b64("portal work"),
            },
        )
    code = response.headers["x-msft-approval-code"]
    with pytest.raises(DuplicateRequest) as duplicate:
        client.submit(PATCH, "CHG-3")
    match = duplicate.value.match
    assert match.request is not None
    assert (match.request.code, match.how) == (code, "its payloadId is m1")
    assert match.request.requestor == approval.Identity("user", "requester", "Rita")


def test_duplicate_that_cannot_be_identified_says_so(
    client: ApprovalClient, emulator: Emulator
) -> None:
    create = WriteRequest("POST", "/deviceManagement/deviceManagementScripts", {"fileName": "a"})
    first = client.submit(create, "CHG-4 new script")
    assert isinstance(first, Pending)
    other = StateStore(Path(client.state.path).with_name("other.db"))
    with other, client_for(emulator, other) as second, pytest.raises(DuplicateRequest) as dup:
        second.submit(create, "CHG-4 from another state file")
    match = dup.value.match
    assert match.request is None
    assert [c.code for c in match.candidates] == [first.code]
    assert dup.value.message.endswith(
        "the service does not say which request holds it; 1 active request might"
    )


def test_resubmission_with_a_changed_body_is_refused_and_classified(
    client: ApprovalClient, emulator: Emulator, state_path: Path
) -> None:
    pending = _pending(client)
    assert decide(emulator, pending.code) == 200
    altered = b'{"displayName":"something else"}'
    from maa_guard.approval.write import body_digest

    with sqlite3.connect(state_path) as db:  # someone rewrites the stored write, digest too
        db.execute("UPDATE changes SET body = ?, body_digest = ?", (altered, body_digest(altered)))
    with pytest.raises(WriteRefused) as refused:
        client.complete(pending.code)
    verdict = refused.value.classification
    assert (verdict.verdict, verdict.status, verdict.message) == (
        Verdict.MISMATCH,
        403,
        "An error has occurred",
    )
    assert refused.value.exit_code == 1
    assert app_name(emulator) == "Company Portal"
    assert [(r["phase"], r["status"]) for r in rows(state_path)] == [("pending", "approved")]


def test_a_body_that_no_longer_matches_its_digest_is_not_sent(
    client: ApprovalClient, emulator: Emulator, state_path: Path
) -> None:
    pending = _pending(client)
    assert decide(emulator, pending.code) == 200
    with sqlite3.connect(state_path) as db:
        db.execute("UPDATE changes SET body = ?", (b'{"displayName":"x"}',))
    with pytest.raises(StateError) as damaged:
        client.complete(pending.code)
    assert damaged.value.exit_code == 2
    assert len(writes_sent(emulator)) == 1


def test_completion_by_another_identity_is_refused(
    client: ApprovalClient, emulator: Emulator, state_path: Path
) -> None:
    pending = _pending(client)
    assert decide(emulator, pending.code) == 200
    impostor = client_for(emulator, client.state, token="other-app")
    with impostor, pytest.raises(WriteRefused) as refused:
        impostor.complete(pending.code)
    assert refused.value.classification.verdict is Verdict.MISMATCH
    assert client.complete(pending.code).approval_happened is True


def test_an_application_cannot_approve_and_the_api_offers_no_way_to(
    client: ApprovalClient, emulator: Emulator
) -> None:
    pending = _pending(client)
    for verb in ("approve", "reject"):
        assert decide(emulator, pending.code, verb, token="automation") == 403
    assert client.status(pending.code).status is RequestStatus.NEEDS_APPROVAL
    offered = {name.lower() for name in (*dir(approval), *dir(ApprovalClient))}
    assert not {n for n in offered if n.startswith(("approve", "reject", "decide"))}


# ---- no approval -----------------------------------------------------------------------------


def test_excluded_app_write_goes_through_without_approval_and_says_so(
    emulator: Emulator, state_path: Path
) -> None:
    with StateStore(state_path) as state, client_for(emulator, state, token="excluded") as c:
        outcome = c.submit(PATCH, "CHG-5 automation run")
    assert isinstance(outcome, Completed)
    assert (outcome.status_code, outcome.approval_happened, outcome.code) == (204, False, None)
    assert outcome.message.startswith("applied WITHOUT approval (HTTP 204): no access policy")
    assert "this application is excluded" in outcome.message
    assert app_name(emulator) == "CP 2"
    assert service_requests(emulator) == []
    assert [(r["phase"], r["code"]) for r in rows(state_path)] == [("applied", None)]


def test_unprotected_target_is_applied_and_its_body_returned(client: ApprovalClient) -> None:
    create = WriteRequest("POST", "/deviceManagement/deviceCategories", {"displayName": "K"})
    outcome = client.submit(create, "CHG-6")
    assert isinstance(outcome, Completed)
    assert (outcome.status_code, outcome.approval_happened) == (201, False)
    assert outcome.body["displayName"] == "K"


# ---- following -------------------------------------------------------------------------------


def test_wait_polls_with_backoff_until_approved(emulator: Emulator, state_path: Path) -> None:
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:  # time passes; on the second pause a person approves
        slept.append(seconds)
        clock[0] += seconds
        if len(slept) == 2:
            assert decide(emulator, pending.code) == 200

    with (
        StateStore(state_path) as state,
        client_for(emulator, state, sleep=sleep, monotonic=lambda: clock[0]) as polling,
    ):
        pending = _pending(polling)
        assert polling.wait(pending.code, timeout=600).status is RequestStatus.APPROVED
    assert slept == [2.0, 3.0]


def test_wait_times_out_with_the_last_state(emulator: Emulator, state_path: Path) -> None:
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    with (
        StateStore(state_path) as state,
        client_for(emulator, state, sleep=sleep, monotonic=lambda: clock[0]) as polling,
    ):
        pending = _pending(polling)
        state_read = polling.wait(pending.code, timeout=6)
    assert state_read.status is RequestStatus.NEEDS_APPROVAL
    assert slept == [2.0, 3.0, 1.0]


def test_unknown_codes(client: ApprovalClient) -> None:
    unknown = "aabb1234-5678-9012-abcd-ef0123456789"
    with pytest.raises(RequestNotFound) as missing:
        client.status(unknown)
    assert (missing.value.exit_code, missing.value.message) == (
        2,
        f"the service has no approval request {unknown}",
    )
    with pytest.raises(UnknownChange) as untracked:
        client.complete(unknown)
    assert untracked.value.exit_code == 2


def test_a_change_is_completed_only_against_the_endpoint_it_was_sent_to(
    client: ApprovalClient, mode: str, clock: Clock
) -> None:
    pending = _pending(client)
    with running(mode, clock) as elsewhere:
        other = client_for(elsewhere, client.state)
        with other, pytest.raises(UnknownChange) as wrong:
            other.complete(pending.code)
    assert wrong.value.message == (
        f"change {pending.change_id} was sent to {client.endpoint.root}, not {other.endpoint.root}"
    )


def test_tracked_lists_every_change(client: ApprovalClient) -> None:
    outcome = client.submit(PATCH, "CHG-1", label="rename", origin="sha256:draft")
    assert isinstance(outcome, Pending)
    pending = outcome
    [tracked] = client.tracked()
    expected: dict[str, Any] = {
        "change_id": pending.change_id,
        "method": "PATCH",
        "url": SENT_URL,
        "label": "rename",
        "origin": "sha256:draft",
        "phase": Phase.PENDING,
        "code": pending.code,
        "status": RequestStatus.NEEDS_APPROVAL,
    }
    assert {key: getattr(tracked, key) for key in expected} == expected
