"""Faults on a paged source (2,500 approval requests = 3 pages) through the emulator.

Each fault either recovers with exactly the clean result, or marks the source failed with
the reason; never a silent, shorter list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime
from typing import Any

import pytest

from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import ApprovalRequest, Snapshot, SourceStatus
from maa_guard.snapshot.file import load_snapshot

ROUTE = "deviceManagement/operationApprovalRequests"
DEMO = load_snapshot(demo_path("snapshot.json"))


def demo_now() -> datetime:
    """The emulator's clock, set before every request's expiry, so it expires none.

    (The demo holds an approved request already past its expiry at ``collected_at``; the
    emulator would turn it ``expired`` on the first read.)
    """
    return min(r.request_date_time for r in DEMO.approval_requests)


def _requests(count: int) -> tuple[ApprovalRequest, ...]:
    template = DEMO.approval_requests[0]
    return tuple(
        dataclasses.replace(template, id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"req/{i}")))
        for i in range(count)
    )


BIG = dataclasses.replace(DEMO, approval_requests=_requests(2500))


def run(faults: dict[str, Any]) -> tuple[Snapshot, list[int]]:
    """The snapshot, and the statuses the emulator answered on the faulty route."""

    async def go(url: str) -> Snapshot:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, timeout=30) as client:
            return await collect(client, Settings(), 3, now=DEMO.collected_at)

    with Emulator(
        fixture_from_snapshot(BIG), faults=faults, now=demo_now, fixed_tokens=True
    ) as emulator:
        snapshot = asyncio.run(go(emulator.url))
        statuses = [r.status for r in emulator.requests if r.path.endswith(ROUTE)]
    return snapshot, statuses


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        ({}, [200, 200, 200]),
        ({"duplicate": [ROUTE]}, [200, 200, 200]),
        ({"empty_page": [ROUTE]}, [200, 200, 200, 200]),
        ({"expire_skiptoken": [ROUTE]}, [200, 400, 200, 200, 200]),
        ({"truncate": [ROUTE]}, [200, 200, 200, 200]),
        ({"reset": [ROUTE]}, [200, 200, 200, 200]),
        ({"script": {ROUTE: [503, 503]}}, [503, 503, 200, 200, 200]),
    ],
    ids=["clean", "duplicate", "empty-page", "expired-skiptoken", "truncated", "reset", "503x2"],
)
def test_fault_recovers_with_the_clean_result(fault: dict[str, Any], statuses: list[int]) -> None:
    snapshot, answered = run(fault)
    assert answered == statuses
    assert snapshot.approval_requests == BIG.approval_requests
    assert snapshot.sources["approval_requests"] == SourceStatus(SourceState.COMPLETE)


def test_next_link_loop_fails_the_source() -> None:
    snapshot, answered = run({"loop": [ROUTE]})
    assert answered == [200, 200]
    assert snapshot.approval_requests == ()
    assert snapshot.sources["approval_requests"] == SourceStatus(
        SourceState.FAILED, reason=f"{ROUTE}: the same page was served twice"
    )
    assert snapshot.sources["access_policies"] == SourceStatus(SourceState.COMPLETE)
