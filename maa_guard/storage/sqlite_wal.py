"""Switching a SQLite file to WAL when other processes may be opening it at the same moment.

``PRAGMA journal_mode = WAL`` needs an exclusive lock and does not wait on the busy handler:
two commands creating one state file at once get "database is locked" at once, whatever the
busy timeout (seen in the approval tests, one run in three). So the switch is retried with
backoff until the deadline, and then the error goes to the caller as before.
"""

from __future__ import annotations

import sqlite3
import time

_FIRST_PAUSE = 0.02
_LONGEST_PAUSE = 0.5


def enable_wal(connection: sqlite3.Connection, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    pause = _FIRST_PAUSE
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as error:
            if not _is_lock(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)


def _is_lock(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text
