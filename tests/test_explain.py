"""`maa-guard explain`: one finding from a report file, a snapshot or the recorded history."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from builders import add_policy, approver_group, new_snapshot

from maa_guard.cli import main
from maa_guard.collect.permissions import SOURCE_PERMISSIONS, SOURCE_READS, permission_for
from maa_guard.snapshot import SOURCES

TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"
TAG_SYNC_MAA401 = "bee8deff4090cf3d9dbaa1905cd59dfa"
TAG_SYNC_MAA404 = "5abd2e47b57d97285b388ebfbdf1a5f8"
DEMO_TENANT = "Contoso Demo (4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58)"
HOSTILE = "[bold red]Evil[/] \x1b[2J\u202eexe.txt |*_`"
FIND_HINT = (
    "hint: a finding's fingerprint is the 'fingerprint' of 'maa-guard scan --format json', the "
    "CSV column 'fingerprint' and the SARIF partialFingerprints; or name it as RULE:RESOURCE, "
    "e.g. MAA401:<appId> (the resource id as the reports show it)\n"
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def explained(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "explain", *argv, "--format", "json")
    assert (code, err) == (0, "")
    document: dict[str, Any] = json.loads(out)
    return document


def demo_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    report = tmp_path / "report.json"
    assert run(capsys, "scan", "--demo", "--output", f"json={report}")[0] == 1
    return report


def hostile_snapshot(tmp_path: Path) -> Path:
    """One access policy whose only approver group has one member and a hostile name."""
    snap = new_snapshot()
    group = approver_group(snap, "grp-x", users=("u-1",))
    group["displayName"] = HOSTILE
    add_policy(snap, "pol-apps", approvers=("grp-x",), name="Apps")
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(snap), encoding="utf-8")
    return path


def test_one_demo_finding_in_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", f"MAA401:{TAG_SYNC}", "--demo", "--no-color")
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert lines[:9] == [
        "MAA401 excluded-app-client-secret: Excluded app holds a client secret",
        f"  fingerprint  {TAG_SYNC_MAA401}",
        "  severity     high",
        "  status       fail, counts as a failure",
        f"  resource     application Intune Tag Sync ({TAG_SYNC})",
        "  message      the excluded app holds 1 client secret(s)",
        f"  tenant       {DEMO_TENANT}",
        "  from         the demo tenant, evaluated now",
        "",
    ]
    evidence = lines.index("Evidence")
    assert lines[evidence : evidence + 6] == [
        "Evidence",
        "  secrets:",
        '    - {"object": "servicePrincipal", "kind": "clientSecret", "keyId": '
        '"bb86e96e-39df-4c4a-a65f-b876f569a6d1", "displayName": "tag-sync", '
        '"endDateTime": "2026-12-31T00:00:00Z"}',
        "  policies:",
        '    - {"id": "a44b31e5-8ba9-4337-9698-57b8e463df88", "displayName": "Apps - Windows", '
        '"policyType": "app"}',
        "",
    ]
    assert "  - Consider an app management policy that blocks new password credentials." in lines
    related = lines.index("Related objects")
    assert lines[related : related + 17] == [
        "Related objects",
        f"  application Intune Tag Sync ({TAG_SYNC}), the finding's resource",
        f"    appId                          {TAG_SYNC}",
        "    service principal              3fc16778-98a3-41cc-8ee9-84f2d6b3f410",
        "    enabled                        yes",
        "    type                           Application",
        "    registered in tenant           4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58",
        "    credentials                    1 secret(s), 0 certificate(s), 0 federated",
        "    owners                         Henrietta Mueller (user)",
        "    Graph application permissions  DeviceManagementApps.ReadWrite.All, "
        "GroupMember.ReadWrite.All",
        "  access policy Apps - Windows (a44b31e5-8ba9-4337-9698-57b8e463df88), named in the "
        "evidence (policies)",
        "    policy type                    app",
        "    platform                       windows10AndLater",
        "    approver groups                SG-Intune-MAA-Approvers "
        "(2f991ba4-2604-497e-afa9-3c9b0d4f500c)",
        "    excluded apps                  Patch My PC Cloud, Intune Tag Sync",
        "    last modified                  2026-06-12T09:14:03Z",
        "",
    ]
    reads = lines.index(
        "Graph reads (the rule needs Application.Read.All, DeviceManagementApps.Read.All, "
        "DeviceManagementRBAC.Read.All)"
    )
    assert lines[reads + 1 : reads + 4] == [
        "  access_policies (complete): DeviceManagementRBAC.Read.All",
        "    GET /beta/deviceManagement/operationApprovalPolicies",
        "    GET /beta/deviceManagement/operationApprovalPolicies/{id}",
    ]
    assert "  service_principals (complete): Application.Read.All" in lines
    assert "\x1b" not in out


def test_from_a_report_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = demo_report(tmp_path, capsys)
    document = explained(capsys, TAG_SYNC_MAA404, "--report", str(report))
    finding = document["finding"]
    assert (finding["rule_id"], finding["resource"]["id"], finding["status"]) == (
        "MAA404",
        TAG_SYNC,
        "fail",
    )
    assert finding["evidence"] == {
        "privileged_permissions": ["GroupMember.ReadWrite.All"],
        "policies": [
            {
                "id": "a44b31e5-8ba9-4337-9698-57b8e463df88",
                "displayName": "Apps - Windows",
                "policyType": "app",
            }
        ],
    }
    assert document["origin"] == f"report {report}"
    assert document["rule"]["id"] == "MAA404"
    assert document["rule"]["rationale"].startswith("These permissions reach far beyond")
    assert [(r["kind"], r["id"], r["looked_up"], r["found"]) for r in document["related"]] == [
        ("application", TAG_SYNC, False, False),
        ("object", "a44b31e5-8ba9-4337-9698-57b8e463df88", False, False),
    ]
    assert [(r["source"], r["state"], r["permissions"]) for r in document["graph_reads"]] == [
        ("access_policies", "complete", ["DeviceManagementRBAC.Read.All"]),
        (
            "exclusions",
            "complete",
            ["DeviceManagementRBAC.Read.All", "DeviceManagementApps.Read.All"],
        ),
        ("service_principals", "complete", ["Application.Read.All"]),
    ]


def test_from_a_snapshot_looks_the_objects_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile_snapshot(tmp_path)
    document = explained(capsys, "maa202:GRP-X", "--snapshot", str(path))
    assert document["finding"]["message"] == (
        "only 1 enabled member user(s) can approve; at least 2 are needed"
    )
    assert document["origin"] == f"snapshot {path}, evaluated now"
    assert document["related"] == [
        {
            "kind": "group",
            "id": "grp-x",
            "name": HOSTILE,
            "via": "the finding's resource",
            "looked_up": True,
            "found": True,
            "details": {
                "security enabled": "yes",
                "mail enabled": "no",
                "group types": "none",
                "role-assignable": "yes",
                "dynamic membership rule": "none",
                "synced from on-premises": "unknown",
                "members": "1 direct, 1 transitive",
                "owners": "none",
            },
        },
        {
            "kind": "user",
            "id": "u-1",
            "name": "u-1",
            "via": "named in the evidence (eligible_approvers)",
            "looked_up": True,
            "found": True,
            "details": {
                "user principal name": "u-1@contoso-test.example",
                "account enabled": "yes",
                "user type": "Member",
                "Intune licence": "yes",
            },
        },
    ]


def test_from_the_last_recorded_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "history.db"
    assert run(capsys, "scan", "--demo", "--record", "--history", str(history))[0] == 1
    document = explained(capsys, TAG_SYNC_MAA404[:10], "--history", str(history))
    assert document["origin"] == (f"recorded scan 1 (collected 2026-11-01T08:00:00Z) in {history}")
    assert document["finding"]["fingerprint"] == TAG_SYNC_MAA404
    assert document["finding"]["evidence"]["privileged_permissions"] == [
        "GroupMember.ReadWrite.All"
    ]
    assert document["evidence_note"] == (
        "the history keeps no evidence: this is the recorded snapshot evaluated again"
    )
    assert [(r["kind"], r["found"]) for r in document["related"]] == [
        ("application", True),
        ("access policy", True),
    ]


def test_an_empty_history_says_how_to_fill_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.db"
    assert run(capsys, "scan", "--demo", "--record", "--history", str(history))[0] == 1
    code, out, err = run(capsys, "explain", "abc", "--history", str(history), "--tenant", "other")
    assert (code, out) == (2, "")
    assert err == (
        f"error: no recorded scan of tenant other in {history}\n"
        "hint: record one with 'maa-guard scan --record', or give --report FILE, "
        "--snapshot FILE or --demo\n"
    )


def test_rule_and_resource_by_display_name(capsys: pytest.CaptureFixture[str]) -> None:
    document = explained(capsys, "MAA404:intune tag sync", "--demo")
    assert document["finding"]["fingerprint"] == TAG_SYNC_MAA404


def test_unknown_fingerprint_exits_two_with_a_close_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = demo_report(tmp_path, capsys)
    typo = TAG_SYNC_MAA404[:-1] + "9"
    code, out, err = run(capsys, "explain", typo, "--report", str(report))
    assert (code, out) == (2, "")
    assert err == (
        f"error: no finding {typo!r} in report {report}; did you mean {TAG_SYNC_MAA404!r}?\n"
        + FIND_HINT
    )


def test_unknown_rule_and_resource_suggests_the_whole_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = demo_report(tmp_path, capsys)
    code, _, err = run(capsys, "explain", "MAA404:625d2bac", "--report", str(report))
    assert code == 2
    assert err == (
        f"error: no finding 'MAA404:625d2bac' in report {report}; "
        f"did you mean 'MAA404:{TAG_SYNC}'?\n" + FIND_HINT
    )


def test_nothing_close_gives_only_the_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = demo_report(tmp_path, capsys)
    code, _, err = run(capsys, "explain", "zzzz", "--report", str(report))
    assert (code, err) == (2, f"error: no finding 'zzzz' in report {report}\n" + FIND_HINT)


def test_two_inputs_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "x", "--demo", "--report", "r.json")
    assert (code, out) == (2, "")
    assert err == "error: --report and --demo exclude each other\nhint: choose one input\n"


def test_a_file_that_is_not_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "tenant": {"id": "t"},
                "sources": {},
                "findings": [{"rule_id": "MAA101"}],
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "explain", "x", "--report", str(bad))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {bad}: not a maa-guard JSON report: tenant.display_name: expected a string\n"
        "hint: give a report written by 'maa-guard scan --output json=FILE' (or --format json)\n"
    )


def test_hostile_names_are_inert_in_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile_snapshot(tmp_path)
    code, out, _ = run(capsys, "explain", "MAA202:grp-x", "--snapshot", str(path), "--no-color")
    assert code == 0
    shown = "[bold red]Evil[/] \\x1b[2J\\u202eexe.txt |*_`"
    assert f"  resource     group {shown} (grp-x)" in out.splitlines()
    assert f"  group {shown} (grp-x), the finding's resource" in out.splitlines()
    assert "\x1b" not in out and "\u202e" not in out


def test_hostile_names_are_inert_in_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile_snapshot(tmp_path)
    code, out, _ = run(
        capsys, "explain", "MAA202:grp-x", "--snapshot", str(path), "--format", "markdown"
    )
    assert code == 0
    shown = "\\[bold red\\]Evil\\[/\\] \\\\x1b\\[2J\\\\u202eexe.txt \\|\\*\\_\\`"
    lines = out.splitlines()
    assert lines[0] == "## MAA202 too-few-approvers: Approver group has too few usable approvers"
    assert f"| resource | group {shown} (grp-x) |" in lines
    assert (
        f"- **group {shown} (grp-x)**, the finding's resource: security enabled: yes; mail "
        "enabled: no; group types: none; role-assignable: yes; dynamic membership rule: none; "
        "synced from on-premises: unknown; members: 1 direct, 1 transitive; owners: none"
    ) in lines
    assert "\x1b" not in out and "\u202e" not in out


def test_every_data_source_names_its_graph_reads_and_their_permission() -> None:
    assert set(SOURCE_READS) == set(SOURCES) == set(SOURCE_PERMISSIONS)
    unmatched = [
        (source, call)
        for source, calls in SOURCE_READS.items()
        for call in calls
        if call.startswith("GET ")
        and permission_for(call.split()[1]) not in SOURCE_PERMISSIONS[source]
    ]
    assert unmatched == []
