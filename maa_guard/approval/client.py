"""The MAA write protocol: submit with a justification, follow, complete with the code, cancel.

The only code in maa-guard that sends writes, and it never approves, rejects or cancels an
approval (a write that would is refused, exit 2; ``cancel`` withdraws one's own request through
``cancelMyRequest``): approval is a person's job in the Intune admin center. Every write is
sent once; when no usable answer comes back (5xx, timeout, connection error) the request list
is read before anything else happens, and the outcome is reported, never guessed.

The API is synchronous. Each client runs its own event loop; from async code, call it through
``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx

from maa_guard.approval import recovery
from maa_guard.approval.caller import Caller, caller_of
from maa_guard.approval.classify import CODE_HEADER, Classification, Verdict, classify
from maa_guard.approval.errors import (
    NotApproved,
    StateError,
    UnknownChange,
    WriteRefused,
)
from maa_guard.approval.justification import (
    checked_code,
    encode_justification,
    new_reference,
    tagged,
)
from maa_guard.approval.model import (
    Completed,
    Pending,
    Phase,
    RequestState,
    RequestStatus,
    TrackedChange,
)
from maa_guard.approval.remote import fetch_request
from maa_guard.approval.state import StateStore, StoredChange
from maa_guard.approval.submission import Submission
from maa_guard.approval.transport import (
    DEFAULT_REQUEST_TIMEOUT,
    Answer,
    TokenCredential,
    WriteSender,
)
from maa_guard.approval.write import (
    CANCEL_MY_REQUEST,
    WriteRequest,
    body_digest,
    check_url,
    refuse_approval_writes,
)
from maa_guard.collect import Endpoint, GraphClient
from maa_guard.reporters.text import one_line

JUSTIFICATION_HEADER = "x-msft-approval-justification"
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Polling intervals for :meth:`ApprovalClient.wait`, in seconds."""

    first: float = 2.0
    factor: float = 1.5
    longest: float = 60.0


