"""`maa-guard request submit` and `maa-guard requests ...` through ``main()``, against the emulator.

Exit codes: submit 0 (pending or applied), 1 refused, 2 bad input, 3 unknown; wait 0 approved,
1 rejected / cancelled / expired, 3 timed out; complete 0 applied, 1 not approved; cancel 0.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_approval_support import (
    APP_URL,
    MODES,
    SECRET_TOKEN,
    Clock,
    app_name,
    decide,
    folder_bytes,
    graph,
    rows,
    running,
)

from maa_guard.cli import main
from maa_guard.emulator import Emulator

GUID = "aabb1234-5678-9012-abcd-ef0123456789"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(
    mode: str, clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "automation")
    monkeypatch.delenv("MAA_GUARD_STATE", raising=False)
    with running(mode, clock) as started:
        yield started


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    return folder / "state.db"


@pytest.fixture
def body(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_text('{"displayName": "CP 2"}', encoding="utf-8")
    return path


class Cli:
    def __init__(self, emulator: Emulator, state: Path, capsys: pytest.CaptureFixture[str]):
        self.emulator, self.state, self.capsys = emulator, state, capsys

    def __call__(self, *args: str, fmt: str = "json") -> tuple[int, str, str]:
        connection = ["--auth", "token", "--graph-endpoint", self.emulator.url]
        code = main([*args, "--state", str(self.state), "--format", fmt, *connection])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = self(*args)
        return code, json.loads(out)

    def submit(self, body: Path, justification: str = "CHG-1 rename", *extra: str) -> Any:
        return self.json(
            "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
            "--justification", justification, *extra,
        )  # fmt: skip


@pytest.fixture
def cli(emulator: Emulator, state: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(emulator, state, capsys)


def test_lifecycle(cli: Cli, body: Path, emulator: Emulator, state: Path) -> None:
    exit_code, filed = cli.submit(body, "CHG-1 rename", "--label", "portal")
    code = filed["code"]
    assert (exit_code, filed["outcome"]) == (0, "pending")
    assert filed["request"]["status"] == "needsApproval"
    assert filed["request"]["justification"] == f"CHG-1 rename [maa-guard ref {filed['change']}]"
    assert cli.json("requests", "status", code) == (
        0,
        {"outcome": "needsApproval", "request": filed["request"]},
    )
    assert cli.json("requests", "wait", code, "--timeout", "0")[0] == 3
    not_yet = cli.json("requests", "complete", code)
    assert (not_yet[0], not_yet[1]["outcome"]) == (1, "not-approved")
    assert decide(emulator, code) == 200
    waited = cli.json("requests", "wait", code, "--timeout", "0")
    assert (waited[0], waited[1]["request"]["approver"]["displayName"]) == (0, "Abe")
    completed = cli.json("requests", "complete", code)
    assert completed == (
        0,
        {
            "outcome": "completed",
            "approvalHappened": True,
            "code": code,
            "httpStatus": 204,
            "body": None,
            "message": "the approved change was applied (HTTP 204)",
            "warnings": [],
        },
    )
    assert app_name(emulator) == "CP 2"
    listed = cli.json("requests", "list")
    assert [(c["label"], c["phase"], c["code"], c["status"]) for c in listed[1]["changes"]] == [
        ("portal", "completed", code, "completed")
    ]


def test_rejected_request_waits_to_exit_1(cli: Cli, body: Path, emulator: Emulator) -> None:
    code = cli.submit(body)[1]["code"]
    assert decide(emulator, code, "reject") == 200
    assert cli.json("requests", "wait", code)[0] == 1
    assert cli.json("requests", "complete", code)[0] == 1


def test_cancel(cli: Cli, body: Path, emulator: Emulator) -> None:
    code = cli.submit(body)[1]["code"]
    cancelled = cli.json("requests", "cancel", code)
    assert (cancelled[0], cancelled[1]["outcome"]) == (0, "cancelled")
    assert cli.json("requests", "wait", code)[0] == 1
    again, _, err = cli("requests", "cancel", code)
    assert again == 1
    assert err == (
        f"error: the service refused to cancel {code} (HTTP 400 BadRequest): The request is "
        "cancelled, not pending.\nhint: only the requester can cancel, and only a request that "
        "is pending or approved\n"
    )


def test_expired_request(cli: Cli, body: Path, clock: Clock) -> None:
    code = cli.submit(body)[1]["code"]
    clock.moment += timedelta(days=3)
    assert cli.json("requests", "status", code)[1]["outcome"] == "expired"
    assert cli.json("requests", "wait", code)[0] == 1


def test_duplicate_is_shown(cli: Cli, body: Path, state: Path) -> None:
    first = cli.submit(body)[1]
    exit_code, out, err = cli(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
        "--justification", "CHG-2", fmt="table",
    )  # fmt: skip
    assert exit_code == 1
    assert f"held by request        {first['code']}\n" in out
    assert f"identified as          this state file filed it (change {first['change']})\n" in out
    assert "request status         needsApproval\n" in out
    assert err.startswith("error: an approval request for this object is already pending (HTTP")
    assert [r["phase"] for r in rows(state)] == ["pending", "refused"]


def test_excluded_app_is_told_no_approval_happened(
    cli: Cli, body: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "excluded")
    exit_code, out, _ = cli(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
        "--justification", "CHG-3", fmt="table",
    )  # fmt: skip
    assert exit_code == 0
    assert " ".join(out.split()) == (
        "NO APPROVAL HAPPENED: applied WITHOUT approval (HTTP 204): no access policy protects "
        "this target, or this application is excluded from the policy that does"
    )
    assert app_name(emulator) == "CP 2"


def test_body_from_standard_input(
    cli: Cli, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"displayName": "from stdin"}'))
    monkeypatch.setattr("sys.stdin", stdin)
    exit_code, filed = cli.json(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", "-",
        "--justification", "CHG-4",
    )  # fmt: skip
    assert (exit_code, filed["outcome"]) == (0, "pending")
    assert decide(emulator, filed["code"]) == 200
    assert cli.json("requests", "complete", filed["code"])[0] == 0
    assert app_name(emulator) == "from stdin"


def test_hostile_tenant_text_is_shown_inert(cli: Cli, body: Path, emulator: Emulator) -> None:
    hostile = "[bold red]pwn[/] \x1b[2J\u202eevil"
    code = cli.submit(body, hostile)[1]["code"]
    path = f"/beta/deviceManagement/operationApprovalRequests/{code}/approve"
    assert graph(emulator, "POST", path, "approver", {"justification": hostile}).status_code == 200
    exit_code, out, _ = cli("requests", "status", code, fmt="table")
    assert exit_code == 0
    assert "\x1b" not in out and "\u202e" not in out
    assert "justification   [bold red]pwn[/] \\x1b[2J\\u202eevil [maa-guard ref" in out
    assert "approval notes  [bold red]pwn[/] \\x1b[2J\\u202eevil" in out


def test_debug_never_shows_the_token(
    cli: Cli,
    body: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", SECRET_TOKEN)
    caplog.set_level(logging.DEBUG)
    exit_code, out, err = cli(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
        "--justification", "CHG-7", "--debug",
    )  # fmt: skip
    code = json.loads(out)["code"]
    assert decide(emulator, code) == 200
    completed = cli("requests", "complete", code, "--debug")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert (exit_code, completed[0]) == (0, 0)
    assert "PATCH /beta/deviceAppManagement/mobileApps/m1 -> " in logged
    assert SECRET_TOKEN not in out + err + completed[1] + completed[2] + logged
    assert "secret-bearer" not in logged


def test_list_refreshes_statuses_from_the_service(cli: Cli, body: Path, emulator: Emulator) -> None:
    filed = cli.submit(body)[1]
    assert decide(emulator, filed["code"]) == 200
    exit_code, listed = cli.json("requests", "list")
    assert exit_code == 0
    assert listed["warnings"] == [
        f"change {filed['change']}: the service reports the request approved (code {filed['code']})"
    ]
    assert [(c["phase"], c["status"]) for c in listed["changes"]] == [("pending", "approved")]
    assert cli.json("requests", "list")[1]["warnings"] == []  # nothing new


def test_list_offline_needs_no_connection(
    cli: Cli, body: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.submit(body)[1]["code"]
    exit_code = main(["requests", "list", "--offline", "--state", str(state), "--format", "json"])
    listed = json.loads(capsys.readouterr().out)
    assert (exit_code, [c["code"] for c in listed["changes"]]) == (0, [code])


def test_list_says_when_the_service_cannot_be_read(
    cli: Cli, body: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = cli.submit(body)[1]["code"]
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "reader")
    emulator.service.faults.deny["deviceManagement/operationApprovalRequests"] = (
        "DeviceManagementRBAC.Read.All"
    )
    exit_code, listed = cli.json("requests", "list")
    assert exit_code == 3
    assert [c["code"] for c in listed["changes"]] == [code]
    assert listed["warnings"][0].startswith("the service's request list could not be read: GET")


# ---- bad input: exit 2, nothing sent, state untouched ------------------------------------------


@pytest.fixture
def seeded(cli: Cli, body: Path, state: Path) -> dict[str, bytes]:
    """A state file with one pending change, and its folder's bytes."""
    assert cli.submit(body)[0] == 0
    return folder_bytes(state.parent)


