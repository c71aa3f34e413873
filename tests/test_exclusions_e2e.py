"""An exclusion change end to end against the emulator, in both approval modes.

Draft live (read-only), submit as an Intune administrator (MAA files a request: the access
policy is itself protected), a second administrator approves in the emulator, complete with the
code: only then does the policy change. A stale draft and a draft for another tenant are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.scan.pipeline import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
POLICY = "a44b31e5-8ba9-4337-9698-57b8e463df88"  # Apps - Windows
PATCH_MY_PC = "350f6c08-5658-4455-a594-a9245970fd44"
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # Intune admin who asks
ALEX = "5a7b46b1-de4f-481f-bce2-7f4ee40714eb"  # in the approver group


def _now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(params=["403", "412"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(fixture_from_snapshot(DEMO), approval_mode=request.param, now=_now) as served:
        yield served


def _live(emulator: Emulator, token: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", token)
    return ["--auth", "token", "--graph-endpoint", emulator.url]


def _policy(emulator: Emulator) -> dict[str, Any]:
    found = emulator.tenant.find("deviceManagement/operationApprovalPolicies", POLICY)
    assert found is not None
    return found


def _draft(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "remove-pmp.json"
    args = ["exclusions", "draft", *_live(emulator, graphroles.READER_TOKEN, monkeypatch)]
    args += ["--days", "200", "--quiet", "--policy", "Apps - Windows"]
    args += ["--remove", "Patch My PC Cloud", "--justification", "vendor contract ended"]
    assert main([*args, "--ticket", "CHG-42", "-o", str(out)]) == 0
    return out


def test_an_exclusion_change_applies_only_after_a_second_admin_approves(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    draft = _draft(emulator, tmp_path, monkeypatch)
    state = str(tmp_path / "state.db")
    capsys.readouterr()
    megan = _live(emulator, graphroles.user_token(MEGAN), monkeypatch)
    assert main(["exclusions", "submit", str(draft), *megan, "--state", state]) == 0
    pending = json.loads(capsys.readouterr().out)
    code = pending["code"]
    assert _policy(emulator)["excludedApplicationIds"] == [PATCH_MY_PC]
    filed = emulator.tenant.find("deviceManagement/operationApprovalRequests", code)
    assert filed is not None
    assert filed["status"] == "needsApproval"
    assert filed["requestJustification"].startswith(
        "vendor contract ended (ticket CHG-42) [maa-guard ref "
    )

    approve = f"{emulator.url}/beta/deviceManagement/operationApprovalRequests/{code}/approve"
    headers = {"Authorization": f"Bearer {graphroles.user_token(ALEX)}"}
    answer = httpx.post(
        approve, json={"justification": "ok", "approvalSource": "adminConsole"}, headers=headers
    )
    assert answer.status_code == 200

    assert main(["requests", "complete", code, *megan, "--state", state, "--format", "json"]) == 0
    capsys.readouterr()
    # The audit-log exclusion (Intune Tag Sync) was kept; Patch My PC is gone.
    assert _policy(emulator)["excludedApplicationIds"] == [TAG_SYNC]
    assert filed["status"] == "completed"
    removed = [
        e
        for e in emulator.audit_events
        if e["activityType"] == "Remove OperationApprovalPolicyExclusion"
    ]
    assert [r["resources"][1]["resourceId"] for r in removed] == [PATCH_MY_PC]


def test_a_draft_is_refused_once_the_policy_has_changed(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    draft = _draft(emulator, tmp_path, monkeypatch)
    _policy(emulator)["excludedApplicationIds"].append("someone-else")
    capsys.readouterr()
    megan = _live(emulator, graphroles.user_token(MEGAN), monkeypatch)
    state = tmp_path / "state.db"
    assert main(["exclusions", "submit", str(draft), *megan, "--state", str(state)]) == 2
    assert capsys.readouterr().err == (
        "error: the policy changed since the draft was written: now also excludes someone-else\n"
        "hint: write a new draft with 'maa-guard exclusions draft'\n"
    )
    filed = emulator.tenant.collections["deviceManagement/operationApprovalRequests"]
    assert not [r for r in filed if "maa-guard ref" in str(r.get("requestJustification"))]