class ApprovalClient:
    """``with ApprovalClient(credential, endpoint, StateStore(path)) as client:``.

    ``now`` stamps the state file; ``monotonic`` and ``sleep`` drive :meth:`wait`; ``http``
    replaces the httpx client that sends writes; ``request_timeout`` bounds one write.
    """

    def __init__(
        self,
        credential: TokenCredential,
        endpoint: Endpoint,
        state: StateStore,
        *,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        http: httpx.AsyncClient | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        backoff: Backoff = Backoff(),
        close_state: bool = False,
    ) -> None:
        self.endpoint, self.state = endpoint, state
        self.now, self.monotonic, self.sleep, self.backoff = now, monotonic, sleep, backoff
        self.request_timeout = request_timeout
        self.warnings: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._sender = WriteSender(credential, endpoint, http=http, timeout=request_timeout)
        self._graph = GraphClient(credential, endpoint, timeout=math.inf)
        self._caller: Caller | None = None
        self._recovered = False
        self._close_state = close_state

    def __enter__(self) -> ApprovalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HTTP clients and the event loop; the state store only with
        ``close_state=True`` (otherwise it belongs to the caller)."""
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._sender.aclose())
            self._loop.run_until_complete(self._graph.aclose())
        finally:
            self._loop.close()
            if self._close_state:
                self.state.close()

    # ---- the protocol ---------------------------------------------------------------------

    def submit(
        self, write: WriteRequest, justification: str, *, label: str = "", origin: str | None = None
    ) -> Completed | Pending:
        """Send ``write`` with the justification. Returns :class:`Pending` (MAA filed a request:
        its code is committed to the state file) or :class:`Completed` (applied at once, with
        ``approval_happened=False``). Raises :class:`WriteRefused` (exit 1),
        :class:`OutcomeUnknown` (exit 3), or a usage error (exit 2) before anything is sent."""
        refuse_approval_writes(write.method, write.url, write.body)
        reference = new_reference()
        text = tagged(justification, reference)
        self.recover()
        change = self._new_change(write, text, reference, label, origin)
        self.state.add(change)
        url = change.tracked.url
        answer = self.run(
            self._sender.send(write.method, url, write.content, {JUSTIFICATION_HEADER: _b64(text)})
        )
        return Submission(self, change).settle(_classified(answer), answer)

    def status(self, code: str) -> RequestState:
        """The request's state from the service; the state file's row is brought up to date."""
        code = checked_code(code)
        self.recover()
        state = self.run(fetch_request(self._graph, code))
        recovery.note_status(self, state)
        return state

    def wait(self, code: str, *, timeout: float) -> RequestState:
        """Poll with backoff until the request is approved or final, or ``timeout`` seconds
        pass; returns the last state read (still ``needsApproval`` after a timeout)."""
        code = checked_code(code)
        deadline, delay = self.monotonic() + max(timeout, 0.0), self.backoff.first
        while True:
            state = self.status(code)
            left = deadline - self.monotonic()
            if state.status is RequestStatus.APPROVED or state.status.final or left <= 0:
                return state
            self.sleep(min(delay, left))
            delay = min(delay * self.backoff.factor, self.backoff.longest)

    def complete(self, code: str) -> Completed:
        """Resend the approved change: identical method, URL and body bytes, with
        ``x-msft-approval-code`` and no justification. Only when the request is ``approved``;
        otherwise :class:`NotApproved` (exit 1) and nothing is sent."""
        code = checked_code(code)
        self.recover()
        stored = self._stored_for(code)
        if stored.tracked.phase is Phase.COMPLETED:
            return _already_completed(code, "this state file recorded it")
        state = self.status(code)
        if state.status is RequestStatus.COMPLETED:
            return _already_completed(code, "the service reports it completed")
        if state.status is not RequestStatus.APPROVED:
            raise _not_approved(state)
        return self._resend(stored, code)

    def cancel(self, code: str) -> RequestState:
        """``POST .../operationApprovalRequests/cancelMyRequest`` ``{"id": code}``: only the
        requester's own request that is still pending or approved-not-completed."""
        code = checked_code(code)
        self.recover()
        content = json.dumps({"id": code}).encode()
        answer = self.run(self._sender.send("POST", _cancel_url(), content, {}))
        verdict = _classified(answer)
        if verdict.verdict is Verdict.APPLIED:
            return self.status(code)
        if verdict.verdict is Verdict.UNKNOWN:
            return recovery.settle_cancel(self, code, verdict)
        raise _cancel_refused(code, verdict)

    def tracked(self) -> list[TrackedChange]:
        """Every change of the state file, oldest first."""
        return [stored.tracked for stored in self.state.changes()]

    def reconcile(self) -> list[TrackedChange]:
        """Settle rows a crash or a lost answer left open, from the service's request list:
        codes found by reference, statuses refreshed. Returns the rows that changed."""
        self._recovered = True
        return recovery.reconcile(self, recovery.OPEN_PHASES)

    def recover(self) -> None:
        """Once per client: settle rows left in ``sending`` or ``completing`` (a read failure
        becomes a warning: the rows stay as they are, nothing is lost)."""
        if self._recovered:
            return
        self._recovered = True
        recovery.recover_quietly(self)

    # ---- used by Submission and recovery ----------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    @property
    def graph(self) -> GraphClient:
        return self._graph

    def caller(self) -> Caller:
        if self._caller is None:
            self._caller = caller_of(self.run(self._sender.token()))
        return self._caller

    def record(
        self,
        change_id: str,
        *,
        only: tuple[Phase, ...] = (),
        without_code: bool = False,
        **fields: Any,
    ) -> bool:
        """Update a row; with ``only``/``without_code``, only if it is still in that state."""
        return self.state.update(
            change_id, self.now(), only_phases=only, only_without_code=without_code, **fields
        )

    # ---- internals ----------------------------------------------------------------------------

    def _new_change(
        self, write: WriteRequest, text: str, reference: str, label: str, origin: str | None
    ) -> StoredChange:
        caller, moment = self.caller(), self.now()
        tracked = TrackedChange(
            reference, moment, moment, write.method, f"/{write.version}{write.path}", label,
            origin, Phase.SENDING, None, None, self.endpoint.root,
        )  # fmt: skip
        return StoredChange(tracked, write.content, write.digest, text, caller.tenant, caller.id)

    def _stored_for(self, code: str) -> StoredChange:
        stored = self.state.by_code(code)
        if stored is None:
            raise UnknownChange(
                f"approval code {code} is not in the state file {self.state.path}",
                "complete works only for changes submitted with this state file: it holds the "
                "exact body to resend",
            )
        self._check_same_target(stored)
        # A row edited by hand is held to the rules a new write is held to.
        refuse_approval_writes(stored.tracked.method, stored.tracked.url)
        check_url(stored.tracked.url)
        if body_digest(stored.body) != stored.body_digest:
            raise StateError(
                f"the stored body of change {stored.tracked.change_id} does not match its digest",
                "the state file was altered; nothing was sent",
            )
        return stored

    def _check_same_target(self, stored: StoredChange) -> None:
        if stored.tracked.endpoint != self.endpoint.root:
            raise UnknownChange(
                f"change {stored.tracked.change_id} was sent to {stored.tracked.endpoint}, "
                f"not {self.endpoint.root}",
                "use the same --cloud / --graph-endpoint as when it was submitted",
            )
        tenant = self.caller().tenant
        if stored.tenant and tenant and stored.tenant != tenant:
            raise UnknownChange(
                f"change {stored.tracked.change_id} belongs to tenant {stored.tenant}, and this "
                f"token to tenant {tenant}",
                "sign in to the tenant the change was submitted to",
            )

    def _resend(self, stored: StoredChange, code: str) -> Completed:
        change_id = stored.tracked.change_id
        self.record(change_id, phase=Phase.COMPLETING)
        answer = self.run(
            self._sender.send(
                stored.tracked.method, stored.tracked.url, stored.body, {CODE_HEADER: code}
            )
        )
        verdict = _classified(answer)
        if verdict.verdict is Verdict.APPLIED:
            self.record(
                change_id, phase=Phase.COMPLETED, status=RequestStatus.COMPLETED,
                outcome="applied with the approval code",
            )  # fmt: skip
            message = f"the approved change was applied (HTTP {answer.status})"
            return Completed(answer.status or 0, _json_body(answer), True, code, message)
        if verdict.verdict is Verdict.UNKNOWN:
            return recovery.settle_completion(self, stored, code, verdict)
        self.record(change_id, phase=Phase.PENDING, outcome=verdict.summary)
        raise WriteRefused(_refusal_text(verdict), verdict.hint, verdict, change_id)


