"""An exclusion change end to end against the emulator, in both approval modes.

Draft live (read-only), submit as an Intune administrator (MAA files a request: the access
policy is itself protected), a second administrator approves in the emulator, complete with the
code: only then does the policy change. A stale draft and a draft for another tenant are refused.
Those write the exclusion property, so they run against the emulator's ``default`` profile;
drafts to remove an exclusion run against both profiles (``tests/profiles.py``; the
``published`` one serves no exclusion property, so its drafts are change tickets without a
Graph write, and ``tests/test_exclusions_no_property_e2e.py`` covers ``submit`` refusing them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from profiles import PROFILES, VARIANT_NAMES, VARIANTS, Variant

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.exclusions.draft import ChangeAction, load_draft
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
POLICY = "a44b31e5-8ba9-4337-9698-57b8e463df88"  # Apps - Windows
PATCH_MY_PC = "350f6c08-5658-4455-a594-a9245970fd44"
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # excluded in May, known from the audit log
CONFIG = demo_path("maa-guard.toml")  # declares Patch My PC's exclusion from Apps - Windows
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # Intune admin who asks
ALEX = "5a7b46b1-de4f-481f-bce2-7f4ee40714eb"  # in the approver group


def _now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(params=["403", "412"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    # default profile only: these drafts PATCH the exclusion property, which published lacks
    with Emulator(
        fixture_from_snapshot(DEMO), approval_mode=request.param, now=_now, fixed_tokens=True
    ) as served:
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
    # Patch My PC is gone; the audit-log exclusion (Intune Tag Sync) is not in the property and
    # was not written into it.
    assert _policy(emulator)["excludedApplicationIds"] == []
    assert filed["status"] == "completed"
    removed = [
        e
        for e in emulator.audit_events
        if e["activityType"] == "Remove OperationApprovalPolicyExclusion"
    ]
    assert [r["resources"][1]["resourceId"] for r in removed] == [PATCH_MY_PC]
    kinds = {e["activityType"] for e in emulator.audit_events}
    assert "Add OperationApprovalPolicyExclusion" not in kinds


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


# ---- drafts to remove an exclusion, in both profiles ---------------------------------------


def _remove_draft(
    profile: str, app: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, Path]:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "remove.json"
    fixture = fixture_from_snapshot(DEMO)
    with Emulator(fixture, profile=profile, now=_now, fixed_tokens=True) as served:
        args = ["exclusions", "draft", *_live(served, graphroles.READER_TOKEN, monkeypatch)]
        args += ["--config", str(CONFIG), "--days", "200", "--quiet", "--policy", "Apps - Windows"]
        args += ["--remove", app, "--justification", "vendor contract ended", "--ticket", "CHG-42"]
        return main([*args, "-o", str(out)]), out


def _ticket_only(out: Path) -> str:
    return (
        f"wrote {out}, a draft without a Graph write: the tenant's access policies carry no "
        "exclusion property (Microsoft Graph publishes no writable one), so maa-guard cannot send "
        "this change through Graph; make the change on the access policy's Exclusions tab in the "
        "Intune admin center (Tenant administration > Multi Admin Approval > Access policies), "
        "where MAA asks a second administrator to approve it too; "
        f"'maa-guard exclusions show {out}' is its change ticket\n"
    )


AUDIT_LOG_ONLY = (
    f"error: Intune Tag Sync ({TAG_SYNC}) is excluded according to the audit log only: the "
    "policy's property 'excludedApplicationIds' does not list it, so a Graph write cannot remove "
    "it\nhint: remove it on the access policy's Exclusions tab in the Intune admin center\n"
)


@pytest.mark.parametrize("profile", PROFILES)
def test_removing_an_exclusion_known_from_the_audit_log_only(
    profile: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``default``: the property does not list it, so no Graph write can remove it (exit 2).
    ``published``: no draft writes through Graph; the draft is the admin center's ticket."""
    code, out = _remove_draft(profile, "Intune Tag Sync", tmp_path, monkeypatch)
    err = capsys.readouterr().err
    if profile == "default":
        assert (code, err, out.exists()) == (2, AUDIT_LOG_ONLY, False)
        return
    assert (code, err) == (0, _ticket_only(out))
    made = load_draft(out).draft
    assert (made.request, made.exclusions_property) == (None, "")
    assert [(a.app_id, a.sources) for a in made.current] == [(TAG_SYNC, ("audit-log",))]
    assert [a.app_id for a in made.change(ChangeAction.REMOVE)] == [TAG_SYNC]


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_NAMES)
def test_removing_an_exclusion_older_than_the_audit_log(
    variant: Variant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Patch My PC's exclusion predates the audit log: only the property shows it, or, where
    Graph serves none, the declaration."""
    for name, value in variant.environ.items():
        monkeypatch.setenv(name, value)
    code, out = _remove_draft(variant.profile, "Patch My PC Cloud", tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == 0, err
    made = load_draft(out).draft
    assert [a.app_id for a in made.change(ChangeAction.REMOVE)] == [PATCH_MY_PC]
    if variant.published:
        assert err == _ticket_only(out)
        assert made.request is None
    else:
        assert err.startswith(f"wrote {out}: review it with ")
        assert made.request is not None
        assert made.request.body == {"excludedApplicationIds": ()}
