"""maa-guard never approves, rejects or cancels an MAA approval, whatever the URL looks like.

Every write (POST, PATCH, PUT, DELETE) to ``operationApprovalRequests`` or below it, and every
approval action under ``operationApprovalPolicies``, is refused before anything is sent or
written (exit 2), in every spelling Graph would route the same way: case, trailing slash,
percent-encoding (encoded slashes too, twice), a version prefix or a full URL, a query, dot
segments, key syntax, a ``microsoft.graph.`` cast, and a ``$batch`` body carrying such a write.
``requests cancel`` (``cancelMyRequest``) stays the one way to withdraw one's own request.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_approval_support import (
    APP_URL,
    REQUESTS,
    Clock,
    client_for,
    running,
    service_requests,
    writes_sent,
)

from maa_guard.approval import (
    ApprovalActionRefused,
    ApprovalClient,
    Pending,
    RequestStatus,
    StateStore,
    WriteRequest,
)
from maa_guard.approval.transport import WriteSender
from maa_guard.cli import main
from maa_guard.collect import StaticTokenCredential, resolve_endpoint
from maa_guard.emulator import Emulator
from maa_guard.errors import UsageError

R = "9e0e406b-6822-45bb-b015-bfc1bfa5dd58"
P = "p-app"
WHY = "maa-guard never approves, rejects or cancels approvals; use the admin center"
HINT = (
    "an approver decides in the Intune admin center (Tenant administration > Multi Admin "
    "Approval); to withdraw your own request: maa-guard requests cancel CODE"
)
METHODS = ("POST", "PATCH", "PUT", "DELETE")
REQUEST = f"/deviceManagement/operationApprovalRequests/{R}"
URL_FORMS = [
    f"{REQUEST}/approve",
    f"{REQUEST}/reject",
    f"{REQUEST}/cancelApproval",
    "/deviceManagement/operationApprovalRequests/cancelMyRequest",
    REQUEST,
    "/deviceManagement/operationApprovalRequests",
    f"/DEVICEMANAGEMENT/OPERATIONAPPROVALREQUESTS/{R}/APPROVE",
    f"/deviceManagement/operationapprovalrequests/{R}/Reject",
    f"{REQUEST}/approve/",
    f"{REQUEST}/approve//",
    f"/deviceManagement/operationApprovalRequests/{R}/%61%70%70%72%6F%76%65",
    f"/deviceManagement/%6FperationApprovalRequests/{R}/approve",
    f"/deviceManagement%2FoperationApprovalRequests%2F{R}%2Fapprove",
    f"/deviceManagement%2foperationApprovalRequests%2f{R}%2fapprove",
    f"/deviceManagement/operationApprovalRequests%252F{R}%252Fapprove",
    f"/beta{REQUEST}/approve",
    f"/v1.0{REQUEST}/approve",
    f"/BETA{REQUEST}/approve",
    f"https://graph.microsoft.com/beta{REQUEST}/approve",
    f"https://graph.microsoft.com/v1.0{REQUEST}/cancelApproval",
    f"//graph.microsoft.com/beta{REQUEST}/approve",
    f"{REQUEST}/approve?$select=id",
    f"{REQUEST}/approve%3Fx=1",
    f"{REQUEST}/approve#fragment",
    f"/deviceAppManagement/../deviceManagement/operationApprovalRequests/{R}/approve",
    f"/deviceAppManagement/mobileApps/%2E%2E/%2E%2E/deviceManagement/operationApprovalRequests/{R}/approve",
    f"/deviceManagement/./operationApprovalRequests/{R}/./approve",
    f"/deviceManagement//operationApprovalRequests/{R}/approve",
    f"/deviceManagement\\operationApprovalRequests\\{R}\\approve",
    f"{REQUEST}/microsoft.graph.approve",
    f"{REQUEST}/microsoft.graph.cancelApproval()",
    f"/deviceManagement/operationApprovalRequests('{R}')/approve",
    f"/deviceManagement/operationApprovalRequests(id='{R}')/reject",
    f"{REQUEST};x=1/approve",
    f"{REQUEST}/ approve ",
    f"/deviceManagement/operationApprovalPolicies/{P}/approve",
    f"/deviceManagement/operationApprovalPolicies/{P}/reject",
    f"/deviceManagement/operationApprovalPolicies/{P}/microsoft.graph.cancelApproval",
    f"/deviceManagement/operationApprovalPolicies/{P}/operationApprovalRequests/{R}/approve",
    f"/deviceManagement/operationApprovalPolicies/{P}/cancelMyRequest",
]
BATCH_URLS = [
    "/$batch",
    "/beta/$batch",
    "/v1.0/%24batch",
    "https://graph.microsoft.com/beta/$batch",
]
BATCH_ITEMS = [
    ("POST", f"{REQUEST}/approve"),
    ("post", f"/beta{REQUEST}/reject"),
    ("POST", f"https://graph.microsoft.com/beta{REQUEST}/cancelApproval"),
    ("PATCH", f"/deviceManagement/operationApprovalRequests%2F{R}"),
    ("DELETE", f"/deviceManagement/operationApprovalPolicies/{P}/approve"),
]
ALLOWED = [
    ("PATCH", f"/deviceManagement/operationApprovalPolicies/{P}"),
    ("POST", "/deviceManagement/operationApprovalPolicies"),
    ("DELETE", f"/beta/deviceManagement/operationApprovalPolicies/{P}"),
    ("PATCH", APP_URL),
    ("POST", "/deviceAppManagement/mobileApps/approve-me/assign"),
]


def body_for(method: str) -> dict[str, Any] | None:
    return None if method == "DELETE" else {"justification": "ok", "approvalSource": "adminConsole"}


def refusal(method: str, url: str) -> str:
    return f"{method} {url!r} acts on MAA approvals: {WHY}"


def batch_refusal(url: str, inner_method: str, inner_url: str) -> str:
    return f"POST {url!r} carries {inner_method} {inner_url!r}, which acts on MAA approvals: {WHY}"


def batch_body(method: str, url: str) -> dict[str, Any]:
    item = {"id": "1", "method": method, "url": url, "body": {"justification": "ok"}}
    return {"requests": [{"id": "0", "method": "GET", "url": "/me"}, item]}


# ---- the Python API --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("url", URL_FORMS)
def test_the_api_refuses_every_form_of_an_approval_write(method: str, url: str) -> None:
    with pytest.raises(ApprovalActionRefused) as caught:
        WriteRequest(method, url, body_for(method))
    error = caught.value
    assert (error.message, error.hint, error.exit_code) == (refusal(method, url), HINT, 2)
    assert isinstance(error, UsageError)


@pytest.mark.parametrize("url", BATCH_URLS)
@pytest.mark.parametrize(("inner_method", "inner_url"), BATCH_ITEMS)
def test_the_api_refuses_a_batch_carrying_an_approval_write(
    url: str, inner_method: str, inner_url: str
) -> None:
    with pytest.raises(ApprovalActionRefused) as caught:
        WriteRequest("POST", url, batch_body(inner_method, inner_url))
    assert caught.value.message == batch_refusal(url, inner_method, inner_url)


def test_a_batch_reading_approvals_is_refused_as_any_batch() -> None:
    with pytest.raises(UsageError) as caught:
        WriteRequest("POST", "/$batch", batch_body("GET", REQUEST))
    assert not isinstance(caught.value, ApprovalActionRefused)
    assert caught.value.message == (
        "URL '/$batch' is not under /deviceManagement or /deviceAppManagement"
    )


@pytest.mark.parametrize(("method", "url"), ALLOWED)
def test_other_intune_writes_are_still_accepted(method: str, url: str) -> None:
    assert WriteRequest(method, url, body_for(method)).method == method


# ---- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Any]:
    """``request submit`` against an endpoint nothing listens on: a refusal sends nothing."""
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "approver")
    state = tmp_path / "state.db"

    def run(method: str, url: str, body: dict[str, Any] | None) -> tuple[int, str, str]:
        extra: list[str] = []
        if body is not None:
            path = tmp_path / "body.json"
            path.write_text(json.dumps(body), encoding="utf-8")
            extra = ["--body", str(path)]
        code = main(
            ["request", "submit", "--method", method, "--url", url, *extra,
             "--justification", "CHG-1 approve it", "--state", str(state),
             "--auth", "token", "--graph-endpoint", "http://127.0.0.1:9"]
        )  # fmt: skip
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    assert not state.exists()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("url", URL_FORMS)
def test_request_submit_refuses_every_form_of_an_approval_write(
    cli: Any, method: str, url: str
) -> None:
    assert cli(method, url, body_for(method)) == (
        2,
        "",
        f"error: {refusal(method, url)}\nhint: {HINT}\n",
    )


@pytest.mark.parametrize(("inner_method", "inner_url"), BATCH_ITEMS)
def test_request_submit_refuses_a_batch_carrying_an_approval_write(
    cli: Any, inner_method: str, inner_url: str
) -> None:
    message = batch_refusal("/beta/$batch", inner_method, inner_url)
    assert cli("POST", "/beta/$batch", batch_body(inner_method, inner_url)) == (
        2,
        "",
        f"error: {message}\nhint: {HINT}\n",
    )


# ---- end to end against the emulator -----------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running("403", Clock()) as started:
        yield started


def filed_by_requester(emulator: Emulator, state: StateStore) -> str:
    write = WriteRequest("PATCH", APP_URL, {"displayName": "CP 2"})
    with client_for(emulator, state, token="requester") as client:
        outcome = client.submit(write, "CHG-1 rename the portal")
    assert isinstance(outcome, Pending)
    return outcome.code


def test_an_approver_cannot_approve_through_request_submit(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with StateStore(tmp_path / "requester.db") as state:
        code = filed_by_requester(emulator, state)
    before = writes_sent(emulator)
    body = tmp_path / "approve.json"
    body.write_text('{"justification": "ok", "approvalSource": "adminConsole"}', encoding="utf-8")
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "approver")
    url = f"/deviceManagement/operationApprovalRequests/{code}/approve"
    exit_code = main(
        ["request", "submit", "--method", "POST", "--url", url, "--body", str(body),
         "--justification", "CHG-1 approve it", "--state", str(tmp_path / "approver.db"),
         "--auth", "token", "--graph-endpoint", emulator.url]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert (exit_code, out, err) == (2, "", f"error: {refusal('POST', url)}\nhint: {HINT}\n")
    assert [(r["id"], r["status"]) for r in service_requests(emulator)] == [(code, "needsApproval")]
    assert [r.path for r in emulator.requests if r.path.endswith("/approve")] == []
    assert writes_sent(emulator) == before
    assert not (tmp_path / "approver.db").exists()


def test_a_forged_write_request_is_refused_before_the_state_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    with StateStore(tmp_path / "requester.db") as state:
        code = filed_by_requester(emulator, state)
    forged = WriteRequest("POST", "/deviceManagement/deviceManagementScripts", {"a": 1})
    url = f"{REQUEST.replace(R, code)}/approve"
    object.__setattr__(forged, "url", url)
    with (
        StateStore(tmp_path / "approver.db") as state,
        client_for(emulator, state, token="approver") as client,
    ):
        with pytest.raises(ApprovalActionRefused) as caught:
            client.submit(forged, "CHG-1 approve it")
        assert state.changes() == []
    assert caught.value.message == refusal("POST", url)
    assert service_requests(emulator)[0]["status"] == "needsApproval"


def test_a_state_row_edited_to_approve_is_not_resent(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "requester.db"
    with StateStore(path) as state:
        code = filed_by_requester(emulator, state)
    url = f"/beta{REQUEST.replace(R, code)}/approve"
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE changes SET method = 'POST', url = ?", (url,))
    before = writes_sent(emulator)
    with (
        StateStore(path) as state,
        client_for(emulator, state, token="approver") as client,
        pytest.raises(ApprovalActionRefused) as caught,
    ):
        client.complete(code)
    assert caught.value.message == refusal("POST", url)
    assert writes_sent(emulator) == before
    assert service_requests(emulator)[0]["status"] == "needsApproval"


@pytest.mark.parametrize(
    "url",
    [f"{REQUESTS}/{R}/approve", f"{REQUESTS}/{R}/cancelApproval", f"{REQUESTS}/cancelMyRequest/"],
)
def test_the_write_sender_refuses_approval_actions_before_fetching_a_token(
    emulator: Emulator, url: str
) -> None:
    class NoToken:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AssertionError("no token is fetched for a refused write")

    sender = WriteSender(NoToken(), resolve_endpoint("global", emulator.url))

    async def send() -> None:
        try:
            await sender.send("POST", url, b'{"justification":"ok"}', {})
        finally:
            await sender.aclose()

    with pytest.raises(ApprovalActionRefused) as caught:
        asyncio.run(send())
    assert caught.value.message == refusal("POST", url)
    assert emulator.requests == []


def test_requests_cancel_still_withdraws_ones_own_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    with StateStore(tmp_path / "requester.db") as state:
        code = filed_by_requester(emulator, state)
        credential = StaticTokenCredential("requester")
        endpoint = resolve_endpoint("global", emulator.url)
        with ApprovalClient(credential, endpoint, state) as client:
            assert client.cancel(code).status is RequestStatus.CANCELLED
    cancels = [(r.method, r.path) for r in emulator.requests if r.path.endswith("Request")]
    assert cancels == [("POST", f"{REQUESTS}/cancelMyRequest")]
