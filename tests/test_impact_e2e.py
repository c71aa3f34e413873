"""`maa-guard impact` live against the loopback Graph emulator: real HTTP, the real client stack.

The demo tenant is served from its snapshot; the live report must list the same rows as the
report computed from that snapshot, as the emulator's profile serves it, over the same window.
Then an app adopts the approval flow over HTTP, and the next live report sees it as maa-aware
from the audit log. Every test runs against the ``default`` profile and the ``published`` one,
without and with ``graph.trust_declared_exclusions`` (``tests/profiles.py``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from profiles import DEFAULT, PUBLISHED_TRUSTED, VARIANT_NAMES, VARIANTS, Variant, as_served

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.impact.compute import compute_impact
from maa_guard.impact.render_json import document
from maa_guard.model import SourceState
from maa_guard.scan.pipeline import ScanRequest, settings_for
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SourceStatus, Window
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


@pytest.fixture(params=VARIANTS, ids=VARIANT_NAMES)
def variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Variant:
    chosen: Variant = request.param
    for name, value in chosen.environ.items():
        monkeypatch.setenv(name, value)
    return chosen


@pytest.fixture
def emulator(
    variant: Variant, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Emulator]:
    with serving(variant, monkeypatch, tmp_path) as running:
        yield running


@contextmanager
def serving(
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fixture: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    tenant = demo_fixture() if fixture is None else fixture
    with Emulator(
        tenant, now=demo_now, profile=variant.profile, fixed_tokens=True, **options
    ) as running:
        yield running


def live_impact(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], config: Path | None = CONFIG
) -> tuple[int, Any]:
    """``config=None``: no configuration (nothing declared)."""
    chosen = ["--config", str(config)] if config is not None else []
    live = ["--auth", "token", "--graph-endpoint", emulator.url, "--days", str(DAYS), "--quiet"]
    code = main(["impact", "--format", "json", *chosen, *live])
    return code, json.loads(capsys.readouterr().out)


def from_the_snapshot(live: dict[str, Any], profile: str) -> dict[str, Any]:
    """The demo snapshot, as the profile serves it, judged at the live run's moment over the
    live run's window, its exclusions in the state the collection found them. Requests keep
    their people: ``published`` names nobody on them, and its audit events name those people."""
    window = Window(parse_datetime(live["window"]["start"]), parse_datetime(live["window"]["end"]))
    served = as_served(DEMO, profile)
    exclusions = live["sources"]["exclusions"]
    equivalent = dataclasses.replace(
        served,
        collected_at=parse_datetime(live["collected_at"]),
        window=window,
        approval_requests=DEMO.approval_requests,
        sources={
            **served.sources,
            "exclusions": SourceStatus(SourceState(exclusions["state"]), exclusions["reason"]),
        },
    )
    settings = settings_for(ScanRequest(None, False, CONFIG, {}), os.environ, Path.cwd())
    return document(compute_impact(equivalent, settings.declared_exclusions))


# Every app's verdict and unverified columns, and whether the report is complete; the exit code
# is 1 in each (an app will be blocked).
PARTIAL = ["excluded", "verdict"]
ROWS = {
    "default": (
        True,
        [
            ("Contoso Helpdesk Portal", "will-be-blocked", []),
            ("Patch My PC Cloud", "excluded", []),
            ("Autopilot Sync Runbook", "excluded", []),
            ("Remediation Script Publisher", "excluded", []),
            ("Offboarding Logic App", "excluded", []),
            ("Intune Tag Sync", "excluded", []),  # its May write lies in the ten-year window
            ("Legacy Intune Reporting Tool", "read-only", []),  # and so does its June sign-in
            ("Contoso Config-as-Code Pipeline", "maa-aware", []),
        ],
    ),
    # Only the audit log's exclusions are seen: every verdict resting on exclusions is unverified.
    "published": (
        False,
        [
            ("Patch My PC Cloud", "will-be-blocked", PARTIAL),
            ("Autopilot Sync Runbook", "will-be-blocked", PARTIAL),
            ("Contoso Helpdesk Portal", "will-be-blocked", PARTIAL),
            ("Offboarding Logic App", "will-be-blocked", PARTIAL),
            ("Remediation Script Publisher", "excluded", PARTIAL),
            ("Intune Tag Sync", "excluded", PARTIAL),
            ("Legacy Intune Reporting Tool", "read-only", ["excluded"]),
            ("Contoso Config-as-Code Pipeline", "maa-aware", PARTIAL),
        ],
    ),
    # The declaration excludes the pipeline; the Offboarding Logic App's exclusion is not
    # declared, so it is unseen.
    "published-trusted": (
        True,
        [
            ("Contoso Helpdesk Portal", "will-be-blocked", []),
            ("Offboarding Logic App", "will-be-blocked", []),
            ("Patch My PC Cloud", "excluded", []),
            ("Contoso Config-as-Code Pipeline", "excluded", []),
            ("Autopilot Sync Runbook", "excluded", []),
            ("Remediation Script Publisher", "excluded", []),
            ("Intune Tag Sync", "excluded", []),
            ("Legacy Intune Reporting Tool", "read-only", []),
        ],
    ),
}


def test_live_rows_equal_the_snapshots_rows(
    variant: Variant, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, live = live_impact(emulator, capsys)
    expected = from_the_snapshot(live, variant.profile)
    assert live["rows"] == expected["rows"]
    rows = [(r["display_name"], r["verdict"], r["unverified"]) for r in live["rows"]]
    assert (code, live["exit_code"], live["complete"], rows) == (1, 1, *ROWS[variant.name])


PIPELINE = "e5aed320-6fa0-486f-875d-607dbb17aec0"  # Contoso Config-as-Code Pipeline
EDGE_BASELINE = "41f54935-ee09-4b48-9c4c-bcfefcf6f302"  # its completed approval request


@pytest.mark.parametrize(
    "variant", [DEFAULT, PUBLISHED_TRUSTED], ids=["default", "published-trusted"], indirect=True
)
def test_a_completed_request_that_names_nobody_leaves_maa_awareness_unverified(
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The pipeline's completed request with its requestor unknown (null in Graph, in both
    profiles, and no filing event): it may be the pipeline's. Nothing is declared, so only the
    request could keep the pipeline from being blocked."""
    with serving(variant, monkeypatch, tmp_path, nobody_named_on_the_edge_request()) as emulator:
        code, live = live_impact(emulator, capsys, config=None)
    (pipeline,) = [r for r in live["rows"] if r["app_id"] == PIPELINE]
    assert (pipeline["verdict"], pipeline["maa_evidence"]["completed_requests"]) == (
        "will-be-blocked",
        0,
    )
    assert pipeline["unverified"] == ["maa_aware", "verdict"]
    assert (code, live["complete"]) == (1, False)


