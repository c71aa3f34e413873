"""A protected Graph write as maa-guard sends it: method, path, and the exact body bytes.

The URL is a path relative to the Graph root. It may start with ``/beta/`` or ``/v1.0/`` to
choose the API version; without one it is sent to ``/beta``, where the MAA endpoints live (an
approval request is read from ``/beta`` whatever the write's version). Only Intune roots are
accepted (``/deviceManagement``, ``/deviceAppManagement``): MAA protects nothing else, and
maa-guard is not a general Graph writer. ``$batch`` is refused: each write is its own request.

A write that acts on MAA approvals is refused before anything else is checked
(:class:`~maa_guard.approval.errors.ApprovalActionRefused`): any write to
``operationApprovalRequests`` or below it (approve, reject, cancelApproval, cancelMyRequest),
and the approval actions under ``operationApprovalPolicies``, in any spelling Graph would route
the same way, also inside a ``$batch`` body. maa-guard never approves, rejects or cancels an
approval; withdrawing one's own request is ``ApprovalClient.cancel`` alone.

The body is serialised once, compactly, in the caller's key order; those bytes are stored and
sent again, byte for byte, when the approved change is completed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from maa_guard.approval.errors import NEVER_APPROVES, ApprovalActionRefused
from maa_guard.errors import UsageError

METHODS = ("POST", "PATCH", "PUT", "DELETE")
VERSIONS = ("beta", "v1.0")
DEFAULT_VERSION = "beta"
_ROOTS = ("devicemanagement", "deviceappmanagement")
# RFC 3986 path characters (pchar) and query characters; no spaces, controls, '#' or '\'.
_SEGMENT = re.compile(r"^[A-Za-z0-9\-._~%!$&'()*+,;=:@]+$")
_QUERY = re.compile(r"^[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*$")
_URL_HINT = "give a Graph path such as /deviceAppManagement/mobileApps/{id} (optionally /beta/...)"
# The one write to approval requests maa-guard sends, exactly so: ApprovalClient.cancel.
CANCEL_MY_REQUEST = "/beta/deviceManagement/operationApprovalRequests/cancelMyRequest"
_APPROVAL_REQUESTS = "operationapprovalrequests"
_APPROVAL_POLICIES = "operationapprovalpolicies"
_APPROVAL_ACTIONS = frozenset({"approve", "reject", "cancelapproval", "cancelmyrequest"})
_READS = frozenset({"GET", "HEAD"})
_DECODE_ROUNDS = 8


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
        refuse_approval_writes(self.method, self.url, self.body)
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


def refuse_approval_writes(method: object, url: object, body: object = None) -> None:
    """Raise :class:`ApprovalActionRefused` (exit 2) for a write that acts on MAA approvals,
    or a ``$batch`` whose body carries one. Reads, and anything that is not text, pass here
    (the other checks refuse them)."""
    if not isinstance(method, str) or not isinstance(url, str) or method.upper() in _READS:
        return
    if acts_on_approvals(url):
        raise ApprovalActionRefused(f"{method} {url!r} acts on MAA approvals: {NEVER_APPROVES}")
    if not _is_batch(url):
        return
    for inner_method, inner_url in _batch_items(body):
        if inner_method.upper() not in _READS and acts_on_approvals(inner_url):
            raise ApprovalActionRefused(
                f"{method} {url!r} carries {inner_method} {inner_url!r}, which acts on MAA "
                f"approvals: {NEVER_APPROVES}"
            )


def acts_on_approvals(url: str) -> bool:
    """Whether ``url`` reaches an approval request, or an approval action of an access policy:
    compared case-blind and percent-decoded (also encoded slashes, repeatedly), with any scheme
    and host, version, query, key syntax, ``microsoft.graph.`` cast and dot segment."""
    for names in _segment_readings(url):
        if _APPROVAL_REQUESTS in names:
            return True
        if _APPROVAL_POLICIES in names and not _APPROVAL_ACTIONS.isdisjoint(names):
            return True
    return False


def _segment_readings(url: str) -> Iterator[list[str]]:
    """The segment names as written, and with ``.`` and ``..`` resolved: a server may do
    either."""
    path = _decoded(_path_of(url)).replace("\\", "/")
    raw = [_name(segment) for segment in path.split("/")]
    yield raw
    resolved: list[str] = []
    for name in raw:
        if name == "..":
            resolved = resolved[:-1]
        elif name not in ("", "."):
            resolved.append(name)
    yield resolved


def _path_of(url: str) -> str:
    if "://" in url or url.startswith("//"):
        try:
            return urlsplit(url).path
        except ValueError:
            return url
    return re.split(r"[?#]", url, maxsplit=1)[0]


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _name(segment: str) -> str:
    """``microsoft.graph.approve()`` and ``operationApprovalRequests('id')`` by their names."""
    name = re.split(r"[?#;(]", segment, maxsplit=1)[0].strip().lower()
    return name if name in (".", "..") else name.rsplit(".", 1)[-1]


def _is_batch(url: str) -> bool:
    return any("$batch" in names for names in _segment_readings(url))


def _batch_items(body: object) -> Iterator[tuple[str, str]]:
    requests = body.get("requests") if isinstance(body, Mapping) else None
    for item in requests if isinstance(requests, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("url"), str):
            method = item.get("method")
            yield (method if isinstance(method, str) else ""), item["url"]


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
