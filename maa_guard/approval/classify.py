"""What an answer to an MAA-gated write means: a pure function over status, headers and body.

It covers every answer to an MAA-gated write that Microsoft documents or that has been reported
in the field: the 400s for the justification and code headers, 412 and 403 for a filed request,
409 for a duplicate, a bare 403 for a completion that does not match. The approval code is
looked for in the ``x-msft-approval-code`` header (any case), then in the nested JSON message's
``HttpHeaders``, then in the message text (``x-msft-approval-code: <guid>``), so a code is never
lost because a proxy dropped a header. No answer at all (timeout, connection error) is
``status=None``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from maa_guard.approval.codes import is_code

CODE_HEADER = "x-msft-approval-code"
_CODE_IN_TEXT = re.compile(r"x-msft-approval-code:\s*\"?([0-9a-fA-F-]{36})", re.IGNORECASE)
_MESSAGE_LIMIT = 500


class Verdict(enum.Enum):
    APPLIED = "applied"
    PENDING = "pending"
    UNKNOWN = "unknown"
    JUSTIFICATION_MISSING = "justification-missing"
    JUSTIFICATION_NOT_BASE64 = "justification-not-base64"
    JUSTIFICATION_TOO_LONG = "justification-too-long"
    CODE_FORMAT = "code-format"
    DUPLICATE = "duplicate"
    PERMISSION_DENIED = "permission-denied"
    MISMATCH = "mismatch"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    THROTTLED = "throttled"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Classification:
    """``code``: the approval code the answer carries, if any. ``message``: the service's text
    (the inner ``Message`` of a nested 412 body), cut to 500 characters."""

    verdict: Verdict
    status: int | None
    code: str | None = None
    error_code: str = ""
    message: str = ""
    retry_after: float | None = None
    failure: str = ""

    @property
    def summary(self) -> str:
        return EXPLANATIONS[self.verdict][0].format(
            status=self.status, error=self.error_code or "error", failure=self.failure or "error"
        )

    @property
    def hint(self) -> str:
        wait = f"{self.retry_after:g} seconds" if self.retry_after is not None else "a while"
        return EXPLANATIONS[self.verdict][1].format(wait=wait)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int | None
    error_code: str
    message: str
    code: str | None

    @property
    def text(self) -> str:
        return self.message.lower()

    @property
    def asks_approval(self) -> bool:
        return (
            self.code is not None
            or "approval required" in self.text
            or self.error_code.lower() == "approvalrequired"
        )

    def about_justification(self, *words: str) -> bool:
        text = self.text
        return "x-msft-approval-justification" in text and any(w in text for w in words)


def classify(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | Mapping[str, Any] | None = None,
    failure: str = "",
) -> Classification:
    """The verdict for one answer; ``failure`` names what went wrong when ``status`` is None."""
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    answer = _answer(status, lowered, body)
    verdict = next(v for v, applies in _RULES if applies(answer))
    return Classification(
        verdict,
        status,
        answer.code,
        answer.error_code,
        answer.message[:_MESSAGE_LIMIT],
        _retry_after(lowered.get("retry-after")),
        failure if status is None else "",
    )


def _answer(status: int | None, headers: Mapping[str, str], body: object) -> _Answer:
    error = _error_object(body)
    message = str(error.get("message", "")) if error else _text(body)
    nested = _json_object(message)
    inner_headers = _json_object(nested.get("HttpHeaders")) if nested else {}
    if nested and isinstance(nested.get("Message"), str):
        message = nested["Message"]
    candidates = [
        headers.get(CODE_HEADER),
        *(str(v) for k, v in inner_headers.items() if str(k).lower() == CODE_HEADER),
        *_CODE_IN_TEXT.findall(message),
    ]
    code = next((c.strip().lower() for c in candidates if c and is_code(c.strip())), None)
    return _Answer(status, str(error.get("code", "")) if error else "", message, code)


def _error_object(body: object) -> dict[str, Any]:
    document = _json_object(body)
    error = document.get("error") if document else None
    return error if isinstance(error, dict) else {}


def _json_object(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value.strip().startswith("{"):
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(body: object) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _is(status: int) -> Callable[[_Answer], bool]:
    return lambda a: a.status == status


def _no_answer(a: _Answer) -> bool:
    return a.status is None or a.status >= 500


def _success(a: _Answer) -> bool:
    return a.status is not None and 200 <= a.status < 300


def _justification(*words: str) -> Callable[[_Answer], bool]:
    """The header refusals: 400 today, 403 in the doc's May 2026 revision; never with a code."""
    return lambda a: a.status in (400, 403) and a.code is None and a.about_justification(*words)


