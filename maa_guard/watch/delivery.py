"""Delivery from the outbox: each (event, receiver) row is sent until a receiver accepts it.

- Claim: the row is marked ``sending`` with this process as owner and a lease, and committed,
  before anything is sent. After the send it becomes ``delivered``, ``queued`` again with
  exponential backoff (down, timeout, 5xx, 408/425/429), or ``blocked`` (any other 4xx, a
  redirect, an untrusted certificate, a refused SMTP login: a configuration error).
- A process that dies after claiming leaves the row ``sending``: it is sent again when the
  lease runs out, or at once when the owner is known dead (same host, process gone). That is
  the only repeat there can be, and it carries the same idempotency key.
- A receiver that fails is not tried again in the same pass, so its messages keep their order
  and a dead receiver is not hammered; the other receivers go on.
- ``blocked`` rows stay; they are tried again by the first pass of the next process start
  (after the configuration was fixed), never in a loop.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from maa_guard.errors import ConfigError
from maa_guard.model import Severity
from maa_guard.watch.config import ReceiverConfig
from maa_guard.watch.message import Fact, Message, build_message, idempotency_key, when
from maa_guard.watch.model import Event, EventType
from maa_guard.watch.notifiers import CHANNELS, Notifier, Outcome, SendResult
from maa_guard.watch.state import OutboxRow, WatchStore


class _Turn(enum.Enum):
    SEND = "send"
    SKIP = "skip"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int, retry_after: float | None) -> timedelta:
        backoff = self.base_delay * (1 << min(max(0, attempts - 1), 20))
        wanted = max(backoff, timedelta(seconds=retry_after or 0))
        return min(wanted, self.max_delay)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0
    retrying: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """Only a process on this host can be checked; elsewhere the lease decides."""
    host, _, pid = owner.rpartition(":")
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class Deliverer:
    store: WatchStore
    notifiers: Mapping[str, Notifier]
    portal_link: str
    clock: Callable[[], datetime]
    policy: RetryPolicy = RetryPolicy()
    owner: str = dataclasses.field(default_factory=this_process)
    is_dead: Callable[[str], bool] = owner_is_dead

    def run(self, include_blocked: bool = False) -> DeliveryReport:
        report = DeliveryReport()
        for receiver, notifier in self.notifiers.items():
            report = self._receiver(receiver, notifier, include_blocked, report)
        return report

    def _receiver(
        self, receiver: str, notifier: Notifier, include_blocked: bool, report: DeliveryReport
    ) -> DeliveryReport:
        for row in self.store.candidates(receiver):
            turn = self._turn(row, include_blocked)
            if turn is _Turn.WAIT:
                break
            if turn is _Turn.SKIP:
                continue
            claimed = self.store.claim(row, self.owner, self.clock() + self.policy.lease)
            if claimed is None:
                continue
            result = self._send(notifier, claimed)
            report = self._settle(claimed, result, report)
            if result.outcome is not Outcome.DELIVERED:
                break
        return report

    def _turn(self, row: OutboxRow, include_blocked: bool) -> _Turn:
        """A queued row still backing off holds the receiver's later rows (order, and no
        hammering of a receiver that is down); a refused or busy row does not."""
        now = self.clock()
        if row.state == "queued":
            return _Turn.SEND if row.next_attempt_at <= now else _Turn.WAIT
        if row.state == "blocked":
            return _Turn.SEND if include_blocked else _Turn.SKIP
        lease_over = row.lease_until is None or row.lease_until <= now
        dead = row.lease_owner != self.owner and self.is_dead(row.lease_owner)
        return _Turn.SEND if lease_over or dead else _Turn.SKIP

    def _send(self, notifier: Notifier, row: OutboxRow) -> SendResult:
        message = build_message(row.event, row.receiver, self.portal_link, row.attempts)
        message = dataclasses.replace(message, idempotency_key=row.idempotency_key)
        return notifier.send(message)

    def _settle(self, row: OutboxRow, result: SendResult, report: DeliveryReport) -> DeliveryReport:
        now = self.clock()
        if result.outcome is Outcome.DELIVERED:
            self.store.delivered(row, now, result.detail)
            return dataclasses.replace(report, delivered=report.delivered + 1)
        if result.outcome is Outcome.REJECTED:
            self.store.blocked(row, result.detail)
            line = f"receiver '{row.receiver}' refused a message: {result.detail}"
            return dataclasses.replace(report, blocked=(*report.blocked, line))
        retry_at = now + self.policy.delay(row.attempts, result.retry_after)
        self.store.retry(row, retry_at, result.detail)
        line = (
            f"receiver '{row.receiver}' is unavailable ({result.detail}); "
            f"attempt {row.attempts}, next after {retry_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        return dataclasses.replace(report, retrying=(*report.retrying, line))


# ---- `watch test-notify`: one marked message per receiver, outside the outbox ----------------

TEST_TITLE = "maa-guard test message: receivers are configured correctly"
TEST_NOTE = (
    "This is a test sent by `maa-guard watch test-notify`. No request or change is behind it, "
    "and it is not recorded in the watch's state."
)
NO_FIXED_RECIPIENTS = (
    "no fixed recipients: `to` is empty, and `to_audience` mails only the people an event names"
)


@dataclass(frozen=True, slots=True)
class Trial:
    """How one receiver took the test message. ``outcome`` None: nothing was sent (``detail``
    says why); a receiver that cannot be built (a missing variable) is ``REJECTED``."""

    receiver: str
    outcome: Outcome | None
    detail: str


def trial_message(receiver: str, portal_link: str, now: datetime, run: str) -> Message:
    """The test message; ``run`` makes its idempotency key new, so no receiver drops it as a
    repeat of an earlier test."""
    event = Event(key=f"test:{run}", type=EventType.TEST, severity=Severity.LOW, detected_at=now)
    return Message(
        event=event,
        title=TEST_TITLE,
        facts=(Fact("Receiver", receiver), Fact("Test", TEST_NOTE), Fact("Sent", when(now))),
        next_step="Nothing to do: real messages name a request or a change and what to do next.",
        link=portal_link.replace("{request_id}", ""),
        idempotency_key=idempotency_key(event.key, receiver),
    )


def send_trials(
    receivers: Sequence[ReceiverConfig],
    build: Callable[[ReceiverConfig], Notifier],
    portal_link: str,
    now: datetime,
) -> list[Trial]:
    """Send the test message to every receiver in turn, whatever its route; nothing is read
    from or written to the outbox."""
    run = secrets.token_hex(8)
    return [
        _trial(receiver, build, trial_message(receiver.name, portal_link, now, run))
        for receiver in receivers
    ]


def _trial(
    receiver: ReceiverConfig, build: Callable[[ReceiverConfig], Notifier], message: Message
) -> Trial:
    if not CHANNELS[receiver.channel].accepts(receiver.settings, message.event):
        return Trial(receiver.name, None, NO_FIXED_RECIPIENTS)
    try:
        notifier = build(receiver)
    except ConfigError as error:
        return Trial(receiver.name, Outcome.REJECTED, error.message)
    result = notifier.send(message)
    return Trial(receiver.name, result.outcome, result.detail)
