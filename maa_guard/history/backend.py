"""What the store needs from a database engine: sessions (transactions) that run SQL.

SQL is written once, with ``?`` placeholders; a backend translates what its driver needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from maa_guard.history.location import Engine, HistoryLocation

Row = tuple[Any, ...]


class Session(Protocol):
    """One transaction: committed when the ``with`` block ends, rolled back on an exception."""

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    def run(self, sql: str, params: Sequence[object] = ()) -> None: ...

    def run_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    def insert(self, sql: str, params: Sequence[object]) -> int:
        """Run an INSERT into a table with an ``id`` column; the new row's id."""
        ...

    def tables(self) -> frozenset[str]:
        """The tables where maa-guard's would be (SQLite: the file; PostgreSQL: the schema)."""
        ...

    def lock(self) -> None:
        """Hold the writer lock until the transaction ends (for schema migrations)."""
        ...


class Backend(Protocol):
    engine: Engine
    location: HistoryLocation
    # PostgreSQL databases are often shared with other applications; a SQLite file is not.
    shared_database: bool

    def ready(self, write: bool) -> None:
        """Connection settings, applied once the database is known to be a history (or empty)."""
        ...

    def session(self, write: bool) -> AbstractContextManager[Session]: ...

    def close(self) -> None: ...
