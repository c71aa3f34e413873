"""The SQLite backend: WAL journal, a busy timeout, and ``BEGIN IMMEDIATE`` for every write.

WAL lets readers go on while one process writes; ``BEGIN IMMEDIATE`` takes the write lock at the
start of the transaction, so two writers queue on the busy timeout instead of failing with a
deadlock half-way through.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from maa_guard.history.backend import Row
from maa_guard.history.errors import HistoryInputError, HistoryUnavailable
from maa_guard.history.location import Engine, HistoryLocation
from maa_guard.storage.sqlite_wal import enable_wal
from maa_guard.storage.userdata import create_private_file

BUSY_TIMEOUT_SECONDS = 30.0
_NOT_A_HISTORY_HINT = "point --history at a maa-guard history database, or move this file away"


class SqliteSession:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self._connection.execute(sql, params)

    def run_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._connection.executemany(sql, rows)

    def insert(self, sql: str, params: Sequence[object]) -> int:
        row_id = self._connection.execute(sql, params).lastrowid
        if row_id is None:  # pragma: no cover - sqlite3 always sets it after an INSERT
            raise HistoryUnavailable("SQLite did not return the new scan's id")
        return row_id

    def tables(self) -> frozenset[str]:
        rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return frozenset(str(name) for (name,) in rows if not str(name).startswith("sqlite_"))

    def lock(self) -> None:
        """``BEGIN IMMEDIATE`` already holds it."""


class SqliteBackend:
    engine = Engine.SQLITE
    shared_database = False

    def __init__(self, location: HistoryLocation, create: bool) -> None:
        self.location = location
        _check_path(location, create)
        with self._translated():
            self._connection = sqlite3.connect(
                location.target, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )

    def ready(self, write: bool) -> None:
        """Only once the file is known to be a history (or empty): another program's database
        must not be switched to WAL. The journal mode is kept in the file; readers need not."""
        with self._translated():
            if write:
                enable_wal(self._connection, BUSY_TIMEOUT_SECONDS)
            self._connection.execute("PRAGMA synchronous = NORMAL")
            self._connection.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def session(self, write: bool) -> Iterator[SqliteSession]:
        with self._translated():
            self._connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield SqliteSession(self._connection)
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            _raise_for(error, self.location)


def _check_path(location: HistoryLocation, create: bool) -> None:
    path = location.path
    if path.is_dir():
        raise HistoryInputError(
            f"history path {location.display} is a folder", "name a database file"
        )
    if not create and not path.exists():
        raise HistoryInputError(
            f"no scan history at {location.display}",
            "record one with 'maa-guard scan --record', or name it with --history",
        )
    if create and not path.parent.is_dir() and not location.is_default:
        raise HistoryInputError(
            f"the folder of history file {location.display} does not exist",
            "create the folder first, or name another file with --history",
        )
    if create:
        _create_private(path)


def _create_private(path: Path) -> None:
    """A new history holds tenant data: the file 0600 and, for the default location, its new
    folder 0700 (SQLite gives the -wal and -shm files the database file's mode)."""
    try:
        create_private_file(path)
    except OSError as error:
        raise HistoryUnavailable(
            f"cannot create the history file {path}: {error.strerror}",
            "check that the folder is writable, or name another file with --history",
        ) from None


def _raise_for(error: sqlite3.Error, location: HistoryLocation) -> NoReturn:
    text = " ".join(str(error).split())
    if isinstance(error, sqlite3.OperationalError) and not text.startswith("no such"):
        hint = (
            f"another process held the write lock for over {BUSY_TIMEOUT_SECONDS:g} s"
            if "locked" in text or "busy" in text
            else "check that the file and its folder are readable and writable"
        )
        raise HistoryUnavailable(
            f"could not use history database {location.display}: {text}", hint
        ) from None
    if isinstance(error, sqlite3.DatabaseError):
        raise HistoryInputError(
            f"{location.display} is not a usable maa-guard history database ({text})",
            _NOT_A_HISTORY_HINT,
        ) from None
    raise HistoryUnavailable(f"could not use history database {location.display}: {text}") from None
