"""`maa-guard impact` live against the loopback Graph emulator: real HTTP, the real client stack.

The demo tenant is served from its snapshot; the live report must list the same rows as the
report computed from that snapshot over the same window. Then an app adopts the approval flow
over HTTP, and the next live report sees it as maa-aware from the audit log.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.impact.compute import compute_impact
from maa_guard.impact.render_json import document
from maa_guard.scan.pipeline import ScanRequest, demo_path, settings_for
from maa_guard.snapshot import Window
from maa_guard.snapshot.codec import parse_datetime
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
CONFIG = demo_path("maa-guard.toml")
DAYS = 3650  # the demo's audit log lies in 2026; ten years keep all of it in the window
HELPDESK = "18d49f3a-717b-42ea-9c63-b45765caa752"
CONFIGURATION_APPROVER = "7c32e15c-d4d0-49aa-9eb3-0793e032aa70"  # Lee Gu


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none on first read."""
    return min(r.request_date_time for r in DEMO.approval_requests)


def demo_fixture() -> dict[str, Any]:
    fixture = fixture_from_snapshot(DEMO)
    helpdesk = fixture["tokens"][graphroles.app_token(HELPDESK)]
    helpdesk["roles"].append("DeviceManagementConfiguration.ReadWrite.All")
    return fixture


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    with Emulator(demo_fixture(), now=demo_now) as running:
        yield running


def live_impact(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(
        [
            "impact",
            "--format",
            "json",
            "--config",
            str(CONFIG),
            "--auth",
            "token",
            "--graph-endpoint",
            emulator.url,
            "--days",
            str(DAYS),
            "--quiet",
        ]
    )
    return code, json.loads(capsys.readouterr().out)


def from_the_snapshot(live: dict[str, Any]) -> dict[str, Any]:
    """The demo snapshot judged at the live run's moment over the live run's window."""
    window = Window(parse_datetime(live["window"]["start"]), parse_datetime(live["window"]["end"]))
    equivalent = dataclasses.replace(
        DEMO, collected_at=parse_datetime(live["collected_at"]), window=window
    )
    settings = settings_for(ScanRequest(None, False, CONFIG, {}), os.environ, Path.cwd())
    return document(compute_impact(equivalent, settings.declared_exclusions))


def test_live_rows_equal_the_snapshots_rows(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, live = live_impact(emulator, capsys)
    expected = from_the_snapshot(live)
    assert live["rows"] == expected["rows"]
    assert (code, live["exit_code"], live["complete"]) == (1, 1, True)
    assert [(r["display_name"], r["verdict"]) for r in live["rows"]] == [
        ("Contoso Helpdesk Portal", "will-be-blocked"),
        ("Patch My PC Cloud", "excluded"),
        ("Autopilot Sync Runbook", "excluded"),
        ("Remediation Script Publisher", "excluded"),
        ("Offboarding Logic App", "excluded"),
        ("Intune Tag Sync", "excluded"),  # its May write lies in the ten-year window
        ("Legacy Intune Reporting Tool", "read-only"),  # and so does its June sign-in
        ("Contoso Config-as-Code Pipeline", "maa-aware"),
    ]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create_configuration_policy(
    client: httpx.Client, url: str, header: dict[str, str]
) -> httpx.Response:
    return client.post(
        f"{url}/beta/deviceManagement/configurationPolicies",
        headers={"Authorization": f"Bearer {graphroles.app_token(HELPDESK)}", **header},
        json={"name": "Baseline", "platforms": "windows10"},
    )


def adopt_the_approval_flow(url: str) -> None:
    """The helpdesk app writes with a justification, an approver approves, the app resubmits."""
    with httpx.Client() as client:
        filed = create_configuration_policy(
            client, url, {"x-msft-approval-justification": b64("CHG0042 baseline")}
        )
        assert filed.status_code == 412, filed.text
        code = filed.headers["x-msft-approval-code"]
        approved = client.post(
            f"{url}/beta/deviceManagement/operationApprovalRequests/{code}/approve",
            headers={"Authorization": f"Bearer {graphroles.user_token(CONFIGURATION_APPROVER)}"},
            json={"justification": "reviewed"},
        )
        assert approved.status_code == 200, approved.text
        applied = create_configuration_policy(client, url, {"x-msft-approval-code": code})
        assert applied.status_code == 201, applied.text


def test_an_app_that_adopts_the_approval_flow_becomes_maa_aware(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    _, before = live_impact(emulator, capsys)
    adopt_the_approval_flow(emulator.url)
    code, after = live_impact(emulator, capsys)
    (was,) = [r for r in before["rows"] if r["app_id"] == HELPDESK]
    (now,) = [r for r in after["rows"] if r["app_id"] == HELPDESK]
    assert (was["verdict"], now["verdict"]) == ("will-be-blocked", "maa-aware")
    assert now["maa_evidence"] == {"completed_requests": 1, "resubmissions": 1, "other_requests": 0}
    assert now["writes"] == was["writes"] + 1
    configuration = [w for w in now["workloads"] if w["policy_type"] == "configurationPolicy"]
    assert [(w["writes"], w["coverage"]) for w in configuration] == [(1, "protected")]
    assert now["ways_out"] == []
    assert code == 0


def test_a_denied_audit_log_makes_the_live_report_incomplete(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    faults = {"deny": {"deviceManagement/auditEvents": "DeviceManagementApps.Read.All"}}
    with Emulator(demo_fixture(), now=demo_now, faults=faults) as emulator:
        code, live = live_impact(emulator, capsys)
    audit = live["sources"]["audit_events"]
    assert (code, live["exit_code"], live["complete"]) == (3, 3, False)
    assert (audit["state"], audit["missing_permission"]) == (
        "failed",
        "DeviceManagementApps.Read.All",
    )
    assert all("verdict" in row["unverified"] for row in live["rows"])
    assert all(row["writes"] == 0 for row in live["rows"])
    # only the apps the policies exclude by property are known; each signed in this year
    assert [(row["display_name"], row["verdict"]) for row in live["rows"]] == [
        ("Autopilot Sync Runbook", "read-only"),
        ("Patch My PC Cloud", "read-only"),
        ("Offboarding Logic App", "read-only"),
        ("Legacy Intune Reporting Tool", "read-only"),
    ]
    assert {name: live["sources"][name]["state"] for name in live["sources"]} == {
        "audit_events": "failed",
        "access_policies": "complete",
        "exclusions": "partial",
        "approval_requests": "complete",
        "service_principals": "partial",
        "sign_in_activity": "partial",
    }
