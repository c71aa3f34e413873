"""Per-endpoint-class request budgets that mirror Graph's documented throttling limits.

The limits (https://learn.microsoft.com/en-us/graph/throttling-limits): identity reports allow
5 requests per 10 s per app and tenant; Conditional Access 1 request per second per tenant (and
sends no ``Retry-After``); Intune 1000 requests per 20 s per app and tenant; the directory
(users, groups, service principals, applications) 3,500 resource units per 10 s for the smallest
tenant size, which is assumed because the size is not known in advance.

Graph states each limit as "N per W seconds", so a :class:`SlidingWindow` is used rather than
a classic token bucket: a bucket that starts full and refills at N/W lets almost 2N through
in one W-second window, and the second half of that burst would be answered 429. The window
is pure arithmetic over an injected clock: a booking takes the units at the earliest moment
the window holds room for them (bookings are first come, first served) and tells the caller
how long to wait before sending. ``margin`` widens a window counted from the reply a little.

Graph admits a request at some moment between its send and its reply, so a request counted
from its reply for ``period`` seconds can never overshoot: request k+5 sent ``period`` after
request k's reply is admitted at least ``period`` after request k was. Every class counts
that way, the directory, Intune and Conditional Access with ``margin`` more (their many
requests in flight at once, and the ``$batch`` items admitted one after another, land on
Graph's clock less evenly), the identity reports (``EXACT_CLASSES``) with none: the sign-in
activity report is one nextLink chain at 5 requests per 10 s on the critical path of a large
collection, and each of its windows costs exactly the period and one round trip.

Counting from the send instead would save that round trip, but Graph's admission is not at
the send: against the emulator a report chain read inside a full collection, counted from the
send, was answered 429 once per collection (one page delayed behind the collection's
start-up, the page five after it not), and the 429's ``Retry-After`` cost more than the round
trips saved.

A booking not yet replied to has no end: while such bookings fill a window no moment can be
promised, and the caller waits for a reply.

A 429 holds its class (:meth:`Budgets.hold`): nothing more of it is sent until ``Retry-After``
(or the client's back-off) has elapsed, even a request booked before the 429 arrived. A
``$batch`` is booked in one step: its items' units summed per class, every class booked at
the same moment, one wait, one send (booking item by item let a batch's items land in two
windows, and be sent in the later one on top of its own bookings).
"""

from __future__ import annotations

import asyncio
import enum
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
MARGIN_SECONDS = 0.25


class EndpointClass(str, enum.Enum):
    INTUNE = "intune"
    DIRECTORY = "directory"
    REPORTS = "reports"
    CONDITIONAL_ACCESS = "conditional-access"


@dataclass(frozen=True, slots=True)
class Limit:
    capacity: float
    period_seconds: float


DOCUMENTED_LIMITS: dict[EndpointClass, Limit] = {
    EndpointClass.INTUNE: Limit(1000, 20.0),
    EndpointClass.DIRECTORY: Limit(3500, 10.0),
    EndpointClass.REPORTS: Limit(5, 10.0),
    EndpointClass.CONDITIONAL_ACCESS: Limit(1, 1.0),
}
# The classes counted from the reply with no margin: the sign-in report's chain.
EXACT_CLASSES: frozenset[EndpointClass] = frozenset({EndpointClass.REPORTS})


@dataclass(slots=True)
class Booking:
    """``cost`` units booked to be sent at ``at``; counted until ``end`` (the reply) + span.

    ``end`` is infinite while the request is in flight: Graph admits it at some moment between
    the send and the reply, so only the reply bounds when it leaves the server's window.
    """

    at: float
    cost: float
    end: float = float("inf")


