"""The watch's durable state: SQLite, in the same file as the change workflow's store by
default, with its own tables (``watch_*``) and its own schema version (``watch_schema``), so
the two migrate independently.

- ``watch_observation``: the last poll's observation (one row).
- ``watch_event``: every event told, by stable key; a key already there is never told again.
- ``watch_outbox``: one row per (event, receiver): queued -> sending -> delivered, or blocked
  (the receiver refused it: a configuration error), or back to queued after a failure.

A poll's observation, its events and their outbox rows are written in one ``BEGIN
IMMEDIATE`` transaction: a crash before it leaves the previous observation, so the next poll
finds the same changes again (no gap); a crash after it leaves them queued (no loss). WAL mode
and a busy timeout let a second process (or the change workflow) wait instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from maa_guard.errors import InputError
from maa_guard.model import Severity
from maa_guard.snapshot.codec import DecodeError, decode, encode
from maa_guard.storage.sqlite_wal import enable_wal
from maa_guard.storage.statefile import foreign_tables, table_names
from maa_guard.storage.userdata import create_private_file
from maa_guard.watch.model import Event, Observation

T = TypeVar("T")
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 15000
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE watch_observation (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            taken_at TEXT NOT NULL,
            body TEXT NOT NULL)""",
        """CREATE TABLE watch_event (
            key TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            severity INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            detected_at TEXT NOT NULL,
            body TEXT NOT NULL)""",
        """CREATE TABLE watch_outbox (
            event_key TEXT NOT NULL REFERENCES watch_event(key) ON DELETE CASCADE,
            receiver TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'blocked')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT NOT NULL DEFAULT '',
            lease_until TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            delivered_at TEXT,
            seq INTEGER NOT NULL,
            PRIMARY KEY (event_key, receiver))""",
        "CREATE INDEX watch_outbox_state ON watch_outbox (receiver, state, next_attempt_at)",
    ),
}
_CANDIDATES = (
    "SELECT o.event_key, o.receiver, o.idempotency_key, o.state, o.attempts, o.next_attempt_at, "
    "o.lease_owner, o.lease_until, o.last_error, e.body "
    "FROM watch_outbox o JOIN watch_event e ON e.key = o.event_key "
    "WHERE o.receiver = ? AND o.state != 'delivered' ORDER BY o.seq, e.rowid"
)
_DELIVERED = (
    "UPDATE watch_outbox SET state = 'delivered', delivered_at = ?, last_error = ?, "
    "lease_owner = '', lease_until = NULL "
    "WHERE event_key = ? AND receiver = ? AND lease_owner = ?"
)
_RETRY = (
    "UPDATE watch_outbox SET state = 'queued', next_attempt_at = ?, last_error = ?, "
    "lease_owner = '', lease_until = NULL "
    "WHERE event_key = ? AND receiver = ? AND lease_owner = ?"
)
_BLOCKED = (
    "UPDATE watch_outbox SET state = 'blocked', last_error = ?, "
    "lease_owner = '', lease_until = NULL "
    "WHERE event_key = ? AND receiver = ? AND lease_owner = ?"
)


