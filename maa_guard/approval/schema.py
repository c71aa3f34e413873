"""The state file's schema: ordered SQL steps, applied under the writer lock.

Step N brings a state file from version N-1 to N; ``schema_version`` holds one row with the
version reached. Steps run in one ``BEGIN IMMEDIATE`` transaction, so two commands opening a
new state file at once create the schema once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tracked changes: the exact write, its justification and reference, and its progress",
        (
            "CREATE TABLE changes ("
            " id TEXT PRIMARY KEY,"
            " created TEXT NOT NULL,"
            " updated TEXT NOT NULL,"
            " method TEXT NOT NULL,"
            " url TEXT NOT NULL,"
            " body BLOB NOT NULL,"
            " body_digest TEXT NOT NULL,"
            " justification TEXT NOT NULL,"
            " label TEXT NOT NULL,"
            " origin TEXT,"
            " endpoint TEXT NOT NULL,"
            " tenant TEXT NOT NULL,"
            " requestor TEXT NOT NULL,"
            " phase TEXT NOT NULL,"
            " code TEXT,"
            " status TEXT,"
            " outcome TEXT NOT NULL)",
            "CREATE UNIQUE INDEX changes_by_code ON changes (code) WHERE code IS NOT NULL",
            "CREATE INDEX changes_by_phase ON changes (phase)",
        ),
    ),
)

OWN_TABLES = frozenset({"schema_version", "changes"})
CREATE_VERSION_TABLE = "CREATE TABLE schema_version (version INTEGER NOT NULL)"


def latest(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return migrations[-1].version


def current_version(connection: sqlite3.Connection) -> int | None:
    """None for a file without ``schema_version`` (new, or not maa-guard's)."""
    tables = table_names(connection)
    if "schema_version" not in tables:
        return None
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def table_names(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


def migrate(connection: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    """Apply the steps this file lacks, in one transaction (the caller checked ownership)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(connection)
        if version is None:
            connection.execute(CREATE_VERSION_TABLE)
            connection.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = 0
        for step in (m for m in migrations if m.version > version):
            for statement in step.statements:
                connection.execute(statement)
            connection.execute("UPDATE schema_version SET version = ?", (step.version,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
