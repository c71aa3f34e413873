"""State and history databases are private: a new file is 0600 in a new 0700 folder, whatever
the umask; and `watch --state FILE` refuses a SQLite file that holds another program's tables,
as the change workflow's state already does, leaving it exactly as it was."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from maa_guard.approval import schema
from maa_guard.approval.state import StateStore
from maa_guard.cli import main
from maa_guard.emulator import READER_TOKEN, Emulator, fixture_from_snapshot
from maa_guard.errors import EXIT_USAGE, InputError
from maa_guard.history import open_history
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot
from maa_guard.storage.statefile import CHANGE_WORKFLOW_TABLES
from maa_guard.watch.state import WatchStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: only the code's own modes keep the files private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes(folder: Path) -> dict[str, int]:
    """The folder and every file in it (the database, its -wal and -shm)."""
    return {".": _mode(folder), **{p.name: _mode(p) for p in folder.iterdir()}}


def test_the_default_history_is_private(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_umask: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MAA_GUARD_HISTORY", raising=False)
    assert main(["scan", "--demo", "--format", "json", "--record"]) == 1
    folder = tmp_path / "data" / "maa-guard"
    modes = _modes(folder)
    assert modes.pop(".") == 0o700
    assert modes.pop("history.db") == 0o600
    assert set(modes.values()) <= {0o600}  # -wal and -shm, when SQLite keeps them


def test_a_named_history_file_is_created_private(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "scans.db"
    with open_history(str(path)):
        pass
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scans.db"]


def test_an_existing_history_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    path = tmp_path / "scans.db"
    with open_history(str(path)):
        pass
    path.chmod(0o640)
    with open_history(str(path)):
        pass
    assert _mode(path) == 0o640


def test_the_watch_state_is_private(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "new" / "state.db"
    with WatchStore.open(path):
        pass
    assert _modes(path.parent) == {".": 0o700, "state.db": 0o600} | {
        p.name: 0o600 for p in path.parent.iterdir() if p.name != "state.db"
    }


def test_the_change_workflow_state_is_private(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "new" / "state.db"
    with StateStore(path):
        pass
    assert _mode(path.parent) == 0o700
    assert {_mode(p) for p in path.parent.iterdir()} == {0o600}


# ---- watch --state FILE: only the state file's own tables --------------------------------


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO invoices (total) VALUES (12.5)")
    connection.close()


def _history(path: Path) -> None:
    with open_history(str(path)):
        pass


@pytest.fixture(scope="module")
def graph() -> Iterator[str]:
    with Emulator(
        fixture_from_snapshot(load_snapshot(demo_path("snapshot.json"))), fixed_tokens=True
    ) as emulator:
        yield emulator.url


@pytest.mark.parametrize("make", [_foreign, _history], ids=["another program's", "a history"])
def test_watch_refuses_a_database_with_tables_not_its_own(
    make: object,
    graph: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", READER_TOKEN)
    path = tmp_path / "other.db"
    assert callable(make)
    make(path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = ["watch", "--once", "--quiet", "--auth", "token", "--graph-endpoint", graph]
    code = main([*argv, "--state", str(path)])
    assert code == EXIT_USAGE
    assert capsys.readouterr().err == (
        "watch: no [[notify]] receivers configured: events are recorded, nothing is sent\n"
        f"error: {path} is a SQLite file, but not a maa-guard state file\n"
        "hint: give another file with --state (or MAA_GUARD_STATE); this one was left as it is\n"
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_watch_shares_the_file_with_the_change_workflow(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path):
        pass
    with WatchStore.open(path) as store:
        assert store.schema_version() == 1
    with StateStore(path):
        pass


def test_a_watch_state_refusal_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    _foreign(path)
    with pytest.raises(InputError) as refused, WatchStore.open(path):
        pass
    assert refused.value.message == f"{path} is a SQLite file, but not a maa-guard state file"


def test_the_shared_table_list_is_the_change_workflows() -> None:
    assert CHANGE_WORKFLOW_TABLES == schema.OWN_TABLES
