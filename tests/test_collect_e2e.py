"""The collector against the loopback Graph emulator: real HTTP, the real client stack.

The demo tenant is served from its snapshot (``fixture_from_snapshot``) and collected back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from maa_guard.cli import main
from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.directory import GROUP_FIELDS
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles, odata
from maa_guard.model import SourceState
from maa_guard.scan.pipeline import demo_path
from maa_guard.snapshot import SOURCES, Snapshot, SourceStatus
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot

SECRET = "s3cret-bearer-token-7f1e"
DEMO = load_snapshot(demo_path("snapshot.json"))


def demo_now() -> datetime:
    """The emulator's clock, set before every request's expiry, so it expires none.

    (The demo holds an approved request already past its expiry at ``collected_at``; the
    emulator would turn it ``expired`` on the first read.)
    """
    return min(r.request_date_time for r in DEMO.approval_requests)


# The demo's audit log reaches back to May; a 200-day window collects all of it.
DAYS = 200
PARTS = (
    "policies",
    "approval_requests",
    "groups",
    "users",
    "service_principals",
    "conditional_access_policies",
    "role_definitions",
    "role_assignments",
    "audit_events",
    "sign_in_activity",
)


def demo_fixture() -> dict[str, Any]:
    fixture = fixture_from_snapshot(DEMO)
    fixture["tokens"][SECRET] = fixture["tokens"][graphroles.READER_TOKEN]
    return fixture


def run_collect(
    url: str, days: int = DAYS, progress: Any = None, settings: Settings | None = None
) -> Snapshot:
    async def go() -> Snapshot:
        endpoint = resolve_endpoint("global", url)
        chosen = settings or Settings()
        async with GraphClient(StaticTokenCredential(SECRET), endpoint, timeout=30) as client:
            return await collect(client, chosen, days, now=DEMO.collected_at, progress=progress)

    return asyncio.run(go())


def canonical(items: Any) -> list[Any]:
    """Graph's order is not part of the contract: compare as sorted JSON."""
    return sorted(json.dumps(_sorted_exclusions(encode(item)), sort_keys=True) for item in items)


def _sorted_exclusions(item: Any) -> Any:
    if isinstance(item, dict) and "exclusions" in item:
        key = lambda e: (e["source"], e["appId"])  # noqa: E731
        return {**item, "exclusions": sorted(item["exclusions"], key=key)}
    return item


def expected_part(name: str) -> list[Any]:
    items = getattr(DEMO, name)
    if name == "policies":
        items = [_as_graph_tells_it(p) for p in items]
    return canonical(items)


def _as_graph_tells_it(policy: Any) -> Any:
    """An excluded app without a service principal (deleted) has no name in Graph."""
    fixed = tuple(
        e if e.service_principal_id else dataclasses.replace(e, display_name="")
        for e in policy.exclusions
    )
    return dataclasses.replace(policy, exclusions=fixed)


PROGRESS: list[tuple[str, SourceState, int]] = []


@pytest.fixture(scope="module")
def clean() -> Iterator[tuple[Snapshot, list[Any]]]:
    def progress(source: str, status: SourceStatus, count: int) -> None:
        PROGRESS.append((source, status.state, count))

    with Emulator(demo_fixture(), now=demo_now) as emulator:
        snapshot = run_collect(emulator.url, progress=progress)
        yield snapshot, emulator.requests


@pytest.mark.parametrize("part", PARTS)
def test_collects_the_demo_tenant_exactly(clean: tuple[Snapshot, list[Any]], part: str) -> None:
    snapshot, _ = clean
    assert canonical(getattr(snapshot, part)) == expected_part(part)


def test_win32_packager_exclusion_has_no_service_principal(
    clean: tuple[Snapshot, list[Any]],
) -> None:
    policy = next(p for p in clean[0].policies if p.display_name == "Scripts and remediations")
    orphan = next(e for e in policy.exclusions if e.app_id.startswith("a9eba204"))
    assert (orphan.service_principal_id, orphan.display_name) == (None, "")


def test_envelope_and_every_source_complete(clean: tuple[Snapshot, list[Any]]) -> None:
    snapshot, _ = clean
    assert snapshot.tenant == DEMO.tenant
    assert snapshot.collected_at == DEMO.collected_at
    assert snapshot.window.end == DEMO.collected_at
    assert snapshot.window.start == DEMO.collected_at - timedelta(days=DAYS)
    assert snapshot.sources == {name: SourceStatus(SourceState.COMPLETE) for name in SOURCES}