@pytest.mark.parametrize(
    ("justification", "message"),
    [
        ("", "error: the justification is empty\n"),
        ("   \n", "error: the justification is empty\n"),
        (
            "x" * 1025,
            "error: the justification is 1025 characters; MAA accepts at most 1024 (maa-guard "
            "adds a 29-character reference)\nhint: shorten it to 995 characters or fewer\n",
        ),
        ("x" * 996, "error: the justification is 996 characters; MAA accepts at most 1024"),
    ],
)
def test_bad_justification(
    cli: Cli,
    body: Path,
    emulator: Emulator,
    state: Path,
    seeded: dict[str, bytes],
    justification: str,
    message: str,
) -> None:
    before = len(emulator.requests)
    exit_code, out, err = cli(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
        "--justification", justification,
    )  # fmt: skip
    assert (exit_code, out) == (2, "")
    assert err.startswith(message)
    assert len(emulator.requests) == before
    assert folder_bytes(state.parent) == seeded


@pytest.mark.parametrize("action", ["status", "wait", "complete", "cancel"])
@pytest.mark.parametrize("code", ["not-a-guid", "YWFiYjEyMzQ=", "{" + GUID + "}", ""])
def test_a_code_that_is_not_a_guid(
    cli: Cli,
    emulator: Emulator,
    state: Path,
    seeded: dict[str, bytes],
    action: str,
    code: str,
) -> None:
    before = len(emulator.requests)
    exit_code, out, err = cli("requests", action, code)
    assert (exit_code, out) == (2, "")
    assert err == (
        f"error: approval code {code!r} is not a GUID\nhint: give the raw GUID from "
        "x-msft-approval-code, e.g. aabb1234-5678-9012-abcd-ef0123456789\n"
    )
    assert len(emulator.requests) == before
    assert folder_bytes(state.parent) == seeded


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"displayName": ', "is not valid JSON (line 1, column 17: Expecting value)"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_malformed_body_file(
    cli: Cli,
    emulator: Emulator,
    state: Path,
    tmp_path: Path,
    seeded: dict[str, bytes],
    content: bytes,
    message: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    before = len(emulator.requests)
    exit_code, out, err = cli(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(bad),
        "--justification", "CHG",
    )  # fmt: skip
    assert (exit_code, out) == (2, "")
    assert err.startswith(f"error: the body ({bad}) {message}")
    assert len(emulator.requests) == before
    assert folder_bytes(state.parent) == seeded


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://graph.microsoft.com/beta/deviceManagement/x", "is not a Graph path"),
        ("/users/u1", "is not under /deviceManagement or /deviceAppManagement"),
        ("/deviceManagement/a b", "has an empty or malformed path segment"),
        ("/deviceManagement/../users", "has an empty or malformed path segment"),
        ("/beta/$batch", "is not under /deviceManagement"),
    ],
)
def test_bad_url(
    cli: Cli, body: Path, state: Path, seeded: dict[str, bytes], url: str, message: str
) -> None:
    exit_code, _, err = cli(
        "request", "submit", "--method", "PATCH", "--url", url, "--body", str(body),
        "--justification", "CHG",
    )  # fmt: skip
    assert exit_code == 2
    assert err.startswith(f"error: URL {url!r} {message}")
    assert folder_bytes(state.parent) == seeded


