"""Scan history and drift (docs/history.md): record scans in SQLite or PostgreSQL, list them,
and compare two of them.

A workflow beside the pipeline: imports ``evaluate``, ``reporters``, ``snapshot``, ``exclusions``
and ``storage``; never ``collect``, ``scan`` or ``cli``.

Import from the submodules; these names are the public API.
"""

from __future__ import annotations

from maa_guard.history.records import RecordedScan, StoredFinding
from maa_guard.history.store import (
    History,
    HistoryRecorder,
    open_history,
    record_scan,
    recorder_for,
)

__all__ = [
    "History",
    "HistoryRecorder",
    "RecordedScan",
    "StoredFinding",
    "open_history",
    "record_scan",
    "recorder_for",
]
