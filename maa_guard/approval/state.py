"""The durable state of MAA writes: one SQLite file, safe for several commands at once.

Default path: ``state.db`` in the user data folder (``$XDG_DATA_HOME/maa-guard`` on Linux,
``%LOCALAPPDATA%\\maa-guard`` on Windows, ``~/Library/Application Support/maa-guard`` on
macOS); ``MAA_GUARD_STATE`` or ``--state FILE`` choose another. The file is created 0600, as it
holds justifications and request bodies.

Rules that keep approval codes from being lost:

- a change's row (method, URL, exact body bytes and digest, justification with its reference,
  label, origin, endpoint, tenant) is committed in phase ``sending`` before the write is sent;
- the approval code is committed before the command reports success;
- every write is one ``BEGIN IMMEDIATE`` transaction; WAL mode and a busy timeout let a second
  command wait for the first instead of failing; ``synchronous=FULL`` makes a commit durable.

A file that is not SQLite, is damaged, holds other tables, or has a newer schema is refused
(exit 2) and left exactly as it was: nothing is written until those checks pass.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from maa_guard.approval import schema
from maa_guard.approval.errors import StateError
from maa_guard.approval.model import Phase, RequestStatus, TrackedChange
from maa_guard.errors import EXIT_INCOMPLETE, MaaGuardError
from maa_guard.snapshot.codec import format_datetime, parse_datetime
from maa_guard.storage.sqlite_wal import enable_wal
from maa_guard.storage.statefile import WATCH_TABLE_PREFIX
from maa_guard.storage.userdata import create_private_file, default_database

DEFAULT_FILE = "state.db"
ENVIRONMENT_VARIABLE = "MAA_GUARD_STATE"
BUSY_TIMEOUT_SECONDS = 30.0
_SQLITE_HEADER = b"SQLite format 3\x00"
_COLUMNS = frozenset({"phase", "code", "status", "outcome", "updated"})
_HINT = "give another file with --state (or MAA_GUARD_STATE); this one was left as it is"


class StateBusy(MaaGuardError):
    """The state file stayed locked past the busy timeout, or could not be written (exit 3)."""

    exit_code = EXIT_INCOMPLETE


def default_state_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    named = env.get(ENVIRONMENT_VARIABLE)
    return Path(named).expanduser() if named else default_database(DEFAULT_FILE, env)


@dataclass(frozen=True, slots=True)
class StoredChange:
    """A row in full: what :class:`TrackedChange` shows plus what a resend needs."""

    tracked: TrackedChange
    body: bytes
    body_digest: str
    justification: str
    tenant: str
    requestor: str


class StateStore:
    """``with StateStore(path) as state:``; one connection, usable from any one thread at a
    time (calls are serialised by a lock)."""

    def __init__(
        self, path: Path, migrations: Sequence[schema.Migration] = schema.MIGRATIONS
    ) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection = _open(path, migrations)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # ---- writes -------------------------------------------------------------------------

    def add(self, change: StoredChange) -> None:
        """Commit a new change in phase ``sending`` (before anything is sent)."""
        row = change.tracked
        values = (
            row.change_id, format_datetime(row.created), format_datetime(row.updated),
            row.method, row.url, change.body, change.body_digest, change.justification,
            row.label, row.origin, row.endpoint, change.tenant, change.requestor,
            row.phase.value, row.code, row.status.value if row.status else None, row.outcome,
        )  # fmt: skip
        self._write(_INSERT, values)

    def update(
        self,
        change_id: str,
        when: datetime,
        *,
        only_phases: Sequence[Phase] = (),
        only_without_code: bool = False,
        **fields: Any,
    ) -> bool:
        """Set ``phase``, ``code``, ``status`` and/or ``outcome``; False when the row was not in
        one of ``only_phases`` (or already had a code), so another command's news is kept."""
        values = {"updated": format_datetime(when), **{k: _column(v) for k, v in fields.items()}}
        unknown = set(values) - _COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        # Column names come from _COLUMNS (checked above); every value is a parameter.
        sql = f"UPDATE changes SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?"  # noqa: S608
        params: list[Any] = [*values.values(), change_id]
        if only_phases:
            sql += f" AND phase IN ({', '.join('?' * len(only_phases))})"
            params += [phase.value for phase in only_phases]
        if only_without_code:
            sql += " AND code IS NULL"
        return self._write(sql, tuple(params)) > 0

    # ---- reads --------------------------------------------------------------------------

    def get(self, change_id: str) -> StoredChange | None:
        rows = self._read("SELECT * FROM changes WHERE id = ?", (change_id,))
        return rows[0] if rows else None

    def by_code(self, code: str) -> StoredChange | None:
        rows = self._read("SELECT * FROM changes WHERE code = ?", (code.lower(),))
        return rows[0] if rows else None

    def changes(self, phases: Sequence[Phase] = ()) -> list[StoredChange]:
        """Rows, oldest first; only those in ``phases`` when given."""
        if not phases:
            return self._read("SELECT * FROM changes ORDER BY created, id", ())
        marks = ", ".join("?" * len(phases))
        sql = f"SELECT * FROM changes WHERE phase IN ({marks}) ORDER BY created, id"  # noqa: S608
        return self._read(sql, tuple(p.value for p in phases))

    # ---- plumbing -----------------------------------------------------------------------

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    count = self._connection.execute(sql, params).rowcount
                    self._connection.execute("COMMIT")
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as error:  # locked past the timeout, disk full, ...
                raise StateBusy(
                    f"cannot write the state file {self.path}: {error}",
                    "another maa-guard command may hold it, or the disk is full; try again",
                ) from None
            return int(count)

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[StoredChange]:
        with self._lock:
            try:
                rows = self._connection.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as error:
                raise StateError(
                    f"cannot read the state file {self.path}: {error}", _HINT
                ) from None
        return [_stored(row) for row in rows]


