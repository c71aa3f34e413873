"""The two ways the history can fail: what the user named is wrong, or the store cannot be used.

``HistoryInputError`` (exit 2): a malformed URL, a file that is not a history database, a schema
newer than this maa-guard, an unknown scan id, a missing driver. ``HistoryUnavailable`` (exit 3):
the store was named correctly but could not be read or written (server unreachable, sign-in
refused, database locked past the busy timeout, disk full). A scan whose recording failed
therefore never exits 0.
"""

from __future__ import annotations

from maa_guard.errors import EXIT_INCOMPLETE, InputError, MaaGuardError


class HistoryInputError(InputError):
    """The history URL, database or scan id that was named is not usable (exit 2)."""


class HistoryUnavailable(MaaGuardError):
    """The history store could not be reached, read or written (exit 3)."""

    exit_code = EXIT_INCOMPLETE
