"""Lost answers: a write is never resent blindly; the request list settles what happened.

Faults are the emulator's (``faults=``) or its ``after_filing`` hook, which acts after the
request was filed and before the reply leaves: a reply held past the client's timeout, a 5xx
instead of the 412/403, a reply with the code only in the nested message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_approval_support import (
    APP_URL,
    MODES,
    START,
    Clock,
    app_name,
    client_for,
    decide,
    hold_filed_replies,
    rows,
    running,
    service_requests,
    writes_sent,
)

from maa_guard.approval import (
    OutcomeUnknown,
    Pending,
    Phase,
    RequestStatus,
    StateStore,
    TrackedChange,
    WriteRequest,
)
from maa_guard.approval.state import StoredChange
from maa_guard.emulator import Emulator
from maa_guard.emulator.wire import Reply

PATCH = WriteRequest("PATCH", APP_URL, {"displayName": "CP 2"})
SENT = ("PATCH", "/beta" + APP_URL)


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


def _writes(emulator: Emulator) -> list[tuple[str, str]]:
    return [(method, path) for method, path, *_ in writes_sent(emulator)]


def _filed_code(emulator: Emulator) -> str:
    [request] = service_requests(emulator)
    return str(request["id"])


def test_timeout_after_filing_finds_the_code_by_reference(
    emulator: Emulator, tmp_path: Path
) -> None:
    release = threading.Event()

    def hold(code: str) -> None:
        release.wait(30)

    hold_filed_replies(emulator, hold)
    try:
        with (
            StateStore(tmp_path / "s.db") as state,
            client_for(emulator, state, request_timeout=0.5) as client,
        ):
            outcome = client.submit(PATCH, "CHG-1")
            warnings = list(client.warnings)
    finally:
        release.set()
    assert isinstance(outcome, Pending)
    assert outcome.code == _filed_code(emulator)
    assert warnings == [
        "no usable answer (timeout, HTTP None): the write may or may not have been filed or "
        f"applied; request {outcome.code} was found by its reference {outcome.change_id} in the "
        "service's list"
    ]
    assert _writes(emulator) == [SENT]  # never resent
    assert [(r["phase"], r["code"]) for r in rows(tmp_path / "s.db")] == [("pending", outcome.code)]


def test_5xx_after_filing_is_settled_from_the_request_list(
    emulator: Emulator, tmp_path: Path
) -> None:
    unavailable = Reply(503, {"error": {"code": "ServiceUnavailable", "message": "busy"}})
    hold_filed_replies(emulator, lambda code: unavailable)
    with StateStore(tmp_path / "s.db") as state, client_for(emulator, state) as client:
        outcome = client.submit(PATCH, "CHG-1")
    assert isinstance(outcome, Pending)
    assert outcome.code == _filed_code(emulator)
    assert _writes(emulator) == [SENT]


@pytest.mark.parametrize("status", [412, 403])
def test_code_only_in_the_message_is_found_without_the_header(
    emulator: Emulator, tmp_path: Path, status: int
) -> None:
    def headerless(code: str) -> Reply:
        text = f"Approval Required. ... x-msft-approval-code: {code}"
        headers = json.dumps({"x-msft-approval-code": code})
        inner = {"_version": 3, "Message": text, "HttpHeaders": headers}
        message = json.dumps(inner) if status == 412 else text
        code_name = "BadRequest" if status == 412 else "ApprovalRequired"
        return Reply(status, {"error": {"code": code_name, "message": message}})

    hold_filed_replies(emulator, headerless)
    with StateStore(tmp_path / "s.db") as state, client_for(emulator, state) as client:
        outcome = client.submit(PATCH, "CHG-1")
    reads = [r.path for r in emulator.requests if r.method == "GET"]
    assert isinstance(outcome, Pending)
    assert outcome.code == _filed_code(emulator)
    assert reads == [f"/beta/deviceManagement/operationApprovalRequests/{outcome.code}"]


def test_5xx_before_filing_is_an_unknown_outcome_and_nothing_is_resent(
    mode: str, clock: Clock, tmp_path: Path
) -> None:
    faults = {"script": {"deviceAppManagement/mobileApps": [503]}}
    with running(mode, clock, faults=faults) as emulator, StateStore(tmp_path / "s.db") as state:
        with client_for(emulator, state) as client, pytest.raises(OutcomeUnknown) as unknown:
            client.submit(PATCH, "CHG-1")
        assert _writes(emulator) == [SENT]
        assert service_requests(emulator) == []
    change_id = unknown.value.change_id
    assert unknown.value.exit_code == 3
    assert unknown.value.message == (
        "no usable answer (error, HTTP 503): the write may or may not have been filed or "
        f"applied; no approval request carries its reference {change_id}"
    )
    assert [(r["phase"], r["code"]) for r in rows(tmp_path / "s.db")] == [("unknown", None)]


def test_reset_connections_lose_no_code_and_apply_nothing_twice(
    mode: str, clock: Clock, tmp_path: Path
) -> None:
    """The submit's reply and the completion's reply are both lost (connection reset)."""
    faults = {"reset": {"deviceAppManagement/mobileApps": 2}}
    with running(mode, clock, faults=faults) as emulator, StateStore(tmp_path / "s.db") as state:
        with client_for(emulator, state) as client:
            pending = client.submit(PATCH, "CHG-1")
            assert isinstance(pending, Pending) and pending.code == _filed_code(emulator)
            assert decide(emulator, pending.code) == 200
            done = client.complete(pending.code)
        assert (done.status_code, done.approval_happened, done.code) == (0, True, pending.code)
        assert done.message.endswith(f"the service reports request {pending.code} completed")
        assert app_name(emulator) == "CP 2"
        assert _writes(emulator) == [SENT, SENT]
    assert [(r["phase"], r["status"]) for r in rows(tmp_path / "s.db")] == [
        ("completed", "completed")
    ]


def test_completion_lost_before_it_was_applied_can_be_completed_again(
    mode: str, clock: Clock, tmp_path: Path
) -> None:
    with running(mode, clock) as emulator, StateStore(tmp_path / "s.db") as state:
        with client_for(emulator, state) as client:
            pending = client.submit(PATCH, "CHG-1")
            assert isinstance(pending, Pending)
            assert decide(emulator, pending.code) == 200
            emulator.service.faults._script["deviceAppManagement/mobileApps"] = [503]
            with pytest.raises(OutcomeUnknown) as unknown:
                client.complete(pending.code)
            assert unknown.value.message.endswith(f"request {pending.code} is still approved")
            assert [r["phase"] for r in rows(tmp_path / "s.db")] == ["pending"]
            assert client.complete(pending.code).status_code == 204
        assert app_name(emulator) == "CP 2"


def _planted(change_id: str, created: datetime, endpoint: str) -> StoredChange:
    """A row as a command leaves it when it dies after committing it and before any answer."""
    tracked = TrackedChange(
        change_id, created, created, "PATCH", "/beta" + APP_URL, "", None, Phase.SENDING, None,
        None, endpoint,
    )  # fmt: skip
    return StoredChange(tracked, PATCH.content, PATCH.digest, "CHG", "", "")


def test_reconcile_leaves_in_flight_rows_and_settles_abandoned_ones(
    emulator: Emulator, clock: Clock, tmp_path: Path
) -> None:
    """No request carries the row's reference: after the in-flight window (the write timeout,
    100 s, plus a minute) the row becomes ``unknown``; a younger row may still be in flight."""
    with StateStore(tmp_path / "s.db") as state, client_for(emulator, state, now=clock) as client:
        root = client.endpoint.root
        state.add(_planted("0000000000aa", START - timedelta(seconds=170), root))
        state.add(_planted("0000000000bb", START - timedelta(seconds=150), root))
        settled = client.reconcile()
    assert [(c.change_id, c.phase) for c in settled] == [("0000000000aa", Phase.UNKNOWN)]
    assert [(r["id"], r["phase"]) for r in rows(tmp_path / "s.db")] == [
        ("0000000000aa", "unknown"),
        ("0000000000bb", "sending"),
    ]


def test_reads_are_retried_after_a_5xx(mode: str, clock: Clock, tmp_path: Path) -> None:
    with running(mode, clock) as emulator, StateStore(tmp_path / "s.db") as state:
        with client_for(emulator, state) as client:
            pending = client.submit(PATCH, "CHG-1")
            assert isinstance(pending, Pending)
            emulator.service.faults._script["deviceManagement/operationApprovalRequests"] = [503]
            assert client.status(pending.code).status is RequestStatus.NEEDS_APPROVAL
        statuses = [r.status for r in emulator.requests if r.path.endswith(pending.code)]
    assert statuses[-2:] == [503, 200]
