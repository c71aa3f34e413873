"""Per-endpoint-class request budgets that mirror Graph's documented throttling limits.

Reference section 10: identity reports allow 5 requests per 10 s per app and tenant;
Conditional Access 1 request per second per tenant (and sends no ``Retry-After``);
Intune 1000 requests per 20 s per app and tenant; the directory (users, groups, service
principals, applications) 3,500 resource units per 10 s for the smallest tenant size, which
is assumed because the size is not known in advance.

Graph states each limit as "N per W seconds", so a :class:`SlidingWindow` is used rather than
a classic token bucket: a bucket that starts full and refills at N/W lets almost 2N through
in one W-second window, and the second half of that burst would be answered 429. The window
is pure arithmetic over an injected clock: ``reserve(cost)`` books the units at the earliest
moment the last W seconds hold room for them (bookings are first come, first served) and
returns how long the caller must wait before sending. ``margin`` widens the window a little
so that jitter in network latency cannot squeeze two windows' requests into one at the
server.
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
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


@dataclass(slots=True)
class SlidingWindow:
    """At most ``limit.capacity`` units in any ``period + margin`` seconds of send times."""

    limit: Limit
    clock: Clock = time.monotonic
    margin: float = MARGIN_SECONDS
    booked: deque[tuple[float, float]] = field(default_factory=deque)
    units: float = 0.0
    last: float = float("-inf")

    def reserve(self, cost: float = 1.0) -> float:
        """Books ``cost`` units; returns the seconds to wait before sending."""
        now = self.clock()
        cost = min(cost, self.limit.capacity)
        span = self.limit.period_seconds + self.margin
        at = max(now, self.last)
        self._expire(at, span)
        while self.units + cost > self.limit.capacity:
            at = self.booked[0][0] + span
            self._expire(at, span)
        self.booked.append((at, cost))
        self.units += cost
        self.last = at
        return at - now

    def _expire(self, at: float, span: float) -> None:
        """Forget bookings that no window ending at ``at`` or later can contain."""
        while self.booked and self.booked[0][0] + span <= at:
            self.units -= self.booked.popleft()[1]


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
    """Directory cost of one GET (reference section 10); at least 1."""
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


class Budgets:
    """One window per endpoint class, shared by every request of a collection run."""

    def __init__(
        self,
        limits: dict[EndpointClass, Limit] | None = None,
        clock: Clock = time.monotonic,
        margin: float = MARGIN_SECONDS,
    ) -> None:
        chosen = limits or DOCUMENTED_LIMITS
        self._windows = {
            kind: SlidingWindow(limit, clock, margin) for kind, limit in chosen.items()
        }

    def reserve(self, path: str, query: dict[str, str]) -> float:
        kind = endpoint_class(path)
        cost = resource_units(path, query) if kind is EndpointClass.DIRECTORY else 1
        return self._windows[kind].reserve(cost)

    async def acquire(self, path: str, query: dict[str, str]) -> None:
        wait = self.reserve(path, query)
        if wait > 0:
            await asyncio.sleep(wait)


def unlimited() -> Budgets:
    """Budgets that never wait (offline tests, or a proxy that throttles for us)."""
    huge = Limit(1e12, 1.0)
    return Budgets({kind: huge for kind in EndpointClass})
