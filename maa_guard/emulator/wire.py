"""The emulator's request and reply values, and Graph's error shapes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One Graph request: ``path`` is relative to the version root, without a leading slash.
    ``origin`` is ``http://`` and the loopback name and port the request named (links in the
    answer point there), or "" when the caller built the call without a request."""

    method: str
    version: str
    path: str
    query: Mapping[str, str]
    raw_query: str
    headers: Mapping[str, str]
    body: bytes = b""
    in_batch: bool = False
    origin: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Reply:
    """``fault`` is ``reset`` (no reply, the connection is reset) or ``truncate`` (half a body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """What the request log keeps: never the Authorization header or the body. ``fault`` is
    ``reset`` or ``truncate`` when the client never got ``status`` intact."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    status: int
    in_batch: bool = False
    fault: str | None = None


LOGGED_HEADERS = (
    "prefer",
    "consistencylevel",
    "content-type",
    "x-msft-approval-justification",
    "x-msft-approval-code",
    "retry-attempt",
    "client-request-id",
    "user-agent",
)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """Graph's error envelope with an ``innerError`` carrying a fresh request id."""
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": request_id, "client-request-id": request_id},
        }
    }
    return Reply(status, body, dict(headers or {}))


def not_found_segment(segment: str) -> Reply:
    return error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def resource_not_found(identifier: str, directory: bool) -> Reply:
    if directory:
        return error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{identifier}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    return error(404, "ResourceNotFound", f"Resource '{identifier}' was not found.")
