"""Adaptive audit slicing reads exactly what one sequential nextLink chain reads.

A read starts as one slice over its span; a slice whose first page has a nextLink is split in
halves, read at once, down to 1/32 of the span. The emulator serves ``PAGE`` events per page
here, so a handful of events already makes slices page and split. For any spread of event
times (uniform, clustered, on the split edges and a microsecond either side, outside the
span) the window read and the exclusion-history read give the same events, in the same
order, as a single chain over the whole span with the same filter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest
from builders import new_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pages import pages_of_at_most

from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint
from maa_guard.collect.budget import unlimited
from maa_guard.collect.common import Outcome, Problems, decode_all
from maa_guard.collect.intune import (
    AUDIT_EVENTS,
    AUDIT_FIELDS,
    INTUNE_TOP,
    collect_audit_events,
    collect_exclusion_history,
    history_span,
    time_slices,
)
from maa_guard.emulator import Emulator, LoggedRequest, fixture_from_snapshot, graphroles
from maa_guard.model import SourceState
from maa_guard.snapshot import AuditEvent, Window
from maa_guard.snapshot.codec import format_datetime
from maa_guard.snapshot.file import parse_snapshot

PAGE = 3
WINDOW = Window(
    datetime(2026, 10, 2, 8, tzinfo=timezone.utc), datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
)
HISTORY = history_span(WINDOW)
MICROSECOND = timedelta(microseconds=1)
# Role events name exclusions, so the history reads category 'Role'; Device events do not.
KINDS = {"Role": "Add exclusion to access policy", "Device": "Wipe ManagedDevice"}
# Always there, so category discovery always finds 'Role'.
ANCHOR = HISTORY.start + timedelta(days=1)


@pytest.fixture(scope="module", autouse=True)
def small_pages() -> Iterator[None]:
    with pages_of_at_most(PAGE):
        yield


def edges(span: Window) -> list[datetime]:
    """Every edge a split can make, and a microsecond either side."""
    points = [part.start for part in time_slices(span, 32)] + [span.end]
    return [point + shift * MICROSECOND for point in points for shift in (-1, 0, 1)]


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


anywhere = st.datetimes(
    min_value=naive(HISTORY.start - timedelta(days=2)),
    max_value=naive(WINDOW.end + timedelta(days=2)),
    timezones=st.just(timezone.utc),
)
on_an_edge = st.sampled_from(edges(WINDOW) + edges(HISTORY))
in_a_burst = st.builds(
    lambda centre, offset: centre + offset,
    st.sampled_from([WINDOW.start + timedelta(days=d) for d in (0, 3.3, 17, 29.9)]),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)),
)
moments = st.lists(st.one_of(anywhere, on_an_edge, in_a_burst), min_size=20, max_size=80)
categories = st.lists(st.sampled_from(sorted(KINDS)), min_size=80, max_size=80)


def event(number: int, when: datetime, category: str) -> dict[str, Any]:
    return {
        "id": f"evt-{number:04d}",
        "activityDateTime": format_datetime(when),
        "actor": {"applicationId": "app-1", "applicationDisplayName": "Automation"},
        "activity": KINDS[category],
        "activityType": KINDS[category],
        "activityOperationType": KINDS[category].split(" ", 1)[0],
        "activityResult": "Success",
        "category": category,
        "resources": [],
    }


def tenant(times: list[datetime], kinds: list[str]) -> dict[str, Any]:
    snap = new_snapshot()
    snap["audit_events"] = [event(0, ANCHOR, "Role")] + [
        event(number, when, kind)
        for number, (when, kind) in enumerate(zip(times, kinds[: len(times)], strict=True), 1)
    ]
    return fixture_from_snapshot(parse_snapshot(snap))


def one_chain_params(span: Window, clause: str = "") -> dict[str, str]:
    dates = (
        f"activityDateTime ge {format_datetime(span.start)} "
        f"and activityDateTime lt {format_datetime(span.end)}"
    )
    return {
        "$filter": f"{dates} and {clause}" if clause else dates,
        "$select": AUDIT_FIELDS,
        "$top": INTUNE_TOP,
    }


Reads = tuple[Outcome[AuditEvent], Outcome[AuditEvent], list[AuditEvent], list[AuditEvent]]


def read_both_ways(fixture: dict[str, Any]) -> tuple[Reads, list[LoggedRequest]]:
    """(window read, history read, window as one chain, history as one chain), and the log."""

    async def go(url: str) -> Reads:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, budgets=unlimited(), timeout=30) as client:
            window = await collect_audit_events(client, WINDOW)
            history = await collect_exclusion_history(client, WINDOW)
            whole = await client.get_all(AUDIT_EVENTS, one_chain_params(WINDOW))
            older = await client.get_all(
                AUDIT_EVENTS, one_chain_params(HISTORY, "category eq 'Role'")
            )
        return window, history, in_order(whole), in_order(older)

    with Emulator(fixture, throttle=False, fixed_tokens=True) as emulator:
        reads = asyncio.run(go(emulator.url))
        return reads, emulator.requests


def in_order(raws: list[dict[str, Any]]) -> list[AuditEvent]:
    events = decode_all(AuditEvent, raws, Problems())
    return sorted(events, key=lambda e: (e.activity_date_time, e.id))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(times=moments, kinds=categories)
def test_adaptive_slices_read_exactly_what_one_chain_reads(
    times: list[datetime], kinds: list[str]
) -> None:
    (window, history, whole, older), _ = read_both_ways(tenant(times, kinds))
    assert window.status.state is SourceState.COMPLETE
    assert list(window.items) == whole
    assert history.status.state is SourceState.COMPLETE
    assert list(history.items) == older
    assert len(whole) == sum(WINDOW.start <= t < WINDOW.end for t in times)


def audit_filters(log: list[LoggedRequest]) -> list[str]:
    return [parse_qs(r.query)["$filter"][0] for r in log if r.path == f"/beta/{AUDIT_EVENTS}"]


def test_a_window_that_fits_one_page_costs_one_request() -> None:
    times = [WINDOW.start, WINDOW.start + timedelta(days=10), WINDOW.end - MICROSECOND]
    (window, _, _, _), log = read_both_ways(tenant(times, ["Device"] * 3))
    window_reads = [f for f in audit_filters(log) if "category" not in f]
    assert len(window.items) == 3
    # the adaptive read, then the reference chain
    assert window_reads == [one_chain_params(WINDOW)["$filter"]] * 2


def test_a_window_that_pages_is_read_again_one_slice_per_day() -> None:
    """Four events in the window's first day (a page holds three): the whole-window read pages,
    so the 30-day window is read again as 30 daily slices at once; only the first day follows
    its chain (two pages)."""
    days = time_slices(WINDOW, 30)
    times = [days[0].start + timedelta(minutes=minute) for minute in (0, 1, 2, 3)]
    (window, _, whole, _), log = read_both_ways(tenant(times, ["Device"] * 4))
    window_reads = [f for f in audit_filters(log) if "category" not in f][:-2]  # not the chain
    assert list(window.items) == whole
    assert len(window.items) == 4
    expected = [one_chain_params(WINDOW)["$filter"]]
    expected += [one_chain_params(day)["$filter"] for day in days]
    expected.append(one_chain_params(days[0])["$filter"])  # its second page, by nextLink
    assert sorted(window_reads) == sorted(expected)
    assert len(window_reads) == 1 + 30 + 1
