"""The command line end to end: exit-code matrix, outputs, baseline, suppressions, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from builders import add_policy, approver_group, new_snapshot, set_source

from maa_guard.cli import main
from maa_guard.scan.served import demo_path

DEMO = demo_path("snapshot.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def clean_tenant(tmp_path: Path) -> Path:
    """One policy with a healthy approver group: MAA103 passes."""
    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-apps")
    return write(tmp_path / "clean.json", snap)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No maa-guard.toml or MAA_GUARD_* from the developer's environment leaks in."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


def test_demo_scan_fails_on_high_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", "--demo")
    report = json.loads(out)
    assert code == 1
    assert report["tenant"]["display_name"] == "Contoso Demo"
    assert err == ""


def test_passing_scan_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "scan", "--snapshot", str(clean_tenant(tmp_path)), "--rule", "MAA103"
    )
    assert code == 0
    statuses = {
        (f["rule_id"], f["resource"]["id"], f["status"]) for f in json.loads(out)["findings"]
    }
    assert statuses == {("MAA103", "pol-apps", "pass")}


def test_fail_on_threshold_decides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-apps", platform="windows10AndLater")
    path = write(tmp_path / "t.json", snap)
    # MAA102 is medium: fails at --fail-on medium, passes the gate at high.
    assert run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA102")[0] == 0
    assert (
        run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA102", "--fail-on", "medium")[0]
        == 1
    )
    assert (
        run(
            capsys,
            "scan",
            "--snapshot",
            str(path),
            "--rule",
            "MAA102",
            "--fail-on",
            "medium",
            "--exit-zero",
        )[0]
        == 0
    )


def test_incomplete_source_exits_three(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-apps")
    set_source(
        snap,
        "groups",
        "failed",
        "403 Authorization_RequestDenied",
        missing_permission="GroupMember.Read.All",
    )
    path = write(tmp_path / "t.json", snap)
    code, out, _ = run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA201")
    (finding,) = json.loads(out)["findings"]
    assert code == 3
    assert finding["status"] == "error"
    assert finding["message"] == (
        "could not verify: groups is failed (403 "
        "Authorization_RequestDenied); missing permission "
        "GroupMember.Read.All"
    )
    assert (
        run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA201", "--allow-incomplete")[0]
        == 0
    )
    assert run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA201", "--exit-zero")[0] == 3


def test_failures_win_over_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = new_snapshot()
    add_policy(snap, "pol-apps", approvers=())
    set_source(snap, "groups", "partial", "paging stopped")
    path = write(tmp_path / "t.json", snap)
    assert (
        run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA103", "--rule", "MAA201")[0] == 1
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan"], "error: no input: give --snapshot FILE, --demo, or --auth"),
        (
            ["scan", "--demo", "--snapshot", "x.json"],
            "error: --demo, --snapshot and live collection",
        ),
        (["scan", "--snapshot", "missing.json"], "error: snapshot file missing.json not found"),
        (
            ["scan", "--demo", "--output", "pdf=x.pdf"],
            "error: --output 'pdf=x.pdf': unknown format",
        ),
        (
            ["scan", "--demo", "--output", "json"],
            "error: --output 'json': cannot tell the format from the file name",
        ),
        (["scan", "--demo", "--rule", "MAA999"], "error: command line: rules: unknown rule MAA999"),
        (["scan", "--demo", "--config", "none.toml"], "error: config file none.toml not found"),
        (["scan", "--demo", "--baseline", "none.json"], "error: baseline file none.json not found"),
        (["rules", "show", "MAA000"], "error: unknown rule 'MAA000'"),
        (["scan", "--demo", "--rule", "MAA1", "--skip-rule", "MAA1"], "error: command line: rules"),
        (
            ["scan", "--demo", "--rule", "MAA101", "--skip-rule", "MAA101"],
            "error: no rule is selected",
        ),
    ],
)
def test_usage_errors_exit_two(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.splitlines()[0].startswith(message)
    assert err.splitlines()[1].startswith("hint: ")
    assert out == ""


def test_argparse_errors_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["scan", "--fail-on", "severe"])
    assert caught.value.code == 2
    assert "invalid choice: 'severe'" in capsys.readouterr().err


def test_bad_config_key_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "maa-guard.toml").write_text("[scan]\nfail_onn = 'high'\n")
    code, _, err = run(capsys, "scan", "--snapshot", str(clean_tenant(tmp_path)))
    assert code == 2
    assert "error: " + str(tmp_path / "maa-guard.toml") + ": unknown key scan.fail_onn" in err


def test_outputs_are_written_only_after_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = write(tmp_path / "broken.json", {"schema_version": 1, "tenant": []})
    code, _, err = run(
        capsys, "scan", "--snapshot", str(broken), "--output", f"sarif={tmp_path / 'a.sarif'}"
    )
    assert code == 2
    assert "broken.json: tenant: expected an object, got a list" in err
    assert not (tmp_path / "a.sarif").exists()
    code, _, _ = run(
        capsys,
        "scan",
        "--demo",
        "--format",
        "csv",
        "--output",
        f"sarif={tmp_path / 'out' / 'a.sarif'}",
        "--output",
        f"junit={tmp_path / 'a.xml'}",
        "--output",
        f"html={tmp_path / 'a.html'}",
    )
    assert code == 1
    sarif = json.loads((tmp_path / "out" / "a.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert (tmp_path / "a.xml").read_text().startswith("<?xml")
    assert "<html" in (tmp_path / "a.html").read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.sarif"]


def test_baseline_makes_the_same_scan_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    assert run(capsys, "scan", "--demo", "--write-baseline", str(baseline))[0] == 1
    document = json.loads(baseline.read_text())
    assert document["tenant_id"] == "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"
    code, out, _ = run(capsys, "scan", "--demo", "--baseline", str(baseline))
    assert code == 0
    failing = [f for f in json.loads(out)["findings"] if f["status"] == "fail"]
    assert failing and all(f["baselined"] for f in failing)
    assert {f["fingerprint"] for f in failing} == {e["fingerprint"] for e in document["findings"]}


def test_malformed_baseline_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "b.json", {"schema_version": 1, "fingerprints": "x"})
    code, _, err = run(capsys, "scan", "--demo", "--baseline", str(bad))
    assert code == 2
    assert "b.json: fingerprints: expected a list of strings" in err


def test_suppression_and_its_expiry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = new_snapshot()
    add_policy(snap, "pol-apps", approvers=())
    path = write(tmp_path / "t.json", snap)
    config = tmp_path / "maa-guard.toml"
    entry = "[[suppressions]]\nrule = 'MAA103'\nresource = 'POL-APPS'\nreason = 'being rebuilt'\n"
    config.write_text(entry + "expires = 2999-01-01\n")
    code, out, err = run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA103")
    (finding,) = json.loads(out)["findings"]
    assert (code, err) == (0, "")
    assert finding["suppression"] == {
        "reason": "being rebuilt",
        "expires": "2999-01-01",
        "expired": False,
    }
    config.write_text(entry + "expires = 2020-01-01\n")
    code, out, err = run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA103")
    assert code == 1
    assert err == (
        "warning: suppression of MAA103 for POL-APPS expired on 2020-01-01; "
        "the finding counts again\n"
    )


def test_environment_and_flags_precedence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-apps", platform="windows10AndLater")
    path = write(tmp_path / "t.json", snap)
    (tmp_path / "maa-guard.toml").write_text("[scan]\nfail_on = 'critical'\n")
    monkeypatch.setenv("MAA_GUARD_FAIL_ON", "medium")
    assert run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA102")[0] == 1
    assert (
        run(capsys, "scan", "--snapshot", str(path), "--rule", "MAA102", "--fail-on", "high")[0]
        == 0
    )


def test_inventory_tree_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inventory", "--demo", "--format", "json")
    data = json.loads(out)
    assert code == 0
    names = [p["displayName"] for p in data["policies"]]
    assert len(names) == len(json.loads(DEMO.read_text())["policies"])
    code, tree, _ = run(capsys, "inventory", "--demo", "--format", "table", "--no-color")
    assert code == 0
    assert all(name in tree for name in names)
    assert "\x1b" not in tree


def test_rules_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "list", "--format", "json")
    rules = json.loads(out)
    assert code == 0
    assert rules[0]["id"] == "MAA101" and rules[-1]["id"] == "MAA502"
    assert rules[15]["slug"] == "approver-outside-approver-group"


def test_rules_show_by_slug(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "show", "excluded-app-client-secret")
    assert code == 0
    assert out.startswith("# MAA401 `excluded-app-client-secret`: ")


def test_module_entry_point_and_no_traceback(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.json", {"schema_version": 1, "tool_version": "x", "collected_at": 5}
    )
    finished = subprocess.run(
        [sys.executable, "-m", "maa_guard", "scan", "--snapshot", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        f"error: {bad}: collected_at: expected an ISO 8601 date-time with a time zone, "
        "got a number",
        "hint: re-collect the snapshot, or check it against docs/snapshot.md",
    ]
    assert "Traceback" not in finished.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == "maa-guard 0.1.0\n"


def test_unwritable_or_repeated_outputs_exit_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "scan", "--demo", "--output", f"json={tmp_path}")
    assert code == 2
    assert err.startswith(f"error: cannot write {tmp_path}: ")
    code, _, err = run(
        capsys, "scan", "--demo", "--output", "json=same.out", "--output", "sarif=./same.out"
    )
    assert (code, err.splitlines()[0]) == (2, "error: two --output options name the same file")
    assert not (tmp_path / "same.out").exists()


def test_reports_get_ordinary_file_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = os.umask(0o022)
    try:
        run(capsys, "scan", "--demo", "--output", f"json={tmp_path / 'r.json'}")
    finally:
        os.umask(mask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_sarif_written_by_the_cli_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    run(capsys, "scan", "--demo", "--output", f"sarif={tmp_path / 'r.sarif'}")
    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(json.loads((tmp_path / "r.sarif").read_text()), schema)


def test_a_closed_pipe_keeps_the_verdict(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "maa_guard", "scan", "--demo", "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(10)
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait() == 1
    assert "Traceback" not in error