def test_read_only_only_get_and_batch_of_gets(clean: tuple[Snapshot, list[Any]]) -> None:
    _, requests = clean
    outer = [r for r in requests if not r.in_batch]
    inner = [r for r in requests if r.in_batch]
    assert {r.method for r in outer} == {"GET", "POST"}
    assert {r.path for r in outer if r.method == "POST"} == {"/beta/$batch"}
    assert {r.method for r in inner} == {"GET"}
    assert all(r.headers.get("prefer") == "include-unknown-enum-members" for r in requests)
    assert {r.status for r in requests} == {200, 404}


def test_a_denied_permission_fails_exactly_that_source() -> None:
    faults = {"deny": {"identity/conditionalAccess": "Policy.Read.All"}}
    with Emulator(demo_fixture(), faults=faults, now=demo_now) as emulator:
        snapshot = run_collect(emulator.url)
    failed = {
        name: s for name, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE
    }
    assert failed == {
        "conditional_access": SourceStatus(
            SourceState.FAILED,
            reason="GET identity/conditionalAccess/policies: HTTP 403 "
            "Authorization_RequestDenied; missing permission Policy.Read.All",
            missing_permission="Policy.Read.All",
        )
    }
    assert snapshot.conditional_access_policies == ()
    assert canonical(snapshot.service_principals) == expected_part("service_principals")


def test_no_token_in_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Emulator(demo_fixture(), now=demo_now) as emulator:
        run_collect(emulator.url, days=3)
    assert any(r.name == "maa_guard.collect" for r in caplog.records)
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records)
    assert SECRET not in caplog.text


def test_progress_reports_each_source_once_with_its_count(
    clean: tuple[Snapshot, list[Any]],
) -> None:
    complete = SourceState.COMPLETE
    assert sorted(PROGRESS) == [
        ("access_policies", complete, 7),
        ("approval_requests", complete, 12),
        ("audit_events", complete, 40),
        ("conditional_access", complete, 2),
        ("exclusions", complete, 7),
        ("groups", complete, 6),
        ("rbac", complete, 6),
        ("service_principals", complete, 8),
        ("sign_in_activity", complete, 8),
        ("users", complete, 15),
    ]


def test_sign_in_activity_falls_back_to_the_sign_in_log() -> None:
    faults = {"deny": {"reports": "AuditLog.Read.All"}}
    with Emulator(demo_fixture(), faults=faults, now=demo_now) as emulator:
        snapshot = run_collect(emulator.url)
        paths = {r.path for r in emulator.requests}
    assert "/beta/auditLogs/signIns" in paths
    assert canonical(snapshot.sign_in_activity) == expected_part("sign_in_activity")
    assert snapshot.sources["sign_in_activity"] == SourceStatus(
        SourceState.COMPLETE,
        reason="from auditLogs/signIns of the window; reports/servicePrincipalSignInActivities "
        "unavailable (GET reports/servicePrincipalSignInActivities: HTTP 403 "
        "Authorization_RequestDenied; missing permission AuditLog.Read.All)",
    )


def test_a_token_without_group_read_fails_groups_and_leaves_users_partial() -> None:
    fixture = demo_fixture()
    roles = fixture["tokens"][SECRET]["roles"]
    lacking = [r for r in roles if r not in ("GroupMember.Read.All", "Directory.Read.All")]
    fixture["tokens"][SECRET] = {**fixture["tokens"][SECRET], "roles": lacking}
    with Emulator(fixture, now=demo_now) as emulator:
        snapshot = run_collect(emulator.url)
    incomplete = {n: s for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE}
    groups = incomplete["groups"]
    assert set(incomplete) == {"groups", "users"}
    assert (groups.state, groups.missing_permission) == (
        SourceState.FAILED,
        "GroupMember.Read.All",
    )
    assert groups.reason == (
        f"GET groups/{_first_group_read()}?$select={GROUP_FIELDS}: HTTP 403 "
        "Authorization_RequestDenied; missing permission GroupMember.Read.All (and 5 more)"
    )
    assert incomplete["users"] == SourceStatus(
        SourceState.PARTIAL,
        reason=f"its input was incomplete: {groups.reason}",
        missing_permission="GroupMember.Read.All",
    )
    assert (snapshot.groups, snapshot.users) == ((), ())


def _first_group_read() -> str:
    """Groups are read in order: policies' approver groups, then role assignment members."""
    return DEMO.policies[0].approver_group_ids[0]


