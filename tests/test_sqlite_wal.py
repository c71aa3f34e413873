"""Two commands creating one SQLite state file at once: the WAL switch waits for the other."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from maa_guard.storage.sqlite_wal import enable_wal


def _locked(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_without_waiting_the_switch_fails_while_another_connection_holds_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    holder = _locked(path)
    other = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(other, 0.0)
    holder.execute("ROLLBACK")


def test_the_switch_waits_until_the_other_connection_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = _locked(path)
    release = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
    release.start()
    other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    enable_wal(other, 10.0)
    release.join()
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
