"""A suppression that matches no failing finding is a warning, as Trivy reports unused ignores:
in the terminal, JSON ``warnings`` and SARIF notifications, naming its rule and resource."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from builders import add_policy, approver_group, new_snapshot, set_source

from maa_guard.cli import main


def unused(rule: str, resource: str) -> str:
    return (
        f"suppression of {rule} for {resource} suppresses nothing: the scan has no failing "
        "finding of that rule on that resource; remove it from the configuration"
    )


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


@pytest.fixture
def tenant(tmp_path: Path) -> Path:
    """pol-bad has no approver group (MAA103 fails); pol-ok has one (MAA103 passes)."""
    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-bad", approvers=())
    add_policy(snap, "pol-ok")
    set_source(snap, "conditional_access", "failed", "HTTP 403", "Policy.Read.All")
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(snap), encoding="utf-8")
    return path


def suppress(tmp_path: Path, *entries: tuple[str, str]) -> None:
    text = "".join(
        f"[[suppressions]]\nrule = '{rule}'\nresource = '{resource}'\n"
        "reason = 'accepted'\nexpires = 2999-01-01\n"
        for rule, resource in entries
    )
    (tmp_path / "maa-guard.toml").write_text(text, encoding="utf-8")


def scan(capsys: pytest.CaptureFixture[str], tenant: Path, *more: str) -> tuple[int, str, str]:
    code = main(["scan", "--snapshot", str(tenant), *more])
    out, err = capsys.readouterr()
    return code, out, err


def test_unused_suppressions_are_warnings_in_json(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suppress(
        tmp_path,
        ("MAA103", "POL-BAD"),  # used: the failure is suppressed
        ("MAA103", "pol-ok"),  # the finding passes now
        ("MAA103", "pol-gone"),  # no such resource
        ("MAA202", "grp-approvers"),  # a rule this scan does not run: no warning
    )
    code, out, err = scan(capsys, tenant, "--rule", "MAA103", "--format", "json")
    report: dict[str, Any] = json.loads(out)
    assert code == 0
    assert report["warnings"] == [unused("MAA103", "pol-gone"), unused("MAA103", "pol-ok")]
    assert err == "".join(f"warning: {text}\n" for text in report["warnings"])


def test_no_warning_where_the_rule_could_not_verify(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suppress(tmp_path, ("MAA402", "some-app"), ("MAA103", "pol-gone"))
    code, out, _ = scan(capsys, tenant, "--rule", "MAA402", "--rule", "MAA103", "--format", "json")
    report = json.loads(out)
    assert code == 1  # MAA103 fails on pol-bad; MAA402 could not verify
    assert [f["status"] for f in report["findings"] if f["rule_id"] == "MAA402"] == ["error"]
    assert report["warnings"] == [unused("MAA103", "pol-gone")]


def test_unused_suppression_in_the_terminal_and_sarif(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suppress(tmp_path, ("MAA103", "pol-gone"))
    sarif = tmp_path / "out.sarif"
    code, out, err = scan(
        capsys, tenant, "--rule", "MAA103", "--format", "table", "--output", f"sarif={sarif}"
    )
    assert (code, err) == (1, "")
    assert f"warning: {unused('MAA103', 'pol-gone')}" in " ".join(out.split())
    notifications = json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]["invocations"][0][
        "toolExecutionNotifications"
    ]
    assert {
        "level": "warning",
        "message": {"text": unused("MAA103", "pol-gone")},
        "descriptor": {"id": "maa-guard/warning"},
    } in notifications


def test_a_used_suppression_says_nothing(
    tmp_path: Path, tenant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suppress(tmp_path, ("MAA103", "pol-bad"))
    code, out, err = scan(capsys, tenant, "--rule", "MAA103", "--format", "json")
    assert (code, err, json.loads(out)["warnings"]) == (0, "", [])
