"""Collection errors. All are ``MaaGuardError`` subclasses so ``main()`` prints them once.

Exit codes: a Graph failure that leaves data unverified is 3 (incomplete); a credential that
cannot be built or cannot get a token is 2, because the fix is configuration (flags,
environment, consent), not a re-run.
"""

from __future__ import annotations

from maa_guard.errors import EXIT_INCOMPLETE, EXIT_USAGE, MaaGuardError


class GraphError(MaaGuardError):
    """A Graph request that failed for good (after any retries)."""

    exit_code = EXIT_INCOMPLETE

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        path: str = "",
        permission: str | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code
        self.path = path
        self.permission = permission


class PermissionDeniedError(GraphError):
    """HTTP 403: the app lacks the application permission ``permission``."""


class PagingError(GraphError):
    """A nextLink loop or a page served twice: the collection cannot be trusted."""


class TimeBudgetExceeded(GraphError):
    """The global ``--timeout`` ran out before the request could be sent or retried."""


class AuthenticationError(MaaGuardError):
    """No credential could be built, or none could get a token."""

    exit_code = EXIT_USAGE
