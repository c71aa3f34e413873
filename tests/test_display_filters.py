"""Display filters: `scan --severity / --status / --resource` and `impact --verdict / --resource`
narrow what is shown and written, never the exit code or the summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from builders import add_policy, approver_group, new_snapshot, set_source
from test_reporters_support import report_schema_validator

from maa_guard.cli import main
from maa_guard.cli.impact import VERDICTS
from maa_guard.impact.model import Verdict

TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"
PATCH_MY_PC = "350f6c08-5658-4455-a594-a9245970fd44"
MISSING_APP = "a9eba204-80b1-482f-950c-511b726c5faf"
APPS_WINDOWS = "a44b31e5-8ba9-4337-9698-57b8e463df88"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *filters: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, "scan", "--demo", "--format", "json", *filters)
    document: dict[str, Any] = json.loads(out)
    report_schema_validator().validate(document)
    return code, document


def shown(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["rule_id"], f["resource"]["id"], f["status"]) for f in document["findings"]}


def test_severity_is_that_severity_and_above(capsys: pytest.CaptureFixture[str]) -> None:
    code, document = scan_json(capsys, "--severity", "critical", "--status", "fail")
    assert code == 1
    assert shown(document) == {
        ("MAA103", "689b3b31-e861-4dda-8a94-465679af7194", "fail"),
        ("MAA201", "4d6a4924-0222-4489-9a66-8f941ac281e4", "fail"),
        ("MAA301", "9ac305b1-fb94-4883-99fa-e63ec807c77d", "fail"),
        ("MAA302", "c457bb01-8750-4d93-9693-0e3c0f6ec116", "fail"),
        ("MAA404", TAG_SYNC, "fail"),
        ("MAA404", "bab23660-1abd-4475-86b6-29f7edd03121", "fail"),
    }
    assert document["display_filter"] == {
        "severity": "critical",
        "status": ["fail"],
        "resource": None,
        "framework": None,
        "shown": 6,
        "total": 163,
    }


def test_status_is_repeatable(capsys: pytest.CaptureFixture[str]) -> None:
    code, document = scan_json(capsys, "--status", "skipped", "--status", "error")
    assert code == 1
    assert shown(document) == {
        ("MAA401", PATCH_MY_PC, "skipped"),
        ("MAA401", MISSING_APP, "skipped"),
        ("MAA402", MISSING_APP, "skipped"),
        ("MAA403", PATCH_MY_PC, "skipped"),
        ("MAA403", MISSING_APP, "skipped"),
        ("MAA404", MISSING_APP, "skipped"),
        ("MAA405", PATCH_MY_PC, "skipped"),
        ("MAA405", MISSING_APP, "skipped"),
        ("MAA406", MISSING_APP, "skipped"),
    }


def test_resource_matches_id_or_name_ignoring_case(capsys: pytest.CaptureFixture[str]) -> None:
    by_name = scan_json(capsys, "--resource", "TAG sync")[1]
    by_id = scan_json(capsys, "--resource", TAG_SYNC[:8].upper())[1]
    expected = {
        ("MAA401", TAG_SYNC, "fail"),
        ("MAA402", TAG_SYNC, "pass"),
        ("MAA403", TAG_SYNC, "fail"),
        ("MAA404", TAG_SYNC, "fail"),
        ("MAA405", TAG_SYNC, "fail"),
        ("MAA406", TAG_SYNC, "pass"),
        ("MAA407", TAG_SYNC, "fail"),
        ("MAA408", f"{APPS_WINDOWS}/{TAG_SYNC}", "fail"),
        ("MAA409", f"{APPS_WINDOWS}/{TAG_SYNC}", "pass"),
    }
    assert shown(by_name) == expected
    assert shown(by_id) == expected


def test_filters_never_change_the_exit_code_or_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, everything = scan_json(capsys)
    for filters in (["--status", "pass"], ["--severity", "low"], ["--resource", "nothing-like"]):
        filtered_code, filtered = scan_json(capsys, *filters)
        assert (filtered_code, filtered["summary"]) == (code, everything["summary"])
    assert code == 1
    assert scan_json(capsys, "--resource", "nothing-like")[1]["findings"] == []
    assert "display_filter" not in everything


def test_terminal_says_how_many_findings_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "scan", "--demo", "--format", "table", "--severity", "high", "--resource", "tag"
    )
    assert code == 1
    assert out.splitlines()[-2:] == [
        "27 rules, 163 checks: 103 pass, 51 fail, 0 error, 9 skipped (0 suppressed, 0 "
        "baselined, 51 counted failures)",
        "5 of 163 findings shown (severity high and above, resource contains 'tag')",
    ]


def test_a_hidden_error_still_exits_three_and_fails_the_sarif_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-apps")
    set_source(snap, "conditional_access", "failed", "HTTP 403", "Policy.Read.All")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(snap), encoding="utf-8")
    sarif = tmp_path / "out.sarif"
    code, out, _ = run(
        capsys,
        "scan",
        "--snapshot",
        str(path),
        "--format",
        "json",
        "--rule",
        "MAA103",
        "--rule",
        "MAA402",
        "--status",
        "pass",
        "--output",
        f"sarif={sarif}",
    )
    document = json.loads(out)
    assert code == 3
    assert shown(document) == {("MAA103", "pol-apps", "pass")}
    assert document["summary"]["verdict"] == "incomplete"
    run_ = json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]
    assert run_["results"] == []
    assert run_["invocations"][0]["executionSuccessful"] is False


def test_the_baseline_keeps_every_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    code, _ = scan_json(capsys, "--status", "pass", "--write-baseline", str(baseline))
    written = json.loads(baseline.read_text(encoding="utf-8"))
    assert code == 1
    assert len(written["findings"]) == 51


def test_bad_filter_values_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["scan", "--demo", "--status", "failed"])
    out, err = capsys.readouterr()
    assert (caught.value.code, out) == (2, "")
    assert err.splitlines()[-1] == (
        "maa-guard scan: error: argument --status: invalid choice: 'failed' (choose from "
        "'fail', 'error', 'pass', 'skipped'); did you mean 'fail'?"
    )


# ---- impact ---------------------------------------------------------------------------------


def impact_rows(capsys: pytest.CaptureFixture[str], *filters: str) -> tuple[int, list[str], str]:
    code, out, err = run(capsys, "impact", "--demo", "--format", "json", *filters)
    return code, [row["app_id"] for row in json.loads(out)["rows"]], err


def test_impact_verdict_and_resource_filters(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, err = impact_rows(capsys, "--verdict", "excluded", "--resource", "SYNC")
    assert (code, rows) == (1, ["7a224edb-3158-4922-8744-7709d16458ee"])
    assert err == "1 of 8 apps shown; the exit code (1) counts every app\n"
    code, rows, _ = impact_rows(capsys, "--verdict", "inactive", "--verdict", "maa-aware")
    assert (code, rows) == (
        1,
        [
            "688ffb37-753c-4b0b-be68-3dca10bb123f",
            TAG_SYNC,
            "e5aed320-6fa0-486f-875d-607dbb17aec0",
        ],
    )
    code, rows, err = impact_rows(capsys)
    assert (code, len(rows), err) == (1, 8, "")


def test_impact_verdict_choices_are_the_verdicts() -> None:
    assert tuple(verdict.value for verdict in Verdict) == VERDICTS


def test_markdown_says_how_many_findings_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "scan", "--demo", "--format", "markdown", "--status", "error", "--resource", "x_y"
    )
    assert code == 1
    assert "0 of 163 findings shown (status error, resource contains 'x\\_y')" in out.splitlines()
    assert "### Failing findings\n\nNone." in out
