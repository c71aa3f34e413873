"""The bearer tokens of one emulator: a fresh random secret for each token the fixture names.

The fixture's ``tokens`` table maps a token *name* to the principal it stands for. The emulator
accepts the name itself only with ``fixed_tokens`` (tests and documentation): otherwise a web page
or another local user who knows the documented names could read, file or approve in the tenant.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from maa_guard.emulator.graphroles import READER_TOKEN
from maa_guard.emulator.tenant import Principal

_SECRET_BYTES = 32


class IssuedTokens:
    """``named`` maps each fixture token name to its principal; each gets its bearer token."""

    def __init__(self, named: Mapping[str, Principal], *, fixed: bool) -> None:
        self.fixed = fixed
        self._principals = dict(named)
        self._tokens = {
            name: name if fixed else secrets.token_urlsafe(_SECRET_BYTES) for name in named
        }

    def by_token(self) -> dict[str, Principal]:
        """Bearer token -> principal, in the fixture's order: what the emulator accepts."""
        return {self._tokens[name]: principal for name, principal in self._principals.items()}

    def by_name(self) -> dict[str, str]:
        return dict(self._tokens)

    def token(self, name: str) -> str:
        try:
            return self._tokens[name]
        except KeyError:
            raise LookupError(f"the fixture has no token named {name!r}") from None

    def reader(self) -> str | None:
        return self._tokens.get(READER_TOKEN)

    def app_token(self, app_id: str) -> str:
        """The first app-only token of ``app_id`` in the fixture (app ids compare caseless)."""
        found = self._first(lambda p: p.app_only and p.app_id.lower() == app_id.lower())
        if found is None:
            raise LookupError(f"the fixture has no app-only token for app {app_id}")
        return found

    def user_token(self, user_id: str) -> str:
        """The first delegated token of ``user_id`` in the fixture (ids compare caseless)."""
        found = self._first(lambda p: p.kind == "user" and p.id.lower() == user_id.lower())
        if found is None:
            raise LookupError(f"the fixture has no delegated token for user {user_id}")
        return found

    def document(self, graph_endpoint: str) -> dict[str, Any]:
        """What ``maa-guard emulate --token-file`` writes: the reader's token, and each
        application's and user's (the first one the fixture names, as the lookups give)."""
        applications: dict[str, str] = {}
        users: dict[str, str] = {}
        for name, principal in self._principals.items():
            chosen = applications if principal.app_only else users
            key = principal.app_id if principal.app_only else principal.id
            chosen.setdefault(key, self._tokens[name])
        return {
            "graph_endpoint": graph_endpoint,
            "reader": self.reader(),
            "applications": applications,
            "users": users,
        }

    def _first(self, wanted: Callable[[Principal], bool]) -> str | None:
        return next((self._tokens[name] for name, p in self._principals.items() if wanted(p)), None)