def nobody_named_on_the_edge_request() -> dict[str, Any]:
    fixture = demo_fixture()
    requests = fixture["collections"]["deviceManagement/operationApprovalRequests"]
    (edge,) = [r for r in requests if r["id"] == EDGE_BASELINE]
    edge["requestor"] = None
    return fixture


UNKNOWN_REQUESTOR = (
    "1 completed request(s) whose requestor cannot be known (neither Graph nor an MAA audit "
    "event names it): any will-be-blocked app may have filed them"
)


@pytest.mark.parametrize("variant", [DEFAULT], ids=["default"], indirect=True)
def test_the_unknown_requestor_is_the_reason_given_for_the_incomplete_report(
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = ["--auth", "token", "--days", str(DAYS), "--quiet"]
    with serving(variant, monkeypatch, tmp_path, nobody_named_on_the_edge_request()) as emulator:
        live += ["--graph-endpoint", emulator.url]
        json_code = main(["impact", "--format", "json", *live])
        json_err = capsys.readouterr().err
        table_code = main(["impact", "--format", "table", *live])
        table = capsys.readouterr()
    assert (json_code, json_err) == (1, f"warning: incomplete: {UNKNOWN_REQUESTOR}\n")
    assert (table_code, table.err) == (1, "")
    lines = table.out.splitlines()
    assert f"incomplete: {UNKNOWN_REQUESTOR}" in " ".join(lines)
    assert lines[-1] == (
        "2 apps will be blocked by MAA; INCOMPLETE: 1 completed request(s) whose requestor "
        "cannot be known (exit 1)"
    )


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


# After the adoption: the exit code, and the helpdesk row's unverified columns.
ADOPTED = {
    "default": (0, []),
    # the other will-be-blocked apps keep the exit code 1
    "published": (1, ["excluded", "verdict"]),
    "published-trusted": (1, []),
}


def test_an_app_that_adopts_the_approval_flow_becomes_maa_aware(
    variant: Variant, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """In ``published`` Graph names nobody on the request: the MAA audit events the emulator
    writes for it name the app."""
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
    assert (code, now["unverified"]) == ADOPTED[variant.name]


def test_a_denied_audit_log_makes_the_live_report_incomplete(
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same in every variant: without the audit log, no exclusion history either."""
    faults = {"deny": {"deviceManagement/auditEvents": "DeviceManagementApps.Read.All"}}
    with serving(variant, monkeypatch, tmp_path, faults=faults) as emulator:
        code, live = live_impact(emulator, capsys)
    audit = live["sources"]["audit_events"]
    assert (code, live["exit_code"], live["complete"]) == (3, 3, False)
    assert (audit["state"], audit["missing_permission"]) == (
        "failed",
        "DeviceManagementApps.Read.All",
    )
    unknown = [
        "excluded",
        "last_app_only_sign_in",
        "last_write",
        "maa_aware",
        "verdict",
        "workloads",
        "write_permissions",
        "writes",
    ]
    assert all(row["unverified"] == unknown for row in live["rows"])
    assert all(row["writes"] == 0 for row in live["rows"])
    # every holder of an Intune write permission is known (not from the audit log); each signed
    # in within the ten-year window
    assert [(row["display_name"], row["verdict"]) for row in live["rows"]] == [
        ("Autopilot Sync Runbook", "read-only"),
        ("Contoso Helpdesk Portal", "read-only"),
        ("Remediation Script Publisher", "read-only"),
        ("Patch My PC Cloud", "read-only"),
        ("Offboarding Logic App", "read-only"),
        ("Contoso Config-as-Code Pipeline", "read-only"),
        ("Legacy Intune Reporting Tool", "read-only"),
        ("Intune Tag Sync", "read-only"),
    ]
    assert {name: live["sources"][name]["state"] for name in live["sources"]} == {
        "audit_events": "failed",
        "access_policies": "complete",
        "exclusions": "partial",
        "approval_requests": "complete",
        "service_principals": "partial",
        "sign_in_activity": "partial",
    }