@dataclass(slots=True)
class SlidingWindow:
    """At most ``limit.capacity`` units in any ``period + margin`` seconds, each booking
    counted until its reply."""

    limit: Limit
    clock: Clock = time.monotonic
    margin: float = MARGIN_SECONDS
    booked: list[Booking] = field(default_factory=list)
    last: float = float("-inf")
    held_until: float = float("-inf")

    @property
    def span(self) -> float:
        return self.limit.period_seconds + self.margin

    def reserve(self, cost: float = 1.0) -> float:
        """Books ``cost`` units counted as sent at once; returns the seconds to wait."""
        now = self.clock()
        at = self.earliest(cost, now)
        assert at is not None  # every booking made here has a finite end
        self.book(cost, at, end=at)
        return at - now

    def earliest(self, cost: float, not_before: float) -> float | None:
        """The first moment from ``not_before`` (and after every booking: first come, first
        served) when ``cost`` more units fit; None while requests in flight fill the window."""
        cost = min(cost, self.limit.capacity)
        at = max(not_before, self.last, self.held_until)
        self._expire(at)
        units = sum(b.cost for b in self.booked)
        for booking in sorted(self.booked, key=lambda b: b.end):
            if units + cost <= self.limit.capacity:
                break
            if booking.end == float("inf"):
                return None
            at = max(at, booking.end + self.span)
            units -= booking.cost
        return at if units + cost <= self.limit.capacity else None

    def book(self, cost: float, at: float, end: float = float("inf")) -> Booking:
        """Books at ``at`` (from :meth:`earliest`); ``end`` stays open until :meth:`release`."""
        booking = Booking(at, min(cost, self.limit.capacity), end)
        self.booked.append(booking)
        self.last = max(self.last, at)
        return booking

    def release(self, booking: Booking, when: float | None = None) -> None:
        """The reply arrived: the units leave the window ``span`` seconds from now."""
        booking.end = max(booking.at, self.clock() if when is None else when)

    def hold(self, seconds: float) -> None:
        """Graph answered 429: nothing more is sent for ``seconds``."""
        self.held_until = max(self.held_until, self.clock() + seconds)

    def _expire(self, at: float) -> None:
        """Forget bookings that no window ending at ``at`` or later can contain."""
        span = self.span
        self.booked = [b for b in self.booked if b.end + span > at]


_CLASS_PATTERNS: tuple[tuple[re.Pattern[str], EndpointClass], ...] = (
    (re.compile(r"^/?deviceManagement(/|$)"), EndpointClass.INTUNE),
    (re.compile(r"^/?identity/conditionalAccess/"), EndpointClass.CONDITIONAL_ACCESS),
    (re.compile(r"^/?(reports|auditLogs)/"), EndpointClass.REPORTS),
)


def endpoint_class(path: str) -> EndpointClass:
    """The throttling class of a path relative to the version root (query string ignored)."""
    bare = path.split("?", 1)[0]
    for pattern, kind in _CLASS_PATTERNS:
        if pattern.search(bare):
            return kind
    return EndpointClass.DIRECTORY


_DIRECTORY_COSTS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"/transitiveMembers$"), 5),
    (re.compile(r"/members$"), 3),
    (re.compile(r"/appRoleAssignments$"), 2),
    (re.compile(r"^/?applications"), 2),
    (re.compile(r"^/?users$"), 2),
)


def resource_units(path: str, query: dict[str, str]) -> int:
    """Directory cost of one GET, in Graph's resource units; at least 1."""
    bare = path.split("?", 1)[0]
    cost = next((units for pattern, units in _DIRECTORY_COSTS if pattern.search(bare)), 1)
    if "$select" in query:
        cost -= 1
    if "$expand" in query:
        cost += 1
    top = query.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(cost, 1)


Request = tuple[str, dict[str, str]]  # path relative to the version root, query
Ticket = list[tuple[SlidingWindow, Booking]]
# How long a caller blocked by requests in flight waits before it looks again unasked.
RECHECK_SECONDS = 1.0


