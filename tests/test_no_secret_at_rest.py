"""No secret material at rest: a client secret's ``hint`` (its first characters), its
``secretText`` and a certificate's ``key`` never reach a snapshot file, the history, the watch
state or a report.

The emulator's tenant gives every credential all three; the real client stack collects it over
loopback HTTP; then every byte maa-guard stored is searched for them (the history's snapshots
are compressed, so they are searched unpacked too). A snapshot file that carries them (an older
one, or one edited by hand) loses them when it is loaded and saved again.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maa_guard.cli import main
from maa_guard.emulator import READER_TOKEN, Emulator, fixture_from_snapshot
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot, snapshot_to_json

HINT = "Hq7-hint-marker"
SECRET_TEXT = "Sx9-secret-text-marker"
KEY = "S2V5LW1hdGVyaWFsLW1hcmtlcg=="  # base64 of "Key-material-marker"
MARKERS = (HINT, SECRET_TEXT, KEY)
START, END = "2026-09-01T00:00:00Z", "2027-01-01T00:00:00Z"


def _secret(key_id: str) -> dict[str, Any]:
    return {
        "keyId": key_id,
        "displayName": "sync",
        "hint": HINT,
        "secretText": SECRET_TEXT,
        "startDateTime": START,
        "endDateTime": END,
    }


def _certificate(key_id: str) -> dict[str, Any]:
    return {
        "keyId": key_id,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "displayName": "CN=sync",
        "key": KEY,
        "startDateTime": START,
        "endDateTime": END,
    }


def _with_secrets(fixture: dict[str, Any]) -> dict[str, Any]:
    for kind in ("servicePrincipals", "applications"):
        for index, holder in enumerate(fixture["collections"][kind]):
            holder["passwordCredentials"] = [_secret(f"00000000-0000-4000-8000-{index:012d}")]
            holder["keyCredentials"] = [_certificate(f"00000000-0000-4000-9000-{index:012d}")]
    return fixture


@pytest.fixture(scope="module")
def graph() -> Iterator[str]:
    fixture = _with_secrets(fixture_from_snapshot(load_snapshot(demo_path("snapshot.json"))))
    with Emulator(fixture, fixed_tokens=True) as emulator:
        yield emulator.url


def _stored_bytes(folder: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file under ``folder``, and each history snapshot unpacked."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield path, data
        if data.startswith(b"SQLite format 3\x00") and path.suffix == ".db":
            with sqlite3.connect(path) as connection:
                tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
                if "scans" in tables:
                    for (blob,) in connection.execute("SELECT snapshot FROM scans"):
                        yield path, zlib.decompress(blob)
            connection.close()


def _leaks(folder: Path) -> list[str]:
    return [
        f"{path.relative_to(folder)}: {marker}"
        for path, data in _stored_bytes(folder)
        for marker in MARKERS
        if marker.encode() in data
    ]


def test_a_live_scan_stores_no_secret_material(
    graph: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", READER_TOKEN)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MAA_GUARD_HISTORY", raising=False)
    monkeypatch.delenv("MAA_GUARD_STATE", raising=False)
    live = ["--auth", "token", "--graph-endpoint", graph, "--quiet"]
    reports = [f"--output={kind}=reports/report.{kind}" for kind in ("json", "sarif", "html")]
    reports += ["--output=markdown=reports/report.md", "--output=csv=reports/report.csv"]
    reports += ["--output=junit=reports/report.xml"]
    assert main(["scan", *live, "--format", "json", "--record", *reports]) == 1
    assert main(["snapshot", *live, "-o", "snapshot.json"]) == 0
    assert main(["review", "Intune Tag Sync", *live, "-o", "reports/review.json"]) == 1
    assert (
        main(
            [
                "impact",
                *live,
                "--days",
                "730",
                "-o",
                "reports/impact.json",
                "-o",
                "reports/impact.html",
            ]
        )
        == 1
    )
    assert main(["watch", "--once", "--scan", *live]) == 0
    assert main(["diff", "snapshot.json", "snapshot.json", "-o", "reports/diff.json"]) == 0
    capsys.readouterr()
    stored = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.db"))
    assert stored == ["data/maa-guard/history.db", "data/maa-guard/state.db"]
    assert _leaks(tmp_path) == []
    # the credentials themselves are kept: only their secret parts are dropped
    held = load_snapshot(tmp_path / "snapshot.json").service_principals[0]
    assert [c.key_id for c in held.password_credentials] == ["00000000-0000-4000-8000-000000000000"]
    assert [c.key_id for c in held.key_credentials] == ["00000000-0000-4000-9000-000000000000"]


def _snapshot_with_secrets(path: Path) -> None:
    document = json.loads(demo_path("snapshot.json").read_text(encoding="utf-8"))
    for holder in document["service_principals"]:
        holder["passwordCredentials"] = [_secret("00000000-0000-4000-8000-000000000001")]
        holder["keyCredentials"] = [_certificate("00000000-0000-4000-9000-000000000001")]
    path.write_text(json.dumps(document), encoding="utf-8")


def test_a_snapshot_file_that_carries_secrets_loses_them(tmp_path: Path) -> None:
    carrying = tmp_path / "input" / "old.json"
    carrying.parent.mkdir()
    _snapshot_with_secrets(carrying)
    snapshot = load_snapshot(carrying)
    saved = snapshot_to_json(snapshot)
    assert [marker for marker in MARKERS if marker in saved] == []
    assert "hint" not in json.dumps(encode(snapshot.service_principals))
    assert snapshot.service_principals[0].password_credentials[0].display_name == "sync"


def test_recording_a_snapshot_file_that_carries_secrets_stores_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    carrying = tmp_path / "input" / "old.json"
    carrying.parent.mkdir()
    _snapshot_with_secrets(carrying)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    argv = ["scan", "--snapshot", str(carrying), "--format", "json", "--record"]
    assert main([*argv, "--history", "history.db", "--output", "json=report.json"]) == 1
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("history.db-")) == [
        "history.db",
        "report.json",
    ]
    assert _leaks(out) == []
