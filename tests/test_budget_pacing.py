"""Pacing at Graph's budget: the identity reports counted from each request's reply for exactly
the period, the other classes from the reply plus a margin, and a 429 holding its class for
its Retry-After, on an injected clock. The Graph client against the emulator's throttle:
``test_collect_throttle.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from maa_guard.collect.budget import (
    DOCUMENTED_LIMITS,
    Budgets,
    EndpointClass,
    Request,
)

REPORT: Request = ("reports/servicePrincipalSignInActivities", {"$top": "1"})
AUDIT: Request = ("auditLogs/signIns", {})
DIRECTORY: Request = ("servicePrincipals/sp1", {})


class VirtualTime:
    """A clock and the sleep that advances it; ``at(moment, action)`` runs ``action`` when a
    sleep passes ``moment`` (something that happens while a request waits)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._events: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def at(self, moment: float, action: Callable[[], None]) -> None:
        self._events.append((moment, action))

    async def sleep(self, seconds: float) -> None:
        end = self.now + max(seconds, 0.0)
        while due := sorted((e for e in self._events if e[0] <= end), key=lambda e: e[0]):
            moment, action = due[0]
            self._events.remove(due[0])
            self.now = max(self.now, moment)
            action()
        self.now = end
        await asyncio.sleep(0)


def budgets_on(clock: VirtualTime) -> Budgets:
    return Budgets(clock=clock, sleep=clock.sleep)


async def send(
    budgets: Budgets, clock: VirtualTime, request: Request, *, latency: float = 0.0
) -> float:
    """One request through its slot: sent (the moment is returned), answered ``latency``
    seconds later."""
    async with budgets.slot([request]):
        moment = clock.now
        await clock.sleep(latency)
    return moment


def chain(pages: int, *, latency: float = 0.0) -> list[float]:
    """The send moments of a sequential nextLink chain of the sign-in report."""
    clock = VirtualTime()
    budgets = budgets_on(clock)

    async def read() -> list[float]:
        sends = [await send(budgets, clock, REPORT, latency=latency)]
        for _ in range(pages - 1):
            sends.append(await send(budgets, clock, REPORT, latency=latency))
        return sends

    return asyncio.run(read())


# ---- the rule per class --------------------------------------------------------------------


def test_a_report_chain_with_instant_replies_sends_five_pages_every_ten_seconds() -> None:
    sends = chain(21)
    assert sends == [0.0] * 5 + [10.0] * 5 + [20.0] * 5 + [30.0] * 5 + [40.0]


def test_a_report_chain_sends_page_six_exactly_ten_seconds_after_page_ones_reply() -> None:
    sends = chain(21, latency=0.05)
    assert sends[:5] == [0.0, 0.05, 0.1, 0.15000000000000002, 0.2]
    assert sends[5] == 10.05
    assert [round(b - a, 9) for a, b in zip(sends, sends[5:], strict=False)] == [10.05] * 16


def test_every_class_counts_by_its_own_rule() -> None:
    """A full window of each class sent at 0 and answered at 0.05: the next request of the
    reports leaves 10 s after the replies; of the others, the period and 0.25 s after them."""
    clock = VirtualTime()
    budgets = budgets_on(clock)
    requests = {
        EndpointClass.REPORTS: REPORT,
        EndpointClass.CONDITIONAL_ACCESS: ("identity/conditionalAccess/policies", {}),
        EndpointClass.INTUNE: ("deviceManagement/auditEvents", {}),
        EndpointClass.DIRECTORY: ("groups/g1/transitiveMembers", {}),  # 5 resource units
    }
    tickets = []
    for kind, request in requests.items():
        costs = budgets.costs([request])
        for _ in range(int(DOCUMENTED_LIMITS[kind].capacity // costs[kind])):
            booked = budgets.book(costs)
            assert booked is not None
            tickets.append(booked[1])
    clock.now = 0.05
    for ticket in tickets:
        budgets.release(ticket)
    moments = {}
    for kind, request in requests.items():
        booked = budgets.book(budgets.costs([request]))
        assert booked is not None
        moments[kind] = round(clock.now + booked[0], 9)
    assert moments == {
        EndpointClass.REPORTS: 10.05,
        EndpointClass.CONDITIONAL_ACCESS: 1.3,
        EndpointClass.INTUNE: 20.3,
        EndpointClass.DIRECTORY: 10.3,
    }


# ---- a 429 holds its class -----------------------------------------------------------------


def test_after_a_429_with_retry_after_3_the_class_sends_nothing_for_3_seconds() -> None:
    clock = VirtualTime()
    budgets = budgets_on(clock)

    async def run() -> dict[str, float]:
        async with budgets.slot([REPORT]):
            await clock.sleep(0.05)
        budgets.hold([REPORT], 3.0)  # its answer: 429, Retry-After: 3
        return {
            "next report": await send(budgets, clock, REPORT),
            "audit log (same class)": await send(budgets, clock, AUDIT),
            "directory": await send(budgets, clock, DIRECTORY),
        }

    assert asyncio.run(run()) == {
        "next report": 3.05,
        "audit log (same class)": 3.05,
        "directory": 3.05,  # not held: sent at once, after the two before it
    }


def test_a_429_holds_a_request_booked_before_it_arrived() -> None:
    """Page 6 is booked for 10.0; a 429 with Retry-After 3 arrives at 9.0 while it waits:
    it leaves at 12.0, and the directory is not held."""
    clock = VirtualTime()
    budgets = budgets_on(clock)
    clock.at(9.0, lambda: budgets.hold([AUDIT], 3.0))

    async def run() -> list[float]:
        sends = [await send(budgets, clock, REPORT) for _ in range(6)]
        return [*sends, await send(budgets, clock, DIRECTORY)]

    assert asyncio.run(run()) == [0.0] * 5 + [12.0, 12.0]


def test_a_held_class_does_not_hold_another() -> None:
    clock = VirtualTime()
    budgets = budgets_on(clock)
    budgets.hold([REPORT], 3.0)

    async def run() -> list[float]:
        return [await send(budgets, clock, DIRECTORY), await send(budgets, clock, REPORT)]

    assert asyncio.run(run()) == [0.0, 3.0]