def _classified(answer: Answer) -> Classification:
    return classify(answer.status, answer.headers, answer.content, answer.failure)


def _b64(text: str) -> str:
    return encode_justification(text)


def _cancel_url() -> str:
    return CANCEL_MY_REQUEST


def _json_body(answer: Answer) -> Any:
    try:
        return json.loads(answer.content) if answer.content else None
    except ValueError:
        return None


def _already_completed(code: str, why: str) -> Completed:
    """``status_code`` 0: nothing was sent this time."""
    message = f"request {code} was already completed ({why}); nothing was sent"
    return Completed(0, None, True, code, message)


def _not_approved(state: RequestState) -> NotApproved:
    hints: Mapping[RequestStatus, str] = {
        RequestStatus.NEEDS_APPROVAL: "wait for an approver: 'maa-guard requests wait CODE'",
        RequestStatus.REJECTED: "the approver rejected it; submit a new request if still needed",
        RequestStatus.CANCELLED: "it was cancelled; submit a new request if still needed",
        RequestStatus.EXPIRED: "it expired unapproved; submit a new request if still needed",
    }
    return NotApproved(
        f"request {state.code} is {state.status.value}, not approved; nothing was sent",
        hints.get(state.status, "check it with 'maa-guard requests status CODE'"),
        state,
    )


def _refusal_text(verdict: Classification) -> str:
    detail = one_line(verdict.message)
    return verdict.summary + (f": {detail}" if detail else "")


def _cancel_refused(code: str, verdict: Classification) -> WriteRefused:
    detail = one_line(verdict.message)
    message = f"the service refused to cancel {code} (HTTP {verdict.status} {verdict.error_code})"
    return WriteRefused(
        message + (f": {detail}" if detail else ""),
        "only the requester can cancel, and only a request that is pending or approved",
        verdict,
        None,
    )
