"""The PostgreSQL backend (optional extra ``postgres``: psycopg 3, imported only when used).

Every operation is one transaction; schema migrations also take a transaction-scoped advisory
lock, so runners that start at the same time create or upgrade the schema once. Tables live in
the connection's current schema: ``?options=-csearch_path%3Dmy_schema`` in the URL selects one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from maa_guard.history.backend import Row
from maa_guard.history.errors import HistoryInputError, HistoryUnavailable
from maa_guard.history.location import Engine, HistoryLocation, scrub

if TYPE_CHECKING:
    import psycopg  # type: ignore[import-not-found,unused-ignore]

CONNECT_TIMEOUT_SECONDS = 10
INSTALL_HINT = "pip install 'maa-guard[postgres]'"
# Any fixed 64-bit number, the same for every maa-guard: "maa-hist" in ASCII.
_MIGRATION_LOCK = 0x6D61612D68697374


def require_driver() -> Any:
    """The psycopg module, or a clear exit-2 error naming the extra that brings it."""
    try:
        import psycopg  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise HistoryInputError(
            "a PostgreSQL history needs the psycopg driver, which is not installed", INSTALL_HINT
        ) from None
    return psycopg


def _placeholders(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresSession:
    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        self._cursor.execute(_placeholders(sql), params)
        return list(self._cursor.fetchall())

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self._cursor.execute(_placeholders(sql), params or None)

    def run_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._cursor.executemany(_placeholders(sql), rows)

    def insert(self, sql: str, params: Sequence[object]) -> int:
        self._cursor.execute(_placeholders(sql) + " RETURNING id", params)
        row = self._cursor.fetchone()
        if row is None:  # pragma: no cover - RETURNING always yields the row
            raise HistoryUnavailable("PostgreSQL did not return the new scan's id")
        return int(row[0])

    def tables(self) -> frozenset[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return frozenset(str(name) for (name,) in rows)

    def lock(self) -> None:
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))


class PostgresBackend:
    engine = Engine.POSTGRESQL
    shared_database = True

    def __init__(self, location: HistoryLocation) -> None:
        self.location = location
        self._driver = require_driver()
        with self._translated():
            self._connection = self._driver.connect(
                location.target, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True
            )

    def ready(self, write: bool) -> None:
        """Nothing to set per connection."""

    @contextmanager
    def session(self, write: bool) -> Iterator[PostgresSession]:
        with (
            self._translated(),
            self._connection.transaction(),
            self._connection.cursor() as cursor,
        ):
            yield PostgresSession(cursor)

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self._driver.Error as error:
            _raise_for(error, self._driver, self.location)


def _raise_for(error: Exception, driver: Any, location: HistoryLocation) -> NoReturn:
    text = scrub(" ".join(str(error).split()), location) or type(error).__name__
    if isinstance(error, driver.errors.InsufficientPrivilege):
        raise HistoryUnavailable(
            f"history database {location.display} refused: {text}",
            "grant this user the right to create tables in its schema, and to read and write them",
        ) from None
    if isinstance(error, driver.errors.InvalidSchemaName):
        raise HistoryInputError(
            f"history database {location.display} has no schema this user can use ({text})",
            "create the schema named in search_path and grant this user USAGE and CREATE on it",
        ) from None
    if isinstance(error, driver.OperationalError):
        raise HistoryUnavailable(
            f"could not reach history database {location.display}: {text}",
            "check that the server runs and accepts this user "
            "(password in PGPASSWORD or ~/.pgpass rather than in the URL)",
        ) from None
    if isinstance(error, (driver.ProgrammingError, driver.DataError, driver.IntegrityError)):
        raise HistoryInputError(
            f"{location.display} is not a usable maa-guard history ({text})",
            "point --history at a database (or schema) that maa-guard created",
        ) from None
    raise HistoryUnavailable(f"could not use history database {location.display}: {text}") from None
