"""Which app ``APP`` names: an appId, a service principal object id or an exact display name.

Ids compare case-insensitively; a display name must match whole, case-insensitively (as
Graph's ``eq`` compares). A name shared by several service principals is an error that lists
them, so the caller can repeat the command with an appId.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from maa_guard.errors import EXIT_INCOMPLETE, MaaGuardError, UsageError
from maa_guard.reporters.text import one_line

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Candidate:
    """A service principal as far as resolution needs it."""

    service_principal_id: str
    app_id: str
    display_name: str = ""

    def describe(self) -> str:
        name = one_line(self.display_name) or "(no name)"
        return f"'{name}' (appId {self.app_id}, object id {self.service_principal_id})"


class AppReferenceError(MaaGuardError):
    """APP names no service principal, or several: bad input (exit 2)."""

    def __init__(self, message: str, hint: str = "", matches: tuple[Candidate, ...] = ()) -> None:
        super().__init__(message, hint)
        self.matches = matches


class CouldNotVerifyError(MaaGuardError):
    """What the review needs could not be read (a denied permission, an outage): exit 3."""

    exit_code = EXIT_INCOMPLETE


def checked_reference(app_ref: str) -> str:
    reference = app_ref.strip()
    if not reference:
        raise UsageError(
            "APP is empty", "give an appId, a service principal object id or a display name"
        )
    return reference


def is_guid(text: str) -> bool:
    return GUID.match(text) is not None


def choose(app_ref: str, candidates: Iterable[Candidate], hint: str = "") -> Candidate:
    """The one candidate ``app_ref`` names: by id first, else by display name."""
    reference = checked_reference(app_ref)
    pool = list(candidates)
    by_id = _unique(c for c in pool if _id_matches(reference, c))
    if by_id:
        return _single(reference, by_id, hint)
    by_name = _unique(c for c in pool if c.display_name.lower() == reference.lower())
    if not by_name:
        hint = _did_you_mean(reference, pool) or hint
    return _single(reference, by_name, hint)


def _did_you_mean(reference: str, pool: Sequence[Candidate]) -> str:
    """A hint naming the display name closest to a mistyped one, if one is close."""
    names = {c.display_name.lower(): c.display_name for c in pool if c.display_name}
    close = difflib.get_close_matches(reference.lower(), list(names), n=1, cutoff=0.6)
    return f"did you mean '{one_line(names[close[0]])}'?" if close else ""


def _id_matches(reference: str, candidate: Candidate) -> bool:
    wanted = reference.lower()
    return wanted in (candidate.app_id.lower(), candidate.service_principal_id.lower())


def _unique(candidates: Iterable[Candidate]) -> list[Candidate]:
    return list({c.service_principal_id.lower(): c for c in candidates}.values())


def _single(reference: str, matches: Sequence[Candidate], hint: str) -> Candidate:
    if len(matches) == 1:
        return matches[0]
    shown = one_line(reference)
    if not matches:
        raise AppReferenceError(
            f"no service principal matches '{shown}'",
            hint or "give the appId, the service principal object id or the exact display name",
        )
    listed = "; ".join(m.describe() for m in matches[:_SHOWN])
    more = f"; and {len(matches) - _SHOWN} more" if len(matches) > _SHOWN else ""
    raise AppReferenceError(
        f"'{shown}' matches {len(matches)} service principals: {listed}{more}",
        "give the appId of the one to review",
        tuple(matches),
    )
