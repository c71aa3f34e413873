"""`scan --record` and `fleet scan --record`: scans stored in the history, then compared."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from maa_guard.cli import main
from maa_guard.scan.served import demo_path

DEMO_TENANT = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _scan(*extra: str) -> int:
    snapshot = str(demo_path("snapshot.json"))
    return main(["scan", "--snapshot", snapshot, "--format", "json", "--record", *extra])


def test_two_recorded_scans_are_listed_and_show_no_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = str(tmp_path / "history.db")
    assert _scan("--history", history) == 1
    assert capsys.readouterr().err == f"recorded scan 1 in {history}\n"
    assert _scan("--history", history) == 1
    capsys.readouterr()
    assert main(["history", "list", "--history", history, "--format", "json"]) == 0
    scans = json.loads(capsys.readouterr().out)["scans"]
    assert sorted((s["id"], s["tenant_id"], s["failing"]) for s in scans) == [
        (1, DEMO_TENANT, 44),
        (2, DEMO_TENANT, 44),
    ]
    assert main(["diff", "--history", history, "--format", "json"]) == 0
    drift = json.loads(capsys.readouterr().out)
    assert (
        drift["kind"],
        drift["drift"],
        drift["before"]["scan_id"],
        drift["after"]["scan_id"],
    ) == (
        "maa-guard-diff",
        False,
        1,
        2,
    )


def test_the_default_store_is_in_the_user_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _scan() == 1
    store = tmp_path / "xdg" / "maa-guard" / "history.db"
    assert capsys.readouterr().err == f"recorded scan 1 in {store}\n"
    assert store.is_file()


def test_history_without_record_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = str(demo_path("snapshot.json"))
    assert main(["scan", "--snapshot", snapshot, "--history", str(tmp_path / "h.db")]) == 2
    assert capsys.readouterr().err == (
        "error: --history is used with --record\nhint: add --record\n"
    )
    assert not (tmp_path / "h.db").exists()


def test_a_bad_history_url_is_refused_before_the_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _scan("--history", "mysql://nope") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
