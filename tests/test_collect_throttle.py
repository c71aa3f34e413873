"""Budgets against the emulator's throttling: matched budgets send no 429; without budgets the
429s (outer and inside $batch) are retried after Retry-After and the result is the same; a 429
holds its class for its Retry-After; the sign-in report paced at exactly the documented budget."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.budget import Budgets, EndpointClass, Limit, Request
from maa_guard.collect.budget import unlimited as unlimited_budgets
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator import Limit as ServerLimit
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES, Snapshot, SourceStatus
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
# Tight limits, so the demo tenant's ~250 directory resource units span a few windows.
SERVER = {"directory": ServerLimit(80, 1.0), "intune": ServerLimit(20, 1.0)}
CLIENT = {
    EndpointClass.DIRECTORY: Limit(80, 1.0),
    EndpointClass.INTUNE: Limit(20, 1.0),
    EndpointClass.REPORTS: Limit(1000, 1.0),
    EndpointClass.CONDITIONAL_ACCESS: Limit(1000, 1.0),
}


def demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


def run(budgets: Budgets) -> tuple[Snapshot, int, list[int]]:
    async def go(url: str) -> tuple[Snapshot, int]:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, budgets=budgets, timeout=60) as client:
            snapshot = await collect(client, Settings(), 3, now=DEMO.collected_at)
            return snapshot, client.throttled_count

    fixture = fixture_from_snapshot(DEMO)
    with Emulator(fixture, throttle=SERVER, now=demo_now, fixed_tokens=True) as emulator:
        snapshot, throttled = asyncio.run(go(emulator.url))
        statuses = [r.status for r in emulator.requests]
    return snapshot, throttled, statuses


def test_budgets_matching_the_limits_receive_no_429() -> None:
    snapshot, throttled, statuses = run(Budgets(CLIENT))
    assert throttled == 0
    assert 429 not in statuses
    assert snapshot.sources == {
        **{name: SourceStatus(SourceState.COMPLETE) for name in SOURCES},
        "exclusions": SourceStatus(
            SourceState.COMPLETE,
            reason="from the access policies' property 'excludedApplicationIds' and the audit "
            "log; exclusion history from audit category 'Role'",
        ),
    }
    assert sorted(g.id for g in snapshot.groups) == sorted(g.id for g in DEMO.groups)
    assert sorted(u.id for u in snapshot.users) == sorted(u.id for u in DEMO.users)


def test_without_budgets_429s_are_retried_to_the_same_result() -> None:
    paced, _, _ = run(Budgets(CLIENT))
    snapshot, throttled, statuses = run(unlimited_budgets())
    assert throttled > 0
    assert statuses.count(429) == throttled
    assert snapshot.sources == paced.sources
    for part in ("policies", "groups", "users", "service_principals"):
        assert sorted(map(repr, getattr(snapshot, part))) == sorted(map(repr, getattr(paced, part)))


# ---- a 429 holds its class; the sign-in report at the documented budget -------------------

REPORT: Request = ("reports/servicePrincipalSignInActivities", {"$top": "1"})
AUDIT = "auditLogs/signIns"
PAGES = 11


def test_the_client_holds_a_class_for_retry_after_once_graph_answers_429() -> None:
    """The emulator answers the first report read 429 with Retry-After: 1; an audit-log read
    (the same class) issued after that 429 leaves no earlier than the retried report."""
    budgets = Budgets({kind: Limit(1000, 60.0) for kind in EndpointClass})  # none expire
    window = budgets._windows[EndpointClass.REPORTS]

    async def go(url: str) -> None:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, budgets=budgets, timeout=30) as client:
            report = asyncio.ensure_future(client.get(REPORT[0]))
            while client.throttled_count == 0:
                await asyncio.sleep(0.001)
            await asyncio.gather(report, client.get(AUDIT, {"$top": "1"}))

    faults = {"script": {REPORT[0]: [429]}}
    with Emulator(fixture_from_snapshot(DEMO), faults=faults, fixed_tokens=True) as emulator:
        asyncio.run(go(emulator.url))
        statuses = [(r.path, r.status) for r in emulator.requests]
    assert statuses[0] == ("/beta/reports/servicePrincipalSignInActivities", 429)
    assert sorted(statuses[1:]) == [
        ("/beta/auditLogs/signIns", 200),
        ("/beta/reports/servicePrincipalSignInActivities", 200),
    ]
    sends = sorted(booking.end for booking in window.booked)
    assert len(sends) == 3
    assert sends[0] < window.held_until - 1.0  # the first report, answered 429
    assert sends[1] >= window.held_until  # nothing in the class until Retry-After elapsed


def test_a_report_chain_at_the_documented_budget_receives_no_429() -> None:
    """11 pages of the sign-in report through the documented budgets, the emulator enforcing
    the documented throttle with 50 ms replies: 0 answers 429, and the emulator admits pages 6
    to 11 10 s and one round trip (no margin) after the page five before them."""
    fixture = fixture_from_snapshot(DEMO)
    rows = [{"id": f"r{i}", "appId": f"a{i}"} for i in range(PAGES)]
    fixture["collections"][REPORT[0]] = rows
    admitted: list[float] = []

    def admission_clock() -> float:
        admitted.append(time.monotonic())
        return admitted[-1]

    async def go(url: str) -> int:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, budgets=Budgets(), timeout=60) as client:
            return len(await client.get_all(*REPORT))

    with Emulator(
        fixture, throttle=True, latency_ms=50, fixed_tokens=True, clock=admission_clock
    ) as emulator:
        read = asyncio.run(go(emulator.url))
        statuses = [r.status for r in emulator.requests]
    assert read == PAGES
    assert statuses == [200] * PAGES
    assert len(admitted) == PAGES
    gaps = [b - a for a, b in zip(admitted, admitted[5:], strict=False)]
    assert all(10.0 <= gap < 10.2 for gap in gaps), gaps
