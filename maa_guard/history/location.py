"""Where the history lives: a SQLite file (the default) or a PostgreSQL database.

``--history`` takes ``sqlite:///PATH``, a plain path, or ``postgresql://...`` (``postgres://``
too). Without it, ``MAA_GUARD_HISTORY`` is used, then ``history.db`` in the user data folder.
A URL's password is never shown: ``display`` replaces it with ``***``.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from maa_guard.history.errors import HistoryInputError
from maa_guard.storage.userdata import default_database

ENVIRONMENT_VARIABLE = "MAA_GUARD_HISTORY"
DEFAULT_FILE = "history.db"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_WINDOWS_DRIVE = re.compile(r"^/[A-Za-z]:[/\\]")
_HINT = "give sqlite:///PATH, a file path, or postgresql://USER@HOST:PORT/DATABASE"


class Engine(str, enum.Enum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True, slots=True)
class HistoryLocation:
    """``target`` is the file path (SQLite) or the full URL (PostgreSQL, password included)."""

    engine: Engine
    target: str
    display: str
    is_default: bool = False

    @property
    def path(self) -> Path:
        return Path(self.target)


def parse_history_url(url: str | None, environ: Mapping[str, str] | None = None) -> HistoryLocation:
    env = os.environ if environ is None else environ
    text = url if url is not None else env.get(ENVIRONMENT_VARIABLE) or None
    if text is None:
        path = default_database(DEFAULT_FILE, env)
        return HistoryLocation(Engine.SQLITE, str(path), str(path), is_default=True)
    if not text.strip():
        raise HistoryInputError("the history URL is empty", _HINT)
    match = _SCHEME.match(text)
    if match is None:
        return _sqlite(text)
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        return _sqlite(_sqlite_path(text[match.end() :]))
    if scheme in ("postgresql", "postgres"):
        return _postgresql(text)
    raise HistoryInputError(
        f"history URL scheme {scheme!r} is not supported (sqlite or postgresql)", _HINT
    )


def _sqlite_path(rest: str) -> str:
    """``sqlite:///C:/x.db`` is ``C:/x.db``; otherwise the path is what follows ``sqlite://``."""
    return rest[1:] if _WINDOWS_DRIVE.match(rest) else rest


def _sqlite(path_text: str) -> HistoryLocation:
    if not path_text.strip():
        raise HistoryInputError("the history URL names no SQLite file", _HINT)
    path = Path(path_text).expanduser()
    return HistoryLocation(Engine.SQLITE, str(path), str(path))


def _postgresql(url: str) -> HistoryLocation:
    display = redact(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as error:
        raise HistoryInputError(f"malformed PostgreSQL URL {display}: {error}", _HINT) from None
    if parts.fragment:
        raise HistoryInputError(f"malformed PostgreSQL URL {display}: it has a #fragment", _HINT)
    return HistoryLocation(Engine.POSTGRESQL, url, display)


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (also in ``?password=``)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return re.sub(r"//[^@/]*@", "//***@", url)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, location: HistoryLocation) -> str:
    """A driver's message with the location's password taken out, in case it repeats the URL."""
    if location.engine is not Engine.POSTGRESQL:
        return text
    for secret in _passwords(location.target):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
    except ValueError:
        return []
    found += [value for key, value in parse_qsl(parts.query) if key.lower() == "password"]
    return [secret for secret in found if secret]