def stamp(moment: datetime) -> str:
    """Fixed width, so SQLite compares the text in time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    event_key: str
    receiver: str
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str
    lease_until: datetime | None
    last_error: str
    event: Event


@dataclass(frozen=True, slots=True)
class Backlog:
    """Undelivered rows of one receiver, by state."""

    receiver: str
    queued: int
    sending: int
    blocked: int
    last_error: str


class WatchStore:
    """Use as ``with WatchStore.open(path) as store:``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[WatchStore]:
        connection = _connect(path)
        try:
            store = cls(connection, path)
            store._migrate()
            yield store
        finally:
            connection.close()

    # ---- schema ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._transaction():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS watch_schema "
                "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
            )
            row = self._db.execute("SELECT version FROM watch_schema WHERE id = 1").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise InputError(
                    f"{self.path}: the watch state was written by a newer maa-guard "
                    f"(schema {version}, this one knows {SCHEMA_VERSION})",
                    "upgrade maa-guard, or give another file with --state",
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    self._db.execute(statement)
            self._db.execute(
                "INSERT INTO watch_schema (id, version) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (SCHEMA_VERSION,),
            )

    def schema_version(self) -> int:
        return int(self._db.execute("SELECT version FROM watch_schema").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- observation and events ------------------------------------------------------------

    def latest(self) -> Observation | None:
        row = self._db.execute("SELECT body FROM watch_observation WHERE id = 1").fetchone()
        return None if row is None else _decoded(Observation, row[0], self.path)

    def commit(
        self,
        expected_seq: int,
        observation: Observation,
        events: Sequence[Event],
        receivers_of: Callable[[Event], Iterable[tuple[str, str]]],
    ) -> int | None:
        """Store the poll: None when another process stored a poll first (the caller detects
        again against that one). ``receivers_of`` gives (receiver, idempotency key) pairs.
        Returns how many events were new."""
        with self._transaction():
            row = self._db.execute("SELECT seq FROM watch_observation WHERE id = 1").fetchone()
            if (0 if row is None else int(row[0])) != expected_seq:
                return None
            self._save_observation(observation)
            return sum(self._add_event(e, observation.seq, receivers_of) for e in events)

    def _save_observation(self, observation: Observation) -> None:
        self._db.execute(
            "INSERT INTO watch_observation (id, seq, taken_at, body) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, taken_at = excluded.taken_at, "
            "body = excluded.body",
            (observation.seq, stamp(observation.taken_at), _json(observation)),
        )

    def _add_event(
        self, event: Event, seq: int, receivers_of: Callable[[Event], Iterable[tuple[str, str]]]
    ) -> bool:
        added = self._db.execute(
            "INSERT OR IGNORE INTO watch_event (key, type, severity, seq, detected_at, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.key,
                event.type.value,
                int(event.severity),
                seq,
                stamp(event.detected_at),
                _json(event),
            ),
        ).rowcount
        if not added:
            return False
        for receiver, key in receivers_of(event):
            self._db.execute(
                "INSERT INTO watch_outbox (event_key, receiver, idempotency_key, state, "
                "next_attempt_at, seq) VALUES (?, ?, ?, 'queued', ?, ?)",
                (event.key, receiver, key, stamp(event.detected_at), seq),
            )
        return True

    def event_keys(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT key FROM watch_event ORDER BY seq, rowid")]

    # ---- outbox ----------------------------------------------------------------------------

    def candidates(self, receiver: str) -> list[OutboxRow]:
        """The receiver's undelivered rows, oldest first; the caller judges which are due."""
        rows = self._db.execute(_CANDIDATES, (receiver,))
        return [self._row(r) for r in rows]

    def claim(self, row: OutboxRow, owner: str, lease_until: datetime) -> OutboxRow | None:
        """Mark the row as being sent by ``owner``; None if someone else changed it first."""
        with self._transaction():
            changed = self._db.execute(
                "UPDATE watch_outbox SET state = 'sending', attempts = attempts + 1, "
                "lease_owner = ?, lease_until = ? WHERE event_key = ? AND receiver = ? "
                "AND state = ? AND attempts = ?",
                (owner, stamp(lease_until), row.event_key, row.receiver, row.state, row.attempts),
            ).rowcount
        if not changed:
            return None
        return OutboxRow(
            row.event_key, row.receiver, row.idempotency_key, "sending", row.attempts + 1,
            row.next_attempt_at, owner, lease_until, row.last_error, row.event,
        )  # fmt: skip

    def delivered(self, row: OutboxRow, now: datetime, detail: str) -> None:
        self._finish(row, _DELIVERED, (stamp(now), detail))

    def retry(self, row: OutboxRow, next_attempt: datetime, detail: str) -> None:
        self._finish(row, _RETRY, (stamp(next_attempt), detail))

    def blocked(self, row: OutboxRow, detail: str) -> None:
        self._finish(row, _BLOCKED, (detail,))

    def _finish(self, row: OutboxRow, statement: str, values: tuple[str, ...]) -> None:
        """Only the owner of the claim settles it (a reclaimed row is not overwritten)."""
        with self._transaction():
            self._db.execute(statement, (*values, row.event_key, row.receiver, row.lease_owner))

    def backlog(self) -> list[Backlog]:
        rows = self._db.execute(
            "SELECT receiver, SUM(state = 'queued'), SUM(state = 'sending'), "
            "SUM(state = 'blocked'), MAX(last_error) FROM watch_outbox "
            "WHERE state != 'delivered' GROUP BY receiver ORDER BY receiver"
        )
        return [Backlog(r[0], int(r[1]), int(r[2]), int(r[3]), r[4] or "") for r in rows]

    def outbox(self) -> list[tuple[str, str, str, int, str]]:
        """Every row as (event key, receiver, state, attempts, last error), for tests and
        troubleshooting."""
        return list(
            self._db.execute(
                "SELECT event_key, receiver, state, attempts, last_error FROM watch_outbox "
                "ORDER BY seq, event_key, receiver"
            )
        )

    def _row(self, raw: tuple[object, ...]) -> OutboxRow:
        key, receiver, idem, state, attempts, next_at, owner, lease, error, body = raw
        return OutboxRow(
            str(key), str(receiver), str(idem), str(state), int(str(attempts)),
            _moment(str(next_at)) or datetime.min.replace(tzinfo=timezone.utc), str(owner),
            _moment(None if lease is None else str(lease)), str(error),
            _decoded(Event, str(body), self.path),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row as ``maa-guard watch outbox`` lists it, with its event's type and time."""

    receiver: str
    event_key: str
    event_type: str
    severity: Severity
    state: str
    attempts: int
    last_error: str
    detected_at: datetime
    next_attempt_at: datetime
    lease_until: datetime | None
    delivered_at: datetime | None


_LISTING = (
    "SELECT o.receiver, o.event_key, e.type, e.severity, o.state, o.attempts, o.last_error, "
    "e.detected_at, o.next_attempt_at, o.lease_until, o.delivered_at "
    "FROM watch_outbox o JOIN watch_event e ON e.key = o.event_key "
    "ORDER BY o.seq, e.rowid, o.rowid"
)
_NO_STATE_HINT = (
    "run 'maa-guard watch --once' first, or name the state file with --state (or MAA_GUARD_STATE)"
)


def read_outbox(path: Path) -> list[OutboxEntry]:
    """Every outbox row, oldest first (by event, then in the order of the receivers), read
    without writing: no file is created, no table added, no migration run."""
    if not path.is_file():
        raise InputError(f"no watch state file at {path}", _NO_STATE_HINT)
    try:
        uri = f"{path.resolve().as_uri()}?{_read_only_mode(path)}"
        with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)) as db:
            _check_readable_version(db, path)
            rows = db.execute(_LISTING).fetchall()
    except sqlite3.Error as error:
        raise InputError(
            f"cannot read the watch state {path}: {error}",
            "name the watch's SQLite state file with --state (or MAA_GUARD_STATE)",
        ) from None
    try:
        return [_entry(row) for row in rows]
    except (TypeError, ValueError) as error:
        raise InputError(
            f"{path}: the watch state is damaged ({error})",
            "move the file away to start a new baseline",
        ) from None


def _read_only_mode(path: Path) -> str:
    """A read-only connection to a WAL database creates the ``-wal`` and ``-shm`` files when
    they are missing, and cannot remove them again. They exist while a watch holds the file
    open: then read through them. Otherwise every commit is in the file itself (the last
    connection to close moves the log into it), which is read as it is (``immutable``)."""
    log = path.with_name(path.name + "-wal")
    return "mode=ro" if log.exists() else "mode=ro&immutable=1"


def _check_readable_version(db: sqlite3.Connection, path: Path) -> None:
    if "watch_schema" not in table_names(db):
        raise InputError(f"{path} holds no watch state", _NO_STATE_HINT)
    row = db.execute("SELECT version FROM watch_schema WHERE id = 1").fetchone()
    version = 0 if row is None else int(row[0])
    if version > SCHEMA_VERSION:
        raise InputError(
            f"{path}: the watch state was written by a newer maa-guard "
            f"(schema {version}, this one knows {SCHEMA_VERSION})",
            "upgrade maa-guard",
        )
    if version < SCHEMA_VERSION:
        raise InputError(f"{path} holds no watch state", _NO_STATE_HINT)


def _entry(raw: tuple[object, ...]) -> OutboxEntry:
    receiver, key, kind, severity, state, attempts, error, detected, next_at, lease, done = raw
    return OutboxEntry(
        receiver=str(receiver),
        event_key=str(key),
        event_type=str(kind),
        severity=Severity(int(str(severity))),
        state=str(state),
        attempts=int(str(attempts)),
        last_error=str(error),
        detected_at=_required_moment(detected),
        next_attempt_at=_required_moment(next_at),
        lease_until=_moment(None if lease is None else str(lease)),
        delivered_at=_moment(None if done is None else str(done)),
    )


def _required_moment(value: object) -> datetime:
    moment = _moment(None if value is None else str(value))
    if moment is None:
        raise ValueError("a time is missing")
    return moment


def _connect(path: Path) -> sqlite3.Connection:
    """A new state file holds justifications and names: ``create_private_file`` makes it 0600
    in a 0700 folder. A file with another program's tables is refused before anything is
    written to it (not even the switch to WAL)."""
    try:
        create_private_file(path)
        connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_tables(connection, path)
        enable_wal(connection, BUSY_TIMEOUT_MS / 1000)
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
    except (OSError, sqlite3.Error) as error:
        raise InputError(
            f"cannot open the watch state {path}: {error}",
            "give a writable SQLite file with --state or MAA_GUARD_STATE",
        ) from None
    return connection


def _check_tables(connection: sqlite3.Connection, path: Path) -> None:
    if foreign_tables(table_names(connection)):
        connection.close()
        raise InputError(
            f"{path} is a SQLite file, but not a maa-guard state file",
            "give another file with --state (or MAA_GUARD_STATE); this one was left as it is",
        )


def _json(value: object) -> str:
    return json.dumps(encode(value), ensure_ascii=False, sort_keys=True)


def _decoded(cls: type[T], text: str, path: Path) -> T:
    try:
        return decode(cls, json.loads(text))
    except (ValueError, RecursionError, DecodeError) as error:
        raise InputError(
            f"{path}: the watch state is damaged ({cls.__name__}: {error})",
            "move the file away to start a new baseline",
        ) from None
