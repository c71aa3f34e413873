"""One poll (read -> detect -> store), `--once` and the polling loop, and their exit codes.

Exit codes of ``--once``: 0 every source was read and nothing is left to deliver; 2 a
receiver refused a message (a configuration error: wrong URL, revoked webhook, bad SMTP
login), which stays queued and marked; 3 a source could not be read completely, or a
message is still queued because its receiver is down (it is retried by the next run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, MaaGuardError
from maa_guard.reporters.text import one_line
from maa_guard.watch.config import ReceiverConfig
from maa_guard.watch.delivery import Deliverer, DeliveryReport
from maa_guard.watch.events import DetectOptions, detect
from maa_guard.watch.message import idempotency_key
from maa_guard.watch.model import Event, Observation, Reading
from maa_guard.watch.notifiers import CHANNELS
from maa_guard.watch.state import WatchStore

Reader = Callable[[Observation | None, datetime], Reading]
Say = Callable[[str], None]
_COMMIT_TRIES = 5


@dataclass(frozen=True, slots=True)
class PollReport:
    seq: int
    baseline: bool
    new_events: int
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Watch:
    store: WatchStore
    read: Reader
    receivers: tuple[ReceiverConfig, ...]
    deliverer: Deliverer
    options: DetectOptions
    clock: Callable[[], datetime]

    def poll(self) -> PollReport:
        now = self.clock()
        previous = self.store.latest()
        reading = self.read(previous, now)
        for _ in range(_COMMIT_TRIES):
            observation, events = detect(previous, reading, self.options)
            expected = previous.seq if previous is not None else 0
            stored = self.store.commit(expected, observation, events, self.targets)
            if stored is not None:
                return PollReport(observation.seq, previous is None, stored, reading.problems)
            previous = self.store.latest()  # another process polled meanwhile
        raise MaaGuardError(
            f"{self.store.path}: other processes kept storing polls; gave up",
            "run one watch per state file",
        )

    def targets(self, event: Event) -> list[tuple[str, str]]:
        """The receivers whose route takes the event and who have someone to send it to."""
        return [
            (r.name, idempotency_key(event.key, r.name))
            for r in self.receivers
            if r.route.matches(event) and CHANNELS[r.channel].accepts(r.settings, event)
        ]

    def deliver(self, include_blocked: bool) -> DeliveryReport:
        return self.deliverer.run(include_blocked)


def run_once(watch: Watch, say: Say, warn: Say) -> int:
    """Poll, deliver what is due (blocked rows included: the config may have been fixed)."""
    poll = watch.poll()
    tell_poll(poll, say, warn)
    delivery = watch.deliver(include_blocked=True)
    tell_delivery(delivery, say, warn)
    return exit_code(poll, delivery, watch, warn)


def run_forever(
    watch: Watch,
    interval: timedelta,
    sleep: Callable[[float], None],
    say: Say,
    warn: Say,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Poll every ``interval``; deliver retries as they fall due in between. A failed poll
    after the first is reported and tried again at the next interval."""
    next_poll, first = watch.clock(), True
    while keep_going():
        if watch.clock() >= next_poll:
            _loop_poll(watch, first, say, warn)
            next_poll = watch.clock() + interval
        tell_delivery(watch.deliver(include_blocked=first), say, warn)
        first = False
        wake = min([next_poll, *_retry_times(watch)])
        sleep(max(1.0, (wake - watch.clock()).total_seconds()))


def _loop_poll(watch: Watch, first: bool, say: Say, warn: Say) -> None:
    try:
        tell_poll(watch.poll(), say, warn)
    except MaaGuardError as error:
        if first:
            raise
        warn(f"watch: poll failed: {one_line(error.message)}; trying again at the next interval")


def _retry_times(watch: Watch) -> Iterable[datetime]:
    for receiver in watch.receivers:
        for row in watch.store.candidates(receiver.name):
            if row.state == "queued":
                yield row.next_attempt_at
                break


def tell_poll(poll: PollReport, say: Say, warn: Say) -> None:
    for problem in poll.problems:
        warn(f"watch: could not read: {one_line(problem)}")
    if not poll.baseline:
        say(f"watch: poll {poll.seq}: {poll.new_events} new event(s)")
    elif poll.new_events:
        say(f"watch: poll {poll.seq}: baseline recorded, {poll.new_events} open request event(s)")
    else:
        say(
            f"watch: poll {poll.seq}: baseline recorded; what exists now is not announced "
            "(--notify-existing announces open requests)"
        )


def tell_delivery(report: DeliveryReport, say: Say, warn: Say) -> None:
    if report.delivered:
        say(f"watch: delivered {report.delivered} message(s)")
    for line in (*report.retrying, *report.blocked):
        warn(f"watch: {line}")


def exit_code(poll: PollReport, delivery: DeliveryReport, watch: Watch, warn: Say) -> int:
    names = {r.name for r in watch.receivers}
    backlog = [b for b in watch.store.backlog() if b.receiver in names]
    for item in backlog:
        warn(
            f"watch: receiver '{item.receiver}' has {item.queued + item.sending} queued and "
            f"{item.blocked} refused message(s) (last: {item.last_error or 'not yet sent'})"
        )
    if delivery.blocked or any(item.blocked for item in backlog):
        return EXIT_USAGE
    if poll.problems or backlog:
        return EXIT_INCOMPLETE
    return EXIT_OK
