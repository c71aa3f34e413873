"""An expired skip token on a paging chain that starts inside ``$batch`` (group members).

The emulator serves at most ``PAGE`` items per page, so the members of the demo's larger
groups span several pages: the first page comes back inside ``$batch``, the rest through
``@odata.nextLink``. A skip token that expired cannot be asked again, so the chain restarts
from its first page (a plain GET), keeps what it read and drops repeats, at most
``MAX_RESTARTS`` times; when the token never stops expiring, exactly the groups and the users
they name are incomplete and the scan exits 3.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from maa_guard.cli import main
from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.budget import unlimited
from maa_guard.collect.graph import MAX_RESTARTS
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, LoggedRequest, fixture_from_snapshot, graphroles, odata
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES, Snapshot, SourceStatus
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
PAGE = 2
MEMBERS = "groups/{id}/members"
MEMBER_QUERY = "$select=id,displayName&$top=999"
# Groups whose direct members span more than one page of PAGE: the chains that can expire.
APPROVERS = "2f991ba4-2604-497e-afa9-3c9b0d4f500c"  # 3 members
CONFIG = "9ac19352-11b4-420c-adc0-74f85db54ab4"  # 3 members
ADMINS = "cbaaa053-269e-441e-a4cb-c26bfa64116c"  # 5 members
EXPIRED = (
    "HTTP 400 Directory_ExpiredPageToken: The specified page token value has expired and can "
    "no longer be included in your request."
)


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none on first read."""
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(scope="module", autouse=True)
def small_pages() -> Iterator[None]:
    page_size = odata.page_size

    def small_page(query: Any, endpoint_class: str) -> Any:
        size = page_size(query, endpoint_class)
        return min(size, PAGE) if isinstance(size, int) else size

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(odata, "page_size", small_page)
        yield


def run(faults: dict[str, Any] | None) -> tuple[Snapshot, list[LoggedRequest]]:
    async def go(url: str) -> Snapshot:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        client = GraphClient(credential, endpoint, budgets=unlimited(), timeout=30)
        async with client:
            return await collect(client, Settings(), 200, now=DEMO.collected_at)

    with Emulator(
        fixture_from_snapshot(DEMO), faults=faults, throttle=False, now=demo_now, fixed_tokens=True
    ) as em:
        snapshot = asyncio.run(go(em.url))
        return snapshot, em.requests


def members_of(group_id: str, log: list[LoggedRequest]) -> list[tuple[bool, bool, int]]:
    """(inside $batch, a continuation, status) of each read of one group's members."""
    path = f"/beta/groups/{group_id}/members"
    return [(r.in_batch, "skiptoken" in r.query, r.status) for r in log if r.path == path]


def parts(snapshot: Snapshot) -> dict[str, list[str]]:
    names = ("policies", "groups", "users", "service_principals", "audit_events")
    return {
        n: sorted(json.dumps(encode(i), sort_keys=True) for i in getattr(snapshot, n))
        for n in names
    }


@pytest.fixture(scope="module")
def clean() -> tuple[Snapshot, list[LoggedRequest]]:
    snapshot, log = run(None)
    assert snapshot.sources == {
        **{name: SourceStatus(SourceState.COMPLETE) for name in SOURCES},
        "exclusions": SourceStatus(
            SourceState.COMPLETE,
            reason="from the access policies' property 'excludedApplicationIds' and the audit "
            "log; exclusion history from audit category 'Role'",
        ),
    }
    return snapshot, log


def test_an_expired_token_on_a_member_continuation_restarts_and_recovers(
    clean: tuple[Snapshot, list[LoggedRequest]],
) -> None:
    clean_snapshot, clean_log = clean
    snapshot, log = run({"expire_skiptoken": {MEMBERS: 1}})
    reads = {g.id: members_of(g.id, log) for g in DEMO.groups}
    clean_reads = {g.id: members_of(g.id, clean_log) for g in DEMO.groups}
    restarted = {g for g in reads if reads[g] != clean_reads[g]}
    (group,) = restarted  # the one whose continuation came first; the chains run at once
    assert group in (APPROVERS, CONFIG, ADMINS)
    assert clean_reads[APPROVERS] == [(True, False, 200), (False, True, 200)]
    assert (
        reads[group]
        == [
            clean_reads[group][0],  # first page, inside $batch
            (False, True, 400),  # its continuation: the token expired
            (False, False, 200),  # the chain restarts with a plain GET of the first page
            *clean_reads[group][1:],  # and follows its continuations again
        ]
    )
    assert snapshot.sources == clean_snapshot.sources
    assert parts(snapshot) == parts(clean_snapshot)


def test_a_token_that_always_expires_leaves_exactly_groups_and_users_incomplete(
    clean: tuple[Snapshot, list[LoggedRequest]],
) -> None:
    snapshot, log = run({"expire_skiptoken": {MEMBERS: 1000}})
    tries = [(True, False, 200), (False, True, 400)] + [
        (False, False, 200),
        (False, True, 400),
    ] * MAX_RESTARTS
    assert members_of(APPROVERS, log) == tries
    assert members_of(ADMINS, log) == tries
    reason = f"GET groups/{APPROVERS}/members?{MEMBER_QUERY}: {EXPIRED} (and 2 more)"
    incomplete = {n: s for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE}
    assert incomplete == {
        "groups": SourceStatus(SourceState.PARTIAL, reason=reason),
        "users": SourceStatus(SourceState.PARTIAL, reason=f"its input was incomplete: {reason}"),
    }
    assert parts(snapshot)["service_principals"] == parts(clean[0])["service_principals"]


def test_a_scan_whose_member_tokens_always_expire_exits_three(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    faults = {"expire_skiptoken": {MEMBERS: 1000}}
    with Emulator(
        fixture_from_snapshot(DEMO), faults=faults, now=demo_now, fixed_tokens=True
    ) as emulator:
        live = ["--auth", "token", "--graph-endpoint", emulator.url, "--days", "365", "--quiet"]
        code = main(["scan", "--format", "json", "--rule", "MAA202", *live])
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    reason = f"GET groups/{APPROVERS}/members?{MEMBER_QUERY}: {EXPIRED} (and 2 more)"
    assert code == 3
    assert (finding["rule_id"], finding["status"]) == ("MAA202", "error")
    assert finding["message"] == (
        f"could not verify: groups is partial ({reason}); "
        f"users is partial (its input was incomplete: {reason})"
    )
