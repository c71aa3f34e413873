"""The ``x-msft-approval-justification`` header, the reference tag, and approval codes.

MAA refuses an empty justification and one longer than 1024 decoded characters (with a 400).
Characters are counted as .NET counts them, in UTF-16 code units, so a character outside the
Basic Multilingual Plane (an emoji) counts twice: this errs on the side of refusing locally
rather than having the service refuse.

maa-guard appends `` [maa-guard ref <12 hex digits>]`` to the text it sends. The tag is the
tracked change's id; it is how a code whose reply was lost (crash, timeout, 5xx) is found again
in the service's request list. It counts toward the 1024.
"""

from __future__ import annotations

import base64
import re
import secrets

from maa_guard.approval.codes import is_code
from maa_guard.approval.errors import CodeError, JustificationError

MAX_JUSTIFICATION = 1024
REFERENCE_PREFIX = "[maa-guard ref "
_REFERENCE = re.compile(r"\[maa-guard ref ([0-9a-f]{12})\]")
REFERENCE_LENGTH = len(f" {REFERENCE_PREFIX}{'0' * 12}]")


def new_reference() -> str:
    """12 random hex digits: the change id, and the tag appended to its justification."""
    return secrets.token_hex(6)


def justification_length(text: str) -> int:
    """Length in UTF-16 code units, as the service counts it."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_justification(text: str, reserved: int = 0) -> None:
    """Raise :class:`JustificationError` (exit 2) for an empty or too long justification."""
    if not isinstance(text, str) or not text.strip():
        raise JustificationError(
            "the justification is empty",
            "say why the change is needed (a ticket reference helps the approver)",
        )
    length, room = justification_length(text), MAX_JUSTIFICATION - reserved
    if length > room:
        extra = f" (maa-guard adds a {reserved}-character reference)" if reserved else ""
        raise JustificationError(
            f"the justification is {length} characters; MAA accepts at most "
            f"{MAX_JUSTIFICATION}{extra}",
            f"shorten it to {room} characters or fewer",
        )


def encode_justification(text: str) -> str:
    """The header value: base64 of the UTF-8 text. Empty or over 1024 characters: exit 2."""
    check_justification(text)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def tagged(text: str, reference: str) -> str:
    """The justification as sent: the caller's text and the reference tag, within 1024."""
    check_justification(text, REFERENCE_LENGTH)
    return f"{text} {REFERENCE_PREFIX}{reference}]"


def reference_in(justification: str) -> str | None:
    found = _REFERENCE.findall(justification or "")
    return found[-1] if found else None


def checked_code(text: str) -> str:
    """A GUID approval code, lower case; anything else (base64, braces, blanks) is exit 2."""
    if not is_code(text):
        raise CodeError(
            f"approval code {text[:80]!r} is not a GUID",
            "give the raw GUID from x-msft-approval-code, e.g. "
            "aabb1234-5678-9012-abcd-ef0123456789",
        )
    return text.lower()