def _pending(a: _Answer) -> bool:
    return a.status in (403, 412) and a.asks_approval


def _code_format(a: _Answer) -> bool:
    return a.status == 400 and "approval header format" in a.text


def _permission(a: _Answer) -> bool:
    denied = a.error_code.lower() == "authorization_requestdenied" or "privileges" in a.text
    return a.status == 403 and denied


def _mismatch(a: _Answer) -> bool:
    return a.status == 403 and "an error has occurred" in a.text


# First match wins; the last rule always matches.
_RULES: tuple[tuple[Verdict, Callable[[_Answer], bool]], ...] = (
    (Verdict.UNKNOWN, _no_answer),
    (Verdict.APPLIED, _success),
    (Verdict.JUSTIFICATION_MISSING, _justification("is required")),
    (Verdict.JUSTIFICATION_NOT_BASE64, _justification("base64")),
    (Verdict.JUSTIFICATION_TOO_LONG, _justification("no greater than")),
    (Verdict.PENDING, _pending),
    (Verdict.CODE_FORMAT, _code_format),
    (Verdict.DUPLICATE, _is(409)),
    (Verdict.PERMISSION_DENIED, _permission),
    (Verdict.MISMATCH, _mismatch),
    (Verdict.FORBIDDEN, _is(403)),
    (Verdict.UNAUTHORIZED, _is(401)),
    (Verdict.THROTTLED, _is(429)),
    (Verdict.REFUSED, lambda a: True),
)

# Verdict -> (what happened, what to do). ``{status}``, ``{error}``, ``{failure}``, ``{wait}``.
EXPLANATIONS: dict[Verdict, tuple[str, str]] = {
    Verdict.APPLIED: (
        "applied WITHOUT approval (HTTP {status}): no access policy protects this target, or "
        "this application is excluded from the policy that does",
        "if MAA should gate this write, check the access policies and their exclusions "
        "('maa-guard inventory')",
    ),
    Verdict.PENDING: (
        "MAA filed an approval request (HTTP {status}); another administrator must approve it "
        "in the Intune admin center",
        "'maa-guard requests wait CODE', then 'maa-guard requests complete CODE'",
    ),
    Verdict.UNKNOWN: (
        "no usable answer ({failure}, HTTP {status}): the write may or may not have been filed "
        "or applied",
        "do not resend it blindly; 'maa-guard requests list' checks the service's requests",
    ),
    Verdict.JUSTIFICATION_MISSING: (
        "the service says the x-msft-approval-justification header is missing (HTTP 400); "
        "nothing was filed",
        "report this: maa-guard always sends the header",
    ),
    Verdict.JUSTIFICATION_NOT_BASE64: (
        "the service says the justification header is not valid base64 (HTTP 400); nothing "
        "was filed",
        "report this: maa-guard encodes the header as base64 of UTF-8",
    ),
    Verdict.JUSTIFICATION_TOO_LONG: (
        "the service says the justification is longer than it accepts (HTTP 400); nothing was "
        "filed",
        "shorten the justification",
    ),
    Verdict.CODE_FORMAT: (
        "the service says the approval code is not a GUID (HTTP 400)",
        "give the raw GUID from x-msft-approval-code, not base64",
    ),
    Verdict.DUPLICATE: (
        "an approval request for this object is already pending (HTTP 409); no new request "
        "was filed",
        "wait for that request and complete it, or cancel it ('maa-guard requests cancel CODE')",
    ),
    Verdict.PERMISSION_DENIED: (
        "the credential lacks a Graph permission for this write (HTTP 403 {error}); this is not "
        "MAA",
        "grant the application the workload's ReadWrite permission and admin consent",
    ),
    Verdict.MISMATCH: (
        "the service refused the write (bare HTTP 403 'An error has occurred'): with an approval "
        "code this means the method, URL, body or caller differ from the approved request, or "
        "the code is used up",
        "resend the identical write with the identity that filed it "
        "('maa-guard requests complete CODE' does)",
    ),
    Verdict.FORBIDDEN: (
        "HTTP 403 ({error}) that is neither an approval request nor a known refusal: a missing "
        "permission or a mismatch",
        "check the application's Graph permissions and the message below",
    ),
    Verdict.UNAUTHORIZED: (
        "the token was rejected (HTTP 401 {error})",
        "check --auth and the tenant",
    ),
    Verdict.THROTTLED: (
        "throttled (HTTP 429) before the write was processed; nothing was filed",
        "try again after {wait}",
    ),
    Verdict.REFUSED: (
        "the service refused the write (HTTP {status} {error}); nothing was filed or applied",
        "read the service's message below; fix the URL or body and submit again",
    ),
}
