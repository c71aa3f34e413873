"""Live `impact` sees the apps that hold an Intune write permission and did not write.

The collector reads the holders of Microsoft Graph's Intune write app roles from the Graph service
principal's `appRoleAssignedTo` and adds them (with their permissions and sign-ins) to the
snapshot, so a live report has the `read-only` and `inactive` rows a snapshot holding them has.
Against the emulator: real HTTP, the real client stack, the CLI.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from builders import Json, add_event, add_policy, add_sign_in, add_sp, new_snapshot

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.impact.compute import compute_impact
from maa_guard.impact.render_json import document
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.codec import format_datetime
from maa_guard.snapshot.file import parse_snapshot

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PACKAGER = "1a1a1a1a-0000-4000-8000-000000000001"  # wrote an app in the window
REPORTER = "2b2b2b2b-0000-4000-8000-000000000002"  # holds ReadWrite, signed in, never wrote
WIPER = "3c3c3c3c-0000-4000-8000-000000000003"  # holds PrivilegedOperations, signed in long ago
SILENT = "4d4d4d4d-0000-4000-8000-000000000004"  # holds ReadWrite, never signed in
VIEWER = "5e5e5e5e-0000-4000-8000-000000000005"  # holds Read only, signed in


def ago(days: int) -> str:
    return format_datetime(NOW - timedelta(days=days))


def tenant() -> Json:
    """One access policy for apps; five apps, only one of which the policies or the audit log
    name. Dates are relative to today: the live collection's window ends now."""
    snap = new_snapshot()
    snap["collected_at"] = format_datetime(NOW)
    snap["window"] = {"start": ago(30), "end": format_datetime(NOW)}
    add_policy(snap, "p-apps", "app", name="Apps")
    add_sp(snap, PACKAGER, name="Nightly Packager")
    add_sign_in(snap, PACKAGER, ago(1))
    add_event(snap, PACKAGER, "Create MobileApp", when=ago(2))
    add_sp(
        snap,
        REPORTER,
        name="Report Writer",
        permissions=("DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"),
    )
    add_sign_in(snap, REPORTER, ago(3))
    add_sp(
        snap,
        WIPER,
        name="Old Wiper",
        permissions=("DeviceManagementManagedDevices.PrivilegedOperations.All",),
    )
    add_sign_in(snap, WIPER, ago(200))
    add_sp(
        snap, SILENT, name="Never Signed In", permissions=("DeviceManagementRBAC.ReadWrite.All",)
    )
    add_sp(snap, VIEWER, name="Viewer", permissions=("DeviceManagementApps.Read.All",))
    add_sign_in(snap, VIEWER, ago(1))
    return snap


def served() -> dict[str, Any]:
    """The policy excludes nobody: the default profile serves it ``excludedApplicationIds: []``."""
    return fixture_from_snapshot(parse_snapshot(tenant()))


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    with Emulator(served(), fixed_tokens=True) as running:
        yield running


def live_impact(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    args = ["impact", "--format", "json", "--auth", "token", "--graph-endpoint", emulator.url]
    code = main([*args, "--days", "30", "--quiet"])
    return code, json.loads(capsys.readouterr().out)


def row_facts(report: dict[str, Any]) -> list[tuple[str, str, str, list[str], str | None, int]]:
    return [
        (
            row["display_name"],
            row["app_id"],
            row["verdict"],
            row["write_permissions"],
            row["last_app_only_sign_in"],
            row["writes"],
        )
        for row in report["rows"]
    ]


def offline(live: dict[str, Any]) -> dict[str, Any]:
    """The same tenant's report from its snapshot, at the live run's moment and window."""
    raw = copy.deepcopy(tenant())
    raw["collected_at"], raw["window"] = live["collected_at"], live["window"]
    snapshot: Snapshot = parse_snapshot(raw)
    return document(compute_impact(snapshot))


def test_live_impact_lists_write_permission_holders_that_did_not_write(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = live_impact(emulator, capsys)

    assert (code, report["complete"]) == (1, True)
    assert row_facts(report) == [
        (
            "Nightly Packager",
            PACKAGER,
            "will-be-blocked",
            ["DeviceManagementApps.ReadWrite.All"],
            ago(1),
            1,
        ),
        (
            "Old Wiper",
            WIPER,
            "inactive",
            ["DeviceManagementManagedDevices.PrivilegedOperations.All"],
            ago(200),
            0,
        ),
        (
            "Report Writer",
            REPORTER,
            "read-only",
            ["DeviceManagementConfiguration.ReadWrite.All"],
            ago(3),
            0,
        ),
    ]
    assert report["summary"]["by_verdict"] == {
        "will-be-blocked": 1,
        "unprotected-workload": 0,
        "excluded": 0,
        "inactive": 1,
        "read-only": 1,
        "maa-aware": 0,
    }
    assert report["rows"] == offline(report)["rows"]


def test_holders_are_in_the_live_snapshot_with_permissions_and_sign_ins(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tenant.json"
    args = ["snapshot", "-o", str(out), "--auth", "token", "--graph-endpoint", emulator.url]
    assert main([*args, "--days", "30", "--quiet"]) == 0
    collected = json.loads(out.read_text(encoding="utf-8"))
    sps = {sp["appId"]: sp["appPermissions"] for sp in collected["service_principals"]}
    assert sps == {
        PACKAGER: ["DeviceManagementApps.ReadWrite.All"],
        REPORTER: ["DeviceManagementConfiguration.ReadWrite.All", "User.Read.All"],
        WIPER: ["DeviceManagementManagedDevices.PrivilegedOperations.All"],
        SILENT: ["DeviceManagementRBAC.ReadWrite.All"],
    }
    sign_ins = {
        row["appId"]: row["lastAppOnlyClientSignInDateTime"]
        for row in collected["sign_in_activity"]
    }
    assert sign_ins == {PACKAGER: ago(1), REPORTER: ago(3), WIPER: ago(200), SILENT: None}
    assert collected["sources"]["service_principals"]["state"] == "complete"


def test_a_failed_holder_read_makes_the_report_incomplete(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    faults = {"script": {"servicePrincipals/{id}/appRoleAssignedTo": [403]}}
    with Emulator(served(), faults=faults, fixed_tokens=True) as emulator:
        code, report = live_impact(emulator, capsys)

    assert (code, report["complete"]) == (1, False)
    status = report["sources"]["service_principals"]
    assert status["state"] == "partial"
    assert status["reason"].startswith("holders of Intune write permissions: ")
    # Apps holding write permissions may be missing: every cell resting on the service
    # principals (and on what is derived from them) is unverified.
    unverified = ["excluded", "last_app_only_sign_in", "verdict", "write_permissions"]
    assert [(row["app_id"], row["verdict"], row["unverified"]) for row in report["rows"]] == [
        (PACKAGER, "will-be-blocked", unverified)
    ]
