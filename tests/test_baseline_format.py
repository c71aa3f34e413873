"""The baseline file: version 2 keeps rule, resource and message beside each fingerprint, one
failure a line, sorted by rule and resource; version 1 (bare fingerprints) is still read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from builders import TENANT_ID, add_policy, new_snapshot

from maa_guard.cli import main

POL_A = "2fcd3de6055b8dca0271e75582691931"  # MAA103 on POL-a
POL_B = "50d09474daeb88da5e35cb9d5907aafb"  # MAA103 on pol-b
HINT = "hint: regenerate it with 'maa-guard scan --write-baseline FILE'\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


@pytest.fixture
def tenant(tmp_path: Path) -> Path:
    """Two access policies without approvers (MAA103 fails twice), written out of order; one
    name holds a right-to-left override."""
    snap = new_snapshot()
    add_policy(snap, "pol-b", approvers=(), name="Scripts \u202e")
    add_policy(snap, "POL-a", approvers=(), name="Apps")
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(snap), encoding="utf-8")
    return path


def scan(
    capsys: pytest.CaptureFixture[str], tenant: Path, *more: str
) -> tuple[int, dict[str, Any], str]:
    code = main(["scan", "--snapshot", str(tenant), "--rule", "MAA103", "--format", "json", *more])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else {}, err


def baselined(report: dict[str, Any]) -> dict[str, bool]:
    return {f["resource"]["id"]: f["baselined"] for f in report["findings"]}


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_the_written_baseline_is_reviewable(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    assert scan(capsys, tenant, "--write-baseline", str(baseline))[0] == 1
    message = "the access policy has no approver group"
    assert baseline.read_text(encoding="utf-8") == (
        "{\n"
        '  "schema_version": 2,\n'
        '  "tool": "maa-guard",\n'
        f'  "tenant_id": "{TENANT_ID}",\n'
        '  "findings": [\n'
        '    {"rule_id": "MAA103", "resource": {"type": "accessPolicy", "id": "POL-a", '
        f'"display_name": "Apps"}}, "message": "{message}", "fingerprint": "{POL_A}"}},\n'
        '    {"rule_id": "MAA103", "resource": {"type": "accessPolicy", "id": "pol-b", '
        f'"display_name": "Scripts \\u202e"}}, "message": "{message}", '
        f'"fingerprint": "{POL_B}"}}\n'
        "  ]\n"
        "}\n"
    )
    entries = json.loads(baseline.read_text(encoding="utf-8"))["findings"]
    assert entries[1]["resource"]["display_name"] == "Scripts \u202e"


def test_a_written_baseline_makes_the_same_scan_pass(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    scan(capsys, tenant, "--write-baseline", str(baseline))
    code, report, err = scan(capsys, tenant, "--baseline", str(baseline))
    assert (code, err) == (0, "")
    assert baselined(report) == {"POL-a": True, "pol-b": True}


def test_a_version_1_baseline_is_still_read(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(
        tmp_path / "old.json",
        {"schema_version": 1, "tool": "maa-guard", "tenant_id": TENANT_ID, "fingerprints": [POL_A]},
    )
    code, report, _ = scan(capsys, tenant, "--baseline", str(old))
    assert code == 1
    assert baselined(report) == {"POL-a": True, "pol-b": False}


def test_a_baseline_without_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = new_snapshot()
    path = write(tmp_path / "empty.json", snap)
    baseline = tmp_path / "baseline.json"
    main(["scan", "--snapshot", str(path), "--rule", "MAA103", "--write-baseline", str(baseline)])
    capsys.readouterr()
    assert json.loads(baseline.read_text(encoding="utf-8"))["findings"] == []


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"schema_version": 3, "findings": []}, "schema_version: expected 1 or 2"),
        ({"schema_version": 2, "fingerprints": [POL_A]}, "findings: expected a list"),
        (
            {"schema_version": 2, "findings": [{"fingerprint": POL_A}, {"rule_id": "MAA103"}]},
            "findings[1]: expected an object with a fingerprint",
        ),
        (
            {"schema_version": 2, "findings": [POL_A]},
            "findings[0]: expected an object with a fingerprint",
        ),
        (
            {"schema_version": 1, "fingerprints": [{"fingerprint": POL_A}]},
            "fingerprints: expected a list of strings",
        ),
    ],
)
def test_a_malformed_baseline_exits_two(
    tmp_path: Path,
    tenant: Path,
    capsys: pytest.CaptureFixture[str],
    document: dict[str, Any],
    problem: str,
) -> None:
    bad = write(tmp_path / "bad.json", document)
    code, report, err = scan(capsys, tenant, "--baseline", str(bad))
    assert (code, report) == (2, {})
    assert err == f"error: {bad}: {problem}\n" + HINT