_ALL = (
    "id", "created", "updated", "method", "url", "body", "body_digest", "justification",
    "label", "origin", "endpoint", "tenant", "requestor", "phase", "code", "status", "outcome",
)  # fmt: skip
_INSERT = f"INSERT INTO changes ({', '.join(_ALL)}) VALUES ({', '.join('?' * len(_ALL))})"  # noqa: S608


def _column(value: Any) -> Any:
    return value.value if isinstance(value, (Phase, RequestStatus)) else value


def _stored(row: sqlite3.Row) -> StoredChange:
    tracked = TrackedChange(
        change_id=row["id"],
        created=parse_datetime(row["created"]),
        updated=parse_datetime(row["updated"]),
        method=row["method"],
        url=row["url"],
        label=row["label"],
        origin=row["origin"],
        phase=Phase(row["phase"]),
        code=row["code"],
        status=RequestStatus.parse(row["status"]) if row["status"] else None,
        endpoint=row["endpoint"],
        outcome=row["outcome"],
    )
    return StoredChange(
        tracked,
        bytes(row["body"]),
        row["body_digest"],
        row["justification"],
        row["tenant"],
        row["requestor"],
    )


# ---- opening ------------------------------------------------------------------------------


def _open(path: Path, migrations: Sequence[schema.Migration]) -> sqlite3.Connection:
    _check_file(path)
    _create(path)
    try:
        connection = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise StateError(f"cannot open the state file {path}: {error}", _HINT) from None
    try:
        connection.row_factory = sqlite3.Row
        _check_contents(connection, path, migrations)
        _configure(connection)
        schema.migrate(connection, migrations)
    except sqlite3.OperationalError as error:
        connection.close()
        raise StateBusy(f"cannot prepare the state file {path}: {error}", "try again") from None
    except BaseException:
        connection.close()
        raise
    return connection


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise StateError(f"the state file {path} is a folder", _HINT)
    try:
        with path.open("rb") as stream:
            header = stream.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as error:
        raise StateError(f"cannot read the state file {path}: {error.strerror}", _HINT) from None
    if header and header != _SQLITE_HEADER:
        raise StateError(f"{path} is not a maa-guard state file (not SQLite)", _HINT)


def _create(path: Path) -> None:
    """A new state file is private: its folder 0700, the file 0600."""
    try:
        create_private_file(path)
    except OSError as error:
        raise StateError(f"cannot create the state file {path}: {error.strerror}", _HINT) from None


def _check_contents(
    connection: sqlite3.Connection, path: Path, migrations: Sequence[schema.Migration]
) -> None:
    """Read-only checks; nothing has been written to the file yet."""
    try:
        damaged = connection.execute("PRAGMA quick_check").fetchone()[0] != "ok"
        tables = schema.table_names(connection)
        version = schema.current_version(connection)
    except sqlite3.OperationalError:
        raise  # locked past the busy timeout: not damage (exit 3, by the caller)
    except sqlite3.DatabaseError as error:
        raise StateError(f"{path} is damaged or not a state file: {error}", _HINT) from None
    if damaged:
        raise StateError(f"{path} is damaged (SQLite quick_check failed)", _HINT)
    # The file is shared with `maa-guard watch`, whose tables carry the prefix watch_.
    own = {table for table in tables if not table.startswith(WATCH_TABLE_PREFIX)}
    if own and (version is None or not own <= schema.OWN_TABLES):
        raise StateError(f"{path} is a SQLite file, but not a maa-guard state file", _HINT)
    if version is not None and version > schema.latest(migrations):
        raise StateError(
            f"{path} has state schema version {version}; this maa-guard reads up to "
            f"{schema.latest(migrations)}",
            "upgrade maa-guard",
        )


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    enable_wal(connection, BUSY_TIMEOUT_SECONDS)
    connection.execute("PRAGMA synchronous = FULL")
