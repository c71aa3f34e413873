"""A protected Graph write as maa-guard sends it: method, path, and the exact body bytes.

The URL is a path relative to the Graph root. It may start with ``/beta/`` or ``/v1.0/`` to
choose the API version; without one it is sent to ``/beta``, where the MAA endpoints live (an
approval request is read from ``/beta`` whatever the write's version). Only Intune roots are
accepted (``/deviceManagement``, ``/deviceAppManagement``): MAA protects nothing else, and
maa-guard is not a general Graph writer. ``$batch`` is refused: each write is its own request.

The body is serialised once, compactly, in the caller's key order; those bytes are stored and
sent again, byte for byte, when the approved change is completed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from maa_guard.errors import UsageError

METHODS = ("POST", "PATCH", "PUT", "DELETE")
VERSIONS = ("beta", "v1.0")
DEFAULT_VERSION = "beta"
_ROOTS = ("devicemanagement", "deviceappmanagement")
# RFC 3986 path characters (pchar) and query characters; no spaces, controls, '#' or '\'.
_SEGMENT = re.compile(r"^[A-Za-z0-9\-._~%!$&'()*+,;=:@]+$")
_QUERY = re.compile(r"^[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*$")
_URL_HINT = "give a Graph path such as /deviceAppManagement/mobileApps/{id} (optionally /beta/...)"


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """``WriteRequest("PATCH", "/deviceManagement/operationApprovalPolicies/{id}", {...})``.

    Raises :class:`~maa_guard.errors.UsageError` (exit 2) for a method other than POST, PATCH,
    PUT or DELETE, a URL that is not an Intune Graph path, or a body that is not JSON.
    """

    method: str
    url: str
    body: Mapping[str, Any] | None = None
    content: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(
                f"method {self.method!r} is not a write",
                f"MAA gates {', '.join(METHODS)} (upper case); reads are never gated",
            )
        check_url(self.url)
        object.__setattr__(self, "content", body_bytes(self.method, self.body))

    @property
    def version(self) -> str:
        first = self.url.split("/")[1]
        return first if first in VERSIONS else DEFAULT_VERSION

    @property
    def path(self) -> str:
        """The URL without its version prefix: ``/deviceManagement/...``."""
        first = self.url.split("/")[1]
        return self.url[len(first) + 1 :] if first in VERSIONS else self.url

    @property
    def digest(self) -> str:
        return body_digest(self.content)


def body_digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def body_bytes(method: str, body: Mapping[str, Any] | None) -> bytes:
    if body is None:
        if method in ("PATCH", "PUT"):
            raise UsageError(f"a {method} needs a body", "give the JSON object to send")
        return b""
    if method == "DELETE":
        raise UsageError("a DELETE takes no body", "leave the body out")
    if not isinstance(body, Mapping):
        raise UsageError("the body must be a JSON object", "Graph write bodies are JSON objects")
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise UsageError(f"the body cannot be sent as JSON: {error}") from None
    return text.encode("utf-8")


def check_url(url: str) -> None:
    if not isinstance(url, str) or not url.startswith("/") or "://" in url:
        raise UsageError(f"URL {url!r} is not a Graph path", _URL_HINT)
    path, _, query = url.partition("?")
    segments = path.split("/")[1:]
    if segments and segments[0] in VERSIONS:
        segments = segments[1:]
    if not segments or segments[0].lower() not in _ROOTS:
        raise UsageError(
            f"URL {url!r} is not under /deviceManagement or /deviceAppManagement",
            "MAA protects Intune resources only; " + _URL_HINT,
        )
    for segment in segments:
        _check_segment(url, segment)
    if not _QUERY.match(query):
        raise UsageError(f"URL {url!r} has characters a Graph query cannot hold", _URL_HINT)


def _check_segment(url: str, segment: str) -> None:
    if not _SEGMENT.match(segment) or segment in (".", ".."):
        raise UsageError(f"URL {url!r} has an empty or malformed path segment", _URL_HINT)
    if segment.lower() == "$batch":
        raise UsageError("$batch is not supported", "send each write as its own request")
