"""Budgets against the emulator's throttling: matched budgets send no 429; without budgets the
429s (outer and inside $batch) are retried after Retry-After and the result is the same."""

from __future__ import annotations

import asyncio
from datetime import datetime

from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.budget import Budgets, EndpointClass, Limit
from maa_guard.collect.budget import unlimited as unlimited_budgets
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator import Limit as ServerLimit
from maa_guard.model import SourceState
from maa_guard.scan.pipeline import demo_path
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
