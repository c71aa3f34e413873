"""The state file that the change workflow (``maa_guard.approval.state``) and ``watch``
(``maa_guard.watch.state``) share: which tables may be in it.

Each of them refuses a SQLite file that holds any other table, before writing anything to it,
so that neither switches another program's database to WAL or adds its tables there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

# The change workflow's tables (``maa_guard.approval.schema.OWN_TABLES``; a test keeps the two
# equal) and the prefix of the watch's tables.
CHANGE_WORKFLOW_TABLES = frozenset({"schema_version", "changes"})
WATCH_TABLE_PREFIX = "watch_"


def table_names(connection: sqlite3.Connection) -> frozenset[str]:
    """The file's tables, without SQLite's own (``sqlite_sequence``...). Read-only."""
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return frozenset(str(name) for (name,) in rows if not str(name).startswith("sqlite_"))


def foreign_tables(tables: Iterable[str]) -> frozenset[str]:
    """The tables that belong to neither the change workflow nor the watch."""
    return frozenset(
        table
        for table in tables
        if table not in CHANGE_WORKFLOW_TABLES and not table.startswith(WATCH_TABLE_PREFIX)
    )