@pytest.mark.parametrize(
    "content",
    [b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 84 + b"garbage" * 100],
)
@pytest.mark.parametrize(
    "command",
    [["requests", "list"], ["requests", "status", GUID], ["requests", "list", "--offline"]],
)
def test_corrupt_state_file_is_left_untouched(
    cli: Cli, emulator: Emulator, state: Path, content: bytes, command: list[str]
) -> None:
    state.write_bytes(content)
    before = folder_bytes(state.parent)
    exit_code, out, err = cli(*command)
    assert (exit_code, out) == (2, "")
    assert err.startswith(f"error: {state} ")
    assert "hint: give another file with --state (or MAA_GUARD_STATE); this one was left" in err
    assert folder_bytes(state.parent) == before


def test_submit_with_a_corrupt_state_file_sends_nothing(
    cli: Cli, body: Path, emulator: Emulator, state: Path
) -> None:
    state.write_bytes(b"PK\x03\x04 a zip file")
    exit_code, out, err = cli(
        "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
        "--justification", "CHG",
    )  # fmt: skip
    assert (exit_code, out) == (2, "")
    assert err.startswith(f"error: {state} is not a maa-guard state file (not SQLite)\n")
    assert [r for r in emulator.requests if r.method != "GET"] == []
    assert state.read_bytes() == b"PK\x03\x04 a zip file"


def test_no_command_approves_or_rejects(capsys: pytest.CaptureFixture[str]) -> None:
    for verb in ("approve", "reject"):
        with pytest.raises(SystemExit) as refused:
            main(["requests", verb, GUID])
        assert refused.value.code == 2
        assert f"invalid choice: '{verb}'" in capsys.readouterr().err
