"""Throttling per endpoint class, on an injectable clock.

The limits are Graph's documented ones: https://learn.microsoft.com/en-us/graph/throttling-limits
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Limit:
    """``capacity`` units per ``window`` seconds, per app (``per_app``) or per tenant."""

    capacity: int
    window: float
    per_app: bool = True
    retry_after: bool = True


DEFAULT_LIMITS: dict[str, Limit] = {
    "reports": Limit(5, 10.0),
    "conditionalAccess": Limit(1, 1.0, per_app=False, retry_after=False),
    "intune": Limit(1000, 20.0),
    "intuneWrite": Limit(100, 20.0),
    "directory": Limit(3500, 10.0),
}

# Directory resource-unit costs, as Graph's throttling limits state them; anything else costs 1.
_RU_COSTS = {
    "groups/{id}/transitiveMembers": 5,
    "groups/{id}/members": 3,
    "servicePrincipals/{id}/appRoleAssignments": 2,
    "applications": 2,
    "users": 2,
}


def resource_units(template: str, query: Mapping[str, str]) -> int:
    cost = _RU_COSTS.get(template, 1)
    if "$select" in query:
        cost -= 1
    if "$expand" in query:
        cost += 1
    top = query.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(cost, 1)


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    retry_after: int | None = None


class Throttle:
    """A sliding window log per (class, app or tenant)."""

    def __init__(self, limits: Mapping[str, Limit] | None = None, clock: Clock = time.monotonic):
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.clock = clock
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str], deque[tuple[float, int]]] = {}

    def admit(self, endpoint_class: str, app: str, cost: int = 1) -> Decision:
        limit = self.limits.get(endpoint_class)
        if limit is None:
            return Decision(True)
        key = (endpoint_class, app if limit.per_app else "")
        with self._lock:
            return self._admit(limit, self._logs.setdefault(key, deque()), cost)

    def _admit(self, limit: Limit, log: deque[tuple[float, int]], cost: int) -> Decision:
        now = self.clock()
        while log and log[0][0] <= now - limit.window:
            log.popleft()
        if sum(units for _, units in log) + cost <= limit.capacity:
            log.append((now, cost))
            return Decision(True)
        wait = log[0][0] + limit.window - now if log else limit.window
        return Decision(False, max(1, math.ceil(wait)) if limit.retry_after else None)