def test_an_exclusions_property_no_policy_carries_makes_exclusions_partial() -> None:
    with Emulator(demo_fixture(), now=demo_now) as emulator:
        snapshot = run_collect(emulator.url, settings=Settings(exclusions_property="exemptApps"))
    assert snapshot.sources["exclusions"] == SourceStatus(
        SourceState.PARTIAL,
        reason="no access policy carries the property 'exemptApps'; exclusions older than "
        "the audit log's retention cannot be seen (set graph.exclusions_property)",
    )
    sources = {e.source.value for p in snapshot.policies for e in p.exclusions}
    assert sources == {"audit-log"}


# ---- exclusions known only from the audit log, older than the window --------------------------

P_APPS = "a44b31e5-8ba9-4337-9698-57b8e463df88"  # Apps - Windows
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # excluded from it in May, by the audit log
HISTORY = "category eq 'Role'"


def _audit_reads(requests: list[Any]) -> tuple[int, int]:
    """(window slices, exclusion-history slices) read from the Intune audit log."""
    audit = [r for r in requests if r.path.endswith("/deviceManagement/auditEvents")]
    filters = [parse_qs(r.query)["$filter"][0] for r in audit]
    return sum(HISTORY not in f for f in filters), sum(HISTORY in f for f in filters)


def test_a_30_day_window_still_sees_exclusions_from_the_audit_log_history() -> None:
    with Emulator(demo_fixture(), now=demo_now) as emulator:
        snapshot = run_collect(emulator.url, days=30)
        reads = _audit_reads(emulator.requests)
    window_start = DEMO.collected_at - timedelta(days=30)
    older_policy_events = [
        e for e in DEMO.audit_events if e.activity_date_time < window_start and e.category == "Role"
    ]
    assert reads == (30, 8)
    assert snapshot.sources == {name: SourceStatus(SourceState.COMPLETE) for name in SOURCES}
    assert canonical(snapshot.policies) == expected_part("policies")
    assert canonical(snapshot.service_principals) == expected_part("service_principals")
    assert [e.activity for e in older_policy_events] == [
        "Add exclusion to access policy",
        "Add exclusion to access policy",
        "Add exclusion to access policy",
        "Remove exclusion from access policy",
    ]
    in_window = [e for e in DEMO.audit_events if e.activity_date_time >= window_start]
    assert snapshot.audit_events == tuple(older_policy_events + in_window)


@pytest.fixture
def history_filter_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Graph that answers 400 to the category filter of the exclusion-history read."""
    monkeypatch.setitem(
        odata.FILTERABLE, "deviceManagement/auditEvents", frozenset({"activityDateTime"})
    )


REJECTED = (
    "GET deviceManagement/auditEvents: HTTP 400 BadRequest: Unsupported or invalid query filter "
    "clause specified for property 'category' of resource 'auditEvents'. (and 7 more)"
)


def test_an_unread_exclusion_history_leaves_exclusions_and_their_apps_incomplete(
    history_filter_rejected: None,
) -> None:
    with Emulator(demo_fixture(), now=demo_now) as emulator:
        snapshot = run_collect(emulator.url, days=30)
    incomplete = {n: s for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE}
    from_history = f"its input was incomplete: {REJECTED}"
    assert incomplete == {
        "exclusions": SourceStatus(SourceState.PARTIAL, reason=f"exclusion history: {REJECTED}"),
        "service_principals": SourceStatus(SourceState.PARTIAL, reason=from_history),
        "sign_in_activity": SourceStatus(
            SourceState.PARTIAL, reason=f"its input was incomplete: {from_history}"
        ),
    }
    apps = next(p for p in snapshot.policies if p.id == P_APPS)
    assert TAG_SYNC not in [e.app_id for e in apps.exclusions]  # unseen, so never a pass


def test_a_scan_with_an_unread_exclusion_history_exits_three(
    history_filter_rejected: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", SECRET)
    with Emulator(demo_fixture(), now=demo_now) as emulator:
        live = ["--auth", "token", "--graph-endpoint", emulator.url, "--quiet"]
        code = main(["scan", "--format", "json", "--rule", "MAA408", *live])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert code == 3
    assert [(f["rule_id"], f["status"], f["message"]) for f in findings] == [
        (
            "MAA408",
            "error",
            f"could not verify: exclusions is partial (exclusion history: {REJECTED})",
        )
    ]