class Budgets:
    """One window per endpoint class, shared by every request of a collection run."""

    def __init__(
        self,
        limits: dict[EndpointClass, Limit] | None = None,
        clock: Clock = time.monotonic,
        margin: float = MARGIN_SECONDS,
        *,
        exact: Iterable[EndpointClass] = EXACT_CLASSES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``margin`` widens the windows of the classes not in ``exact``. ``sleep`` waits on
        ``clock``'s time scale."""
        chosen = limits or DOCUMENTED_LIMITS
        no_margin = frozenset(exact)
        self._clock = clock
        self._sleep = sleep
        self._windows = {
            kind: SlidingWindow(limit, clock, 0.0 if kind in no_margin else margin)
            for kind, limit in chosen.items()
        }
        self._waiting: list[asyncio.Event] = []

    def reserve(self, path: str, query: dict[str, str]) -> float:
        """Books one request counted as sent at once; returns the seconds to wait."""
        kind, cost = charge(path, query)
        return self._windows[kind].reserve(cost)

    def costs(self, requests: Iterable[Request]) -> dict[EndpointClass, float]:
        """The units of ``requests`` summed per endpoint class."""
        totals: dict[EndpointClass, float] = {}
        for path, query in requests:
            kind, cost = charge(path, query)
            totals[kind] = totals.get(kind, 0.0) + cost
        return totals

    def book(self, costs: Mapping[EndpointClass, float]) -> tuple[float, Ticket] | None:
        """Books every class's units at one moment, the first when all of them fit; returns
        the seconds to wait and the ticket to :meth:`release`, or None while requests in
        flight fill a window (nothing is booked then)."""
        now = self._clock()
        at = now
        while True:  # each pass moves ``at`` later, to one of finitely many moments
            moments = [self._windows[k].earliest(c, at) for k, c in costs.items()]
            if any(m is None for m in moments):
                return None
            latest = max([at, *(m for m in moments if m is not None)])
            if latest == at:
                break
            at = latest
        ticket = [(self._windows[k], self._windows[k].book(c, at)) for k, c in costs.items()]
        return at - now, ticket

    def release(self, ticket: Ticket) -> None:
        """The reply to a booked request arrived (or it was never sent)."""
        for window, booking in ticket:
            window.release(booking)
        self._wake()

    def hold(self, requests: Iterable[Request], seconds: float) -> None:
        """Graph answered ``requests`` 429: their classes send nothing more for ``seconds``."""
        for kind in self.costs(requests):
            self._windows[kind].hold(seconds)

    @asynccontextmanager
    async def slot(self, requests: Sequence[Request]) -> AsyncIterator[None]:
        """``async with budgets.slot(requests): send`` — the requests (one GET, or the items
        of one ``$batch``) booked in one step and waited for once (and for as long as a 429
        holds one of their classes), counted until the reply."""
        costs = self.costs(requests)
        while (booked := self.book(costs)) is None:
            await self._release_or_timeout()
        wait, ticket = booked
        try:
            while wait > 0:
                await self._sleep(wait)
                wait = max((w.held_until for w, _ in ticket), default=-math.inf) - self._clock()
            yield
        finally:
            self.release(ticket)

    async def acquire(self, path: str, query: dict[str, str]) -> None:
        wait = self.reserve(path, query)
        if wait > 0:
            await self._sleep(wait)

    def _wake(self) -> None:
        for event in self._waiting:
            event.set()
        self._waiting.clear()

    async def _release_or_timeout(self) -> None:
        event = asyncio.Event()
        self._waiting.append(event)
        try:
            await asyncio.wait_for(event.wait(), RECHECK_SECONDS)
        except asyncio.TimeoutError:
            if event in self._waiting:
                self._waiting.remove(event)


def charge(path: str, query: dict[str, str]) -> tuple[EndpointClass, float]:
    """The endpoint class of one GET and the units it costs there."""
    kind = endpoint_class(path)
    return kind, float(resource_units(path, query)) if kind is EndpointClass.DIRECTORY else 1.0


def unlimited() -> Budgets:
    """Budgets that never wait (offline tests, or a proxy that throttles for us)."""
    huge = Limit(1e12, 1.0)
    return Budgets({kind: huge for kind in EndpointClass})
