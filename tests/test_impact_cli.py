"""`maa-guard impact` on the command line: inputs, outputs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import Json, add_event, add_policy, new_snapshot, set_source
from test_impact_support import report_of, verdict_tenant

from maa_guard.cli import main
from maa_guard.impact.render import ImpactFormat, render


def snapshot_file(tmp_path: Path, snap: Json, name: str = "tenant.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(snap), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["impact", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def no_config_around(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def excluded_only() -> Json:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["app-w"])
    add_event(snap, "app-w", "Create MobileApp")
    return snap


def test_exit_1_when_an_app_will_be_blocked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot_file(tmp_path, verdict_tenant())
    code, out, err = run(capsys, "--snapshot", str(path), "--format", "json")
    assert (code, err) == (1, "")
    assert out == render(report_of(verdict_tenant()), ImpactFormat.JSON)


def test_exit_0_when_nothing_will_be_blocked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot_file(tmp_path, excluded_only())
    code, out, _ = run(capsys, "--snapshot", str(path), "--format", "csv")
    assert code == 0
    assert out.splitlines()[1].startswith("excluded,app-w,")


def test_exit_3_when_a_source_could_not_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = excluded_only()
    set_source(snap, "exclusions", "partial", "audit-log exclusions: HTTP 429")
    path = snapshot_file(tmp_path, snap)
    code, out, err = run(capsys, "--snapshot", str(path), "--format", "json")
    document = json.loads(out)
    assert (code, document["complete"], document["exit_code"]) == (3, False, 3)
    assert document["rows"][0]["unverified"] == ["excluded", "verdict"]
    assert err == "warning: incomplete: exclusions is partial (audit-log exclusions: HTTP 429)\n"


def test_the_table_says_incomplete_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = excluded_only()
    set_source(snap, "audit_events", "failed", "HTTP 403")
    path = snapshot_file(tmp_path, snap)
    code, out, err = run(capsys, "--snapshot", str(path), "--format", "table")
    assert (code, err) == (3, "")
    assert "excluded (unverified)" in out
    assert "incomplete: audit_events is failed (HTTP 403)" in out
    assert out.endswith(
        "no app will be blocked by MAA; INCOMPLETE: a data source could not be read, so apps "
        "may be missing (exit 3)\n"
    )


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--demo", "--format", "json")
    rows = [(r["display_name"], r["verdict"]) for r in json.loads(out)["rows"]]
    assert code == 1
    assert rows == [
        ("Contoso Helpdesk Portal", "will-be-blocked"),
        ("Patch My PC Cloud", "excluded"),
        ("Autopilot Sync Runbook", "excluded"),
        ("Remediation Script Publisher", "excluded"),
        ("Offboarding Logic App", "excluded"),
        ("Legacy Intune Reporting Tool", "inactive"),
        ("Intune Tag Sync", "inactive"),
        ("Contoso Config-as-Code Pipeline", "maa-aware"),
    ]


def test_days_narrows_a_snapshots_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot_file(tmp_path, verdict_tenant())
    code, out, _ = run(capsys, "--snapshot", str(path), "--days", "5", "--format", "json")
    document = json.loads(out)
    assert document["window"] == {"start": "2026-10-27T08:00:00Z", "end": "2026-11-01T08:00:00Z"}
    assert [(r["app_id"], r["verdict"]) for r in document["rows"]] == [
        ("app-vendor", "excluded"),
        ("app-reader", "inactive"),  # signed in on 25 October: now before the window
        ("app-dormant", "inactive"),
        ("app-store", "read-only"),  # its writes are older than five days
        ("app-orchestrator", "maa-aware"),
    ]
    assert code == 0


# ---- outputs -------------------------------------------------------------------------------


def test_several_outputs_and_an_empty_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot_file(tmp_path, verdict_tenant())
    code, out, err = run(
        capsys,
        "--snapshot",
        str(path),
        "-o",
        "impact.html",
        "-o",
        "csv=out/impact.data",
        "--output",
        "report.JSON",
        "-o",
        "summary.txt",
    )
    report = report_of(verdict_tenant())
    written = ("impact.html", "out/impact.data", "report.JSON", "summary.txt")
    assert (code, out, err) == (1, "", "".join(f"wrote {name}\n" for name in written))
    assert (tmp_path / "impact.html").read_bytes() == render(report, ImpactFormat.HTML).encode()
    assert (tmp_path / "out/impact.data").read_bytes() == render(report, ImpactFormat.CSV).encode()
    assert (tmp_path / "report.JSON").read_bytes() == render(report, ImpactFormat.JSON).encode()
    assert (tmp_path / "summary.txt").read_bytes() == render(report, ImpactFormat.TABLE).encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "impact.html",
        "out",
        "report.JSON",
        "summary.txt",
        "tenant.json",
    ]


def test_format_and_output_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot_file(tmp_path, excluded_only())
    code, out, _ = run(capsys, "--snapshot", str(path), "--format", "csv", "-o", "x.json")
    assert code == 0
    assert out.startswith("verdict,app_id,")
    assert json.loads((tmp_path / "x.json").read_text())["rows"][0]["app_id"] == "app-w"


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (
            ["-o", "impact.xlsx"],
            "error: -o 'impact.xlsx': cannot tell the format from the file name",
            "hint: write FORMAT=FILE, with FORMAT one of table, json, csv, html, or end the "
            "name in .json, .html, .htm, .csv or .txt",
        ),
        (["-o", "html="], "error: -o 'html=': no file after '='", "hint: e.g. -o html=impact.html"),
        (["-o", ""], "error: -o needs a file name", "hint: e.g. -o impact.html"),
        (
            ["-o", "a.json", "-o", "json=a.json"],
            "error: two -o options name the same file",
            "hint: give each report its own file",
        ),
        (
            ["--days", "31"],
            "error: --days 31 is longer than the snapshot's audit window (30 days)",
            "hint: collect a new snapshot with a longer --days, or ask for fewer days",
        ),
        (
            ["--demo"],
            "error: --demo, --snapshot and live collection (--auth, --graph-endpoint) exclude "
            "each other",
            "hint: choose one input",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
    hint: str,
) -> None:
    path = snapshot_file(tmp_path, verdict_tenant())
    code, out, err = run(capsys, "--snapshot", str(path), *argv)
    assert (code, out, err) == (2, "", f"{message}\n{hint}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["tenant.json"]


def test_a_malformed_snapshot_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema_version": 1, "policies": [', encoding="utf-8")
    code, out, err = run(capsys, "--snapshot", str(path), "-o", "x.html")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: not valid JSON")
    assert not (tmp_path / "x.html").exists()


def test_no_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--format", "json")
    assert code == 2
    assert err.startswith("error: no input: give --snapshot FILE, --demo")


def test_an_unwritable_output_leaves_no_file_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot_file(tmp_path, verdict_tenant())
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    code, out, err = run(
        capsys, "--snapshot", str(path), "-o", "good.json", "-o", "blocker/bad.html"
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: cannot write blocker/bad.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "tenant.json"]


def test_declared_exclusions_come_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", name="Apps")
    add_event(snap, "app-w", "Create MobileApp")
    path = snapshot_file(tmp_path, snap)
    (tmp_path / "maa-guard.toml").write_text(
        '[[exclusions]]\npolicy = "Apps"\napp = "app-w"\nowner = "o@x.example"\n'
        'reason = "vendor tool"\nreview_by = 2027-01-01\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "--snapshot", str(path), "--format", "json")
    (row,) = json.loads(out)["rows"]
    assert (code, row["verdict"], row["declared_only"]) == (
        1,
        "will-be-blocked",
        [{"id": "p-a", "name": "Apps"}],
    )


def test_help_names_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["impact", "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "exit codes: 0 no app will be blocked, 1 at least one will-be-blocked app" in " ".join(
        out.split()
    )
