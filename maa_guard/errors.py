"""One error base class that carries an exit code and a hint; caught once in ``main()``."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


class MaaGuardError(Exception):
    """An expected failure: printed as ``error: message`` and ``hint: hint``, no traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(MaaGuardError):
    """Bad command-line arguments."""


class ConfigError(MaaGuardError):
    """A configuration file, key or value that is not valid."""


class InputError(MaaGuardError):
    """A malformed input file: snapshot, baseline, catalogue."""


class OutputError(MaaGuardError):
    """A report, baseline or page that cannot be written where asked."""


class CatalogueError(MaaGuardError):
    """The rule catalogue shipped with the tool is broken."""
