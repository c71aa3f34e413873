"""Golden diff output (terminal, JSON, Markdown) for a drift in every category, with tenant
strings that try to style the terminal, forge Markdown and open HTML tags.

Rerun with UPDATE_GOLDEN=1 when a change to the output is intended.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from builders import (
    add_policy,
    add_sp,
    add_user,
    approver_group,
    certificate,
    exclusion,
    new_snapshot,
    registration,
    scan,
    secret,
    user_ref,
)

from maa_guard.history.diff import compute_drift
from maa_guard.history.drift import Drift, ScanSide
from maa_guard.history.records import StoredFinding
from maa_guard.history.render import DIFF_JSON_VERSION, DiffFormat, render_drift

GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_NAMES = {
    DiffFormat.TABLE: "diff-report.txt",
    DiffFormat.JSON: "diff-report.json",
    DiffFormat.MARKDOWN: "diff-report.md",
}
ANSI = "\x1b[2J"
MARKUP = "[bold red]x[/]"
PIPE = "| pipe *bold* `code`"
SCRIPT = "<script>alert(1)</script>"


def before_tenant() -> dict[str, Any]:
    snap = new_snapshot()
    snap["tenant"]["display_name"] = f"Contoso {SCRIPT}"
    approver_group(snap, "grp-approvers", users=("u-1", "u-2"))
    add_policy(snap, "pol-apps", "app", ["grp-approvers"], name="Apps", exclusions=["app-deployer"])
    add_policy(snap, "pol-scripts", "script", ["grp-approvers"], name="Scripts")
    add_policy(snap, "pol-config", "configurationPolicy", [], name="Configuration")
    add_sp(
        snap,
        "app-deployer",
        name=f"Deployer {MARKUP}",
        secrets=[secret("key-1")],
        application=registration(
            "app-deployer", certificates=[certificate("cert-1")], federated=True
        ),
    )
    add_sp(snap, "app-reporter", name=f"=HYPERLINK {PIPE}", secrets=[secret("key-r")])
    return snap


def after_tenant() -> dict[str, Any]:
    snap = copy.deepcopy(before_tenant())
    snap["collected_at"] = snap["window"]["end"] = "2026-11-08T08:00:00Z"
    apps = snap["policies"][0]
    apps["displayName"] = f"Apps {PIPE}"
    apps["exclusions"].append(exclusion("app-reporter", "audit-log"))
    configuration = snap["policies"][2]
    configuration["approverGroupIds"] = ["grp-approvers"]
    snap["policies"] = [apps, configuration]
    add_policy(snap, "pol-wipe", "deviceWipe", ["grp-approvers"], name="Wipe")
    add_user(snap, "u-3")
    snap["users"][-1]["userPrincipalName"] = f"{ANSI}mallory@contoso-test.example"
    group = snap["groups"][0]
    group["members"] = group["transitiveMembers"] = [user_ref("u-1"), user_ref("u-3")]
    deployer = snap["service_principals"][0]
    deployer["passwordCredentials"].append(secret("key-2", end="2028-01-01T00:00:00Z"))
    deployer["application"]["keyCredentials"][0]["endDateTime"] = "2029-01-01T00:00:00Z"
    deployer["application"]["federatedIdentityCredentials"][0]["subject"] = f"repo:x/y {ANSI}"
    return snap


def side(snap: dict[str, Any], scan_id: int) -> ScanSide:
    result = scan(snap)
    findings = tuple(StoredFinding.of(f) for f in result.findings)
    return ScanSide(result.snapshot, findings, scan_id=scan_id, tool_version="0.1.0")


def golden_drift() -> Drift:
    return compute_drift(side(before_tenant(), 3), side(after_tenant(), 4))


@pytest.mark.parametrize("output_format", list(DiffFormat), ids=str)
def test_diff_matches_its_golden_file(output_format: DiffFormat) -> None:
    text = render_drift(golden_drift(), output_format)
    path = GOLDEN / GOLDEN_NAMES[output_format]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes() == text.encode("utf-8"), (
        f"{path.name} differs; if the change is intended, rerun with UPDATE_GOLDEN=1"
    )


def test_the_golden_drift_covers_every_category() -> None:
    drift = golden_drift()
    assert [p.id for p in drift.policies_added] == ["pol-wipe"]
    assert [p.id for p in drift.policies_removed] == ["pol-scripts"]
    assert [c.id for c in drift.policies_changed] == ["pol-apps", "pol-config"]
    assert [m.member_id for m in drift.approvers_added] == ["u-3"]
    assert [m.member_id for m in drift.approvers_removed] == ["u-2"]
    assert [e.app_id for e in drift.exclusions_added] == ["app-reporter"]
    assert [c.credential_id for c in drift.credentials_added] == ["key-2"]
    assert [c.after.credential_id for c in drift.credentials_changed] == [
        "cert-1",
        "github-main",
    ]
    assert drift.findings_new
    assert [(f.rule_id, f.resource_id) for f in drift.findings_resolved] == [
        ("MAA103", "pol-config")
    ]


def test_the_terminal_output_holds_no_escape_sequence_and_no_markup_from_the_tenant() -> None:
    text = render_drift(golden_drift(), DiffFormat.TABLE)
    assert "\x1b" not in text
    assert "\\x1b[2Jmallory@contoso-test.example" in text
    assert "Deployer [bold red]x[/]" in text


def test_colour_comes_only_from_maa_guard() -> None:
    text = render_drift(golden_drift(), DiffFormat.TABLE, color=True)
    assert "\x1b[2J" not in text
    assert re.search(r"\x1b\[[0-9;]*m", text)


def test_markdown_cells_cannot_break_the_table_or_open_tags() -> None:
    text = render_drift(golden_drift(), DiffFormat.MARKDOWN)
    assert SCRIPT not in text
    assert "&lt;script&gt;" in text
    assert "Apps \\| pipe \\*bold\\* \\`code\\`" in text
    assert "\x1b" not in text


def test_json_keeps_the_exact_strings_and_names_its_version() -> None:
    data = json.loads(render_drift(golden_drift(), DiffFormat.JSON))
    assert (data["kind"], data["version"]) == ("maa-guard-diff", DIFF_JSON_VERSION)
    assert data["tenant"]["display_name"] == f"Contoso {SCRIPT}"
    assert data["approver_members"]["added"][0]["member_name"] == (
        f"{ANSI}mallory@contoso-test.example"
    )
    assert data["before"] == {
        "scan_id": 3,
        "path": None,
        "collected_at": "2026-11-01T08:00:00Z",
        "tool_version": "0.1.0",
    }
    assert (data["drift"], data["fails"]) == (True, True)
