"""`maa-guard history list` and `maa-guard diff` end to end: outputs, exit codes, bad input.

Bad input exits 2 with one error line and one hint, and writes nothing; a history that cannot
be reached exits 3.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from builders import TENANT_ID, add_policy, approver_group, new_snapshot
from test_history_helpers import postgres_schema, tenant_scan

from maa_guard.cli import main
from maa_guard.evaluate.engine import ScanResult
from maa_guard.history import RecordedScan, open_history
from maa_guard.reporters.text import markdown
from maa_guard.snapshot.codec import format_datetime

OTHER = "9f8e7d6c-5b4a-4321-8fed-cba987654321"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config, history variable or user data folder of the developer's leaks in."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def record(url: str | None, *results: ScanResult) -> list[RecordedScan]:
    with open_history(url) as history:
        return [history.record(r.snapshot, r) for r in results]


def two_scans(url: str) -> list[RecordedScan]:
    return record(
        url,
        tenant_scan(collected_at="2026-11-01T08:00:00Z"),
        tenant_scan(collected_at="2026-11-02T08:00:00Z", policy_ids=("pol-apps", "pol-scripts")),
    )


def listed(scan: RecordedScan) -> dict[str, Any]:
    return {
        "id": scan.id,
        "tenant_id": scan.tenant_id,
        "tenant_name": scan.tenant_name,
        "collected_at": format_datetime(scan.collected_at),
        "recorded_at": format_datetime(scan.recorded_at),
        "tool_version": scan.tool_version,
        "failing": scan.failing,
        "unverified": scan.unverified,
    }


# ---- history list ---------------------------------------------------------------------------


def test_history_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "h.db")
    scans = record(url, tenant_scan(), tenant_scan(tenant_id=OTHER, name="Other"))
    code, out, err = run(capsys, "history", "list", "--history", url, "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "kind": "maa-guard-history",
        "version": 1,
        "history": url,
        "scans": [listed(scan) for scan in scans],
    }
    code, out, _ = run(
        capsys, "history", "list", "--history", url, "--format", "json", "--tenant", OTHER
    )
    assert [s["id"] for s in json.loads(out)["scans"]] == [2]


def test_history_list_table_uses_the_default_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = tmp_path / "xdg" / "maa-guard" / "history.db"
    [scan] = record(None, tenant_scan(name="Evil \x1b[2J [red]x[/red]"))
    code, out, _ = run(capsys, "history", "list", "--format", "table")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"history {default}: 1 scan(s)"
    assert lines[3].split()[:5] == ["1", "Evil", "\\x1b[2J", "[red]x[/red]", f"({TENANT_ID})"]
    assert "\x1b" not in out
    assert scan.id == 1


def test_history_list_of_no_history_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "history", "list")
    default = tmp_path / "xdg" / "maa-guard" / "history.db"
    assert (code, out) == (2, "")
    assert err == (
        f"error: no scan history at {default}\n"
        "hint: record one with 'maa-guard scan --record', or name it with --history\n"
    )
    assert not (tmp_path / "xdg").exists()


def test_history_list_limit_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "history", "list", "--limit", "0")
    assert (code, err) == (2, "error: --limit must be at least 1\n")


# ---- diff -----------------------------------------------------------------------------------


def test_diff_defaults_to_the_last_two_scans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    code, out, err = run(capsys, "diff", "--history", url, "--format", "json")
    data = json.loads(out)
    assert (code, err) == (0, "")
    assert (data["before"]["scan_id"], data["after"]["scan_id"]) == (1, 2)
    assert [p["id"] for p in data["policies"]["added"]] == ["pol-scripts"]
    assert data["policies"]["removed"] == data["policies"]["changed"] == []
    assert (data["drift"], data["fails"]) == (True, True)


def test_diff_of_a_history_with_two_tenants_needs_one_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    record(
        url,
        tenant_scan(tenant_id=OTHER, collected_at="2026-11-05T08:00:00Z"),
        tenant_scan(tenant_id=OTHER, collected_at="2026-11-06T08:00:00Z", approvers=("u-1",)),
    )
    code, _, err = run(capsys, "diff", "--history", url)
    assert code == 2
    assert err == (
        f"error: {url} holds scans of 2 tenants\n"
        "hint: name one with --tenant ID (see 'maa-guard history list')\n"
    )
    code, out, _ = run(capsys, "diff", "--history", url, "--tenant", OTHER, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert (data["before"]["scan_id"], data["after"]["scan_id"]) == (3, 4)
    assert [m["member_id"] for m in data["approver_members"]["removed"]] == ["u-2"]
    code, _, err = run(capsys, "diff", "1", "2", "--history", url, "--tenant", OTHER)
    assert code == 2
    assert err == (
        f"error: scan 1 and scan 2 are not scans of tenant {OTHER}\n"
        "hint: leave out --tenant, or name scans of that tenant\n"
    )


def test_fail_on_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    record(
        url,
        tenant_scan(collected_at="2026-11-03T08:00:00Z", policy_ids=("pol-apps", "pol-scripts")),
    )
    changed = run(capsys, "diff", "1", "3", "--history", url, "--fail-on-drift", "--format", "json")
    same = run(capsys, "diff", "2", "3", "--history", url, "--fail-on-drift", "--format", "table")
    assert changed[0] == 1
    assert same[0] == 0
    assert same[1].splitlines()[-1] == "No drift."


def test_diff_of_one_scan_compares_it_with_the_tenants_latest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    record(url, tenant_scan(tenant_id=OTHER, collected_at="2026-12-01T08:00:00Z"))
    code, out, _ = run(capsys, "diff", "1", "--history", url, "--format", "json")
    assert code == 0
    assert json.loads(out)["after"]["scan_id"] == 2
    code, _, err = run(capsys, "diff", "2", "--history", url)
    assert code == 2
    assert err == (
        f"error: scan 2 is the latest recorded scan of tenant {TENANT_ID}\n"
        "hint: give a second scan id or snapshot file to compare it with\n"
    )


def snapshot_file(path: Path, policies: tuple[str, ...], tenant: str = TENANT_ID) -> Path:
    snap = new_snapshot()
    snap["tenant"]["id"] = tenant
    approver_group(snap)
    for policy_id in policies:
        add_policy(snap, policy_id)
    path.write_text(json.dumps(snap), encoding="utf-8")
    return path


def test_diff_of_two_snapshot_files_touches_no_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = snapshot_file(tmp_path / "a.json", ("pol-apps",))
    b = snapshot_file(tmp_path / "b.json", ("pol-apps", "pol-scripts"))
    code, out, err = run(capsys, "diff", str(a), str(b), "--format", "markdown")
    assert (code, err) == (0, "")
    assert out.splitlines()[2:4] == [
        f"From file {markdown(str(a))}, collected 2026-11-01T08:00:00Z, evaluated by "
        "maa-guard 0.1.0  ",
        f"to file {markdown(str(b))}, collected 2026-11-01T08:00:00Z, evaluated by maa-guard 0.1.0",
    ]
    assert "| added | app policy pol-scripts (pol-scripts) | type app" in out
    assert not (tmp_path / "xdg").exists()


def test_diff_mixes_a_recorded_scan_and_a_snapshot_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    b = snapshot_file(tmp_path / "b.json", ("pol-apps", "pol-scripts"))
    code, out, _ = run(capsys, "diff", "1", str(b), "--history", url, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert (data["before"]["scan_id"], data["after"]["path"]) == (1, str(b))
    assert [p["id"] for p in data["policies"]["added"]] == ["pol-scripts"]


def test_diff_writes_its_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    target = tmp_path / "drift.md"
    code, out, err = run(capsys, "diff", "--history", url, "-o", str(target))
    assert (code, out, err) == (0, "", f"wrote {target}\n")
    assert target.read_text(encoding="utf-8").startswith("## maa-guard diff: Test Tenant")


# ---- bad input: exit 2, one line and a hint, nothing written ---------------------------------


def test_an_unknown_scan_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "h.db")
    two_scans(url)
    code, out, err = run(capsys, "diff", "1", "9", "--history", url)
    assert (code, out) == (2, "")
    assert err == (
        f"error: no recorded scan 9 in {url}\n"
        "hint: list the recorded scans with 'maa-guard history list'\n"
    )


def test_not_a_snapshot_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = snapshot_file(tmp_path / "a.json", ("pol-apps",))
    b = tmp_path / "b.json"
    b.write_text('{"hello": 1}', encoding="utf-8")
    code, out, err = run(capsys, "diff", str(a), str(b))
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"error: {b}: schema_version: required field is missing"


def test_scans_of_two_tenants_are_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = snapshot_file(tmp_path / "a.json", ("pol-apps",))
    b = snapshot_file(tmp_path / "b.json", ("pol-apps",), tenant=OTHER)
    code, _, err = run(capsys, "diff", str(a), str(b))
    assert code == 2
    assert err == (
        f"error: file {a} and file {b} are scans of different tenants\n"
        "hint: compare two scans of one tenant\n"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/x", "history URL scheme 'mysql' is not supported (sqlite or postgresql)"),
        (
            "postgresql://u:secret@host:port/db",
            "malformed PostgreSQL URL postgresql://u:***@host:port/db: "
            "Port could not be cast to integer value as 'port'",
        ),
        ("sqlite://", "the history URL names no SQLite file"),
        ("", "the history URL is empty"),
    ],
)
def test_a_malformed_history_url(
    url: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "diff", "--history", url)
    assert (code, out) == (2, "")
    assert err == (
        f"error: {message}\n"
        "hint: give sqlite:///PATH, a file path, or postgresql://USER@HOST:PORT/DATABASE\n"
    )
    assert "secret" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_corrupt_history_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"garbage, not SQLite" * 100)
    code, out, err = run(capsys, "history", "list", "--history", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {path} is not a usable maa-guard history database (file is not a database)\n"
        "hint: point --history at a maa-guard history database, or move this file away\n"
    )
    assert path.read_bytes() == b"garbage, not SQLite" * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]


def test_a_missing_folder_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from maa_guard.history import record_scan
    from maa_guard.history.errors import HistoryInputError

    target = tmp_path / "no-such-folder" / "h.db"
    with pytest.raises(HistoryInputError) as error:
        result = tenant_scan()
        record_scan(str(target), result.snapshot, result)
    assert error.value.message == f"the folder of history file {target} does not exist"
    assert not target.parent.exists()


# ---- the store cannot be used: exit 3 --------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_postgresql_exits_3_without_showing_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    url = f"postgresql://maa:hunter2@127.0.0.1:{closed_port()}/history"
    code, out, err = run(capsys, "history", "list", "--history", url)
    assert (code, out) == (3, "")
    first, hint = err.splitlines()
    assert first.startswith(
        "error: could not reach history database postgresql://maa:***@127.0.0.1:"
    )
    assert "Connection refused" in first
    assert hint == (
        "hint: check that the server runs and accepts this user "
        "(password in PGPASSWORD or ~/.pgpass rather than in the URL)"
    )
    assert "hunter2" not in err


def test_a_missing_driver_names_the_extra(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from maa_guard.cli import main\n"
        "sys.exit(main(['history', 'list', '--history', 'postgresql://u@127.0.0.1/db']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "error: a PostgreSQL history needs the psycopg driver, which is not installed\n"
        "hint: pip install 'maa-guard[postgres]'\n"
    )


def test_help_imports_neither_the_history_nor_a_driver() -> None:
    script = (
        "import sys\n"
        "from maa_guard.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('maa_guard.history', 'psycopg',"
        " 'sqlite3', 'rich'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n"


# ---- PostgreSQL through the command line -----------------------------------------------------


def test_history_list_and_diff_on_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    with postgres_schema() as url:
        scans = two_scans(url)
        code, out, _ = run(capsys, "history", "list", "--history", url, "--format", "json")
        assert code == 0
        assert json.loads(out)["scans"] == [listed(scan) for scan in scans]
        code, out, _ = run(capsys, "diff", "--history", url, "--format", "json")
        assert code == 0
        assert [p["id"] for p in json.loads(out)["policies"]["added"]] == ["pol-scripts"]


# ---- what `scan --record` calls ------------------------------------------------------------


def test_record_after_scan_says_where_it_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from maa_guard.cli.history import history_recorder, record_after_scan

    url = str(tmp_path / "h.db")
    recorder = history_recorder(url)
    assert record_after_scan(recorder, tenant_scan(), 1) == 1
    assert capsys.readouterr().err == f"recorded scan 1 in {url}\n"


@pytest.mark.parametrize(("scan_code", "expected"), [(0, 2), (1, 1), (3, 3)])
def test_a_failed_recording_never_looks_green(
    scan_code: int, expected: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from maa_guard.cli.history import history_recorder, record_after_scan

    path = tmp_path / "h.db"
    recorder = history_recorder(str(path))
    path.write_bytes(b"damaged after the scan started" * 100)
    assert record_after_scan(recorder, tenant_scan(), scan_code) == expected
    assert capsys.readouterr().err == (
        f"error: the scan was not recorded: {path} is not a usable maa-guard history "
        "database (file is not a database)\n"
        "hint: point --history at a maa-guard history database, or move this file away\n"
    )


def test_an_unreachable_store_turns_a_passing_scan_into_exit_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    from maa_guard.cli.history import history_recorder, record_after_scan

    recorder = history_recorder(f"postgresql://maa@127.0.0.1:{closed_port()}/history")
    assert record_after_scan(recorder, tenant_scan(), 0) == 3
    assert capsys.readouterr().err.startswith(
        "error: the scan was not recorded: could not reach history database"
    )
