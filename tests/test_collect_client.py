"""The Graph client alone against the emulator: errors, retries, the time budget, $batch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from maa_guard.collect import (
    GraphClient,
    GraphError,
    StaticTokenCredential,
    TimeBudgetExceeded,
    resolve_endpoint,
)
from maa_guard.collect.budget import unlimited
from maa_guard.collect.graph import RetryPolicy
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

T = TypeVar("T")
DEMO = load_snapshot(demo_path("snapshot.json"))
CA = "identity/conditionalAccess/policies"


def call(
    work: Callable[[GraphClient], Awaitable[T]],
    *,
    token: str = graphroles.READER_TOKEN,
    faults: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> tuple[T | GraphError, list[tuple[str, str, int]]]:
    async def go(url: str) -> T | GraphError:
        client = GraphClient(
            StaticTokenCredential(token),
            resolve_endpoint("global", url),
            budgets=unlimited(),
            timeout=timeout,
            retry=RetryPolicy(base_delay=0.5),
            jitter=lambda: 0.5,
        )
        async with client:
            try:
                return await work(client)
            except GraphError as error:
                return error

    with Emulator(fixture_from_snapshot(DEMO), faults=faults, fixed_tokens=True) as emulator:
        result = asyncio.run(go(emulator.url))
        log = [(r.method, r.path, r.status) for r in emulator.requests]
    return result, log


def test_the_time_budget_stops_retrying() -> None:
    """The emulator's 503 says Retry-After: 1; a 1 s budget cannot wait for it."""
    result, log = call(lambda c: c.get(CA), faults={"script": {CA: [503] * 5}}, timeout=1.0)
    assert isinstance(result, TimeBudgetExceeded)
    assert result.message == f"GET {CA}: the time budget ran out while waiting to retry"
    assert result.exit_code == 3
    assert log == [("GET", f"/beta/{CA}", 503)]


def test_retry_after_is_honoured() -> None:
    started = time.monotonic()
    result, log = call(lambda c: c.get(CA), faults={"script": {CA: [429]}})
    elapsed = time.monotonic() - started
    assert not isinstance(result, GraphError)
    assert [p["displayName"] for p in result["value"]] == [
        p.display_name for p in DEMO.conditional_access_policies
    ]
    assert [s for _, _, s in log] == [429, 200]
    assert elapsed >= 1.0  # it waited out Retry-After: 1 (no upper bound: not a timed test)


def test_a_permanent_4xx_fails_fast() -> None:
    result, log = call(lambda c: c.get("groups/no-such-group"))
    assert isinstance(result, GraphError)
    assert (result.status, result.code) == (404, "Request_ResourceNotFound")
    assert len(log) == 1


def test_an_unknown_token_is_401_with_a_hint() -> None:
    result, log = call(lambda c: c.get(CA), token="not-a-known-token")
    assert isinstance(result, GraphError)
    assert (result.status, result.code) == (401, "InvalidAuthenticationToken")
    assert result.hint == "the token was rejected; check --auth and the tenant"
    assert log == [("GET", f"/beta/{CA}", 401)]


def test_batch_returns_items_in_order_and_retries_only_throttled_items() -> None:
    groups = [g.id for g in DEMO.groups]
    paths = [f"groups/{g}?$select=id" for g in groups] + ["groups/missing?$select=id"]
    faults = {"script": {"groups/{id}": [429]}}
    result, log = call(lambda c: c.batch_get(paths), faults=faults)
    assert not isinstance(result, GraphError)
    assert [(item.status, item.body.get("id")) for item in result] == [
        *((200, g) for g in groups),
        (404, None),
    ]
    inner = [(m, s) for m, p, s in log if p.startswith("/beta/groups/")]
    assert inner.count(("GET", 429)) == 1
    assert len(inner) == len(paths) + 1
    assert [m for m, p, _ in log if p == "/beta/$batch"] == ["POST", "POST"]


@pytest.mark.parametrize("count", [21, 40])
def test_batches_hold_at_most_twenty_requests(count: int) -> None:
    paths = [f"groups/{DEMO.groups[0].id}?$select=id"] * count
    result, log = call(lambda c: c.batch_get(paths))
    assert not isinstance(result, GraphError)
    assert [item.status for item in result] == [200] * count
    assert sum(1 for _, p, _ in log if p == "/beta/$batch") == 2
