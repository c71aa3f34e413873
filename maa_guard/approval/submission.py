"""What a first send's answer leads to: one handler per verdict, each recording it first."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from maa_guard.approval import recovery
from maa_guard.approval.classify import Classification, Verdict
from maa_guard.approval.errors import DuplicateRequest, OutcomeUnknown, WriteRefused
from maa_guard.approval.model import (
    Completed,
    DuplicateMatch,
    Pending,
    Phase,
    RequestState,
    RequestStatus,
)
from maa_guard.approval.remote import fetch_request
from maa_guard.approval.state import StoredChange
from maa_guard.approval.transport import Answer
from maa_guard.errors import EXIT_USAGE, MaaGuardError
from maa_guard.reporters.text import one_line

if TYPE_CHECKING:
    from maa_guard.approval.session import ClientSession

Handler = Callable[["Submission", Classification, Answer], "Completed | Pending"]


class Submission:
    """One submitted change whose answer is being settled."""

    def __init__(self, client: ClientSession, change: StoredChange) -> None:
        self.client = client
        self.change = change
        self.change_id = change.tracked.change_id

    def settle(self, verdict: Classification, answer: Answer) -> Completed | Pending:
        handler = _HANDLERS.get(verdict.verdict, Submission.refused)
        return handler(self, verdict, answer)

    def applied(self, verdict: Classification, answer: Answer) -> Completed:
        self.client.record(self.change_id, phase=Phase.APPLIED, outcome=verdict.summary)
        return Completed(answer.status or 0, _json(answer.content), False, None, verdict.summary)

    def filed(self, verdict: Classification, answer: Answer) -> Pending:
        if verdict.code is None:
            return self.lost(verdict, answer)
        self._commit_code(verdict.code, verdict.summary)
        return Pending(verdict.code, self.change_id, self._best_effort_state(verdict.code))

    def lost(self, verdict: Classification, answer: Answer) -> Pending:
        """No usable answer: look for the request by its reference before anything else."""
        if verdict.code is not None:
            self._commit_code(verdict.code, f"{verdict.summary}; the code came in the headers")
            return Pending(verdict.code, self.change_id, self._best_effort_state(verdict.code))
        try:
            found = recovery.find_filed(self.client, self.change)
        except MaaGuardError as error:
            self.client.record(self.change_id, only=(Phase.SENDING,), outcome=verdict.summary)
            raise OutcomeUnknown(
                f"{verdict.summary}; the request list could not be read either: {error.message}",
                "nothing was resent; 'maa-guard requests list' looks for the request again",
                self.change_id,
            ) from None
        if found is None:
            return self._unknown(verdict)
        self.client.warnings.append(
            f"{verdict.summary}; request {found.code} was found by its reference "
            f"{self.change_id} in the service's list"
        )
        self._commit_code(found.code, f"found by reference after: {verdict.summary}")
        return Pending(found.code, self.change_id, found)

    def duplicate(self, verdict: Classification, answer: Answer) -> NoReturn:
        self.client.record(self.change_id, phase=Phase.REFUSED, outcome=verdict.summary)
        match = recovery.duplicate_holder(self.client, self.change)
        raise DuplicateRequest(
            f"{verdict.summary}; {describe_holder(match)}",
            verdict.hint,
            verdict,
            self.change_id,
            match,
        )

    def refused(self, verdict: Classification, answer: Answer) -> NoReturn:
        self.client.record(self.change_id, phase=Phase.REFUSED, outcome=verdict.summary)
        detail = one_line(verdict.message)
        error = WriteRefused(
            verdict.summary + (f": {detail}" if detail else ""),
            verdict.hint,
            verdict,
            self.change_id,
        )
        if verdict.verdict is Verdict.UNAUTHORIZED:
            error.exit_code = EXIT_USAGE  # the fix is the credential, not a re-run
        raise error

    # ---- internals ------------------------------------------------------------------------

    def _commit_code(self, code: str, outcome: str) -> None:
        """The code is in the state file before anyone is told it exists."""
        try:
            self.client.record(
                self.change_id,
                only=(Phase.SENDING, Phase.UNKNOWN, Phase.PENDING),
                phase=Phase.PENDING,
                code=code,
                status=RequestStatus.NEEDS_APPROVAL,
                outcome=outcome,
            )
        except MaaGuardError as error:
            raise OutcomeUnknown(
                f"MAA filed approval request {code}, but the state file could not record it: "
                f"{error.message}",
                f"keep the code {code}; the next maa-guard command finds it again by the "
                f"reference {self.change_id}",
                self.change_id,
            ) from None

    def _unknown(self, verdict: Classification) -> NoReturn:
        self.client.record(
            self.change_id, only=(Phase.SENDING,), phase=Phase.UNKNOWN, outcome=verdict.summary
        )
        raise OutcomeUnknown(
            f"{verdict.summary}; no approval request carries its reference {self.change_id}",
            "nothing was resent: check the target before sending again; 'maa-guard requests "
            "list' looks again (a new request can take a moment to be listed)",
            self.change_id,
        )

    def _best_effort_state(self, code: str) -> RequestState | None:
        try:
            return self.client.run(fetch_request(self.client.graph, code))
        except MaaGuardError as error:
            self.client.warnings.append(f"request {code} could not be read: {error.message}")
            return None


def describe_holder(match: DuplicateMatch) -> str:
    """One line, tenant text made inert: which request holds the object, or that none is known."""
    if match.request is not None:
        state = match.request
        return f"it is held by request {state.code} ({state.status.value}; {one_line(match.how)})"
    if match.how:
        return one_line(match.how)
    count = len(match.candidates)
    return (
        "the service does not say which request holds it; "
        f"{count} active request{'s' if count != 1 else ''} might"
    )


def _json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


_HANDLERS: dict[Verdict, Handler] = {
    Verdict.APPLIED: Submission.applied,
    Verdict.PENDING: Submission.filed,
    Verdict.UNKNOWN: Submission.lost,
    Verdict.DUPLICATE: Submission.duplicate,
}
