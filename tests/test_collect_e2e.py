"""The collector against the loopback Graph emulator: real HTTP, the real client stack.

The demo tenant is served from its snapshot (``fixture_from_snapshot``) and collected back, from
both emulator profiles: ``default`` (the provisional exclusion property, the requests'
identities) and ``published`` (what Microsoft's Graph returns: no exclusion property, null
identities, MAA audit events in their own category).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from profiles import (
    PROFILES,
    VARIANT_NAMES,
    VARIANTS,
    Variant,
    added_request_events,
    as_served,
    history_category,
    request_events,
)

from maa_guard.cli import main
from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.directory import GROUP_FIELDS
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles, odata
from maa_guard.exclusions.provenance import TRUSTED, UNTRUSTED
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
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


FROM_PROPERTY = (
    "from the access policies' property 'excludedApplicationIds' and the audit log; "
    "exclusion history from audit category 'Role'"
)
# Without a property, exclusions older than the audit log are unseen: partial, not complete.
EXCLUSIONS = {
    "default": SourceStatus(SourceState.COMPLETE, reason=FROM_PROPERTY),
    "published": SourceStatus(
        SourceState.PARTIAL,
        reason=f"{UNTRUSTED}; exclusion history from audit category 'MultiAdminApproval'",
    ),
}


def all_sources(profile: str) -> dict[str, SourceStatus]:
    """Every source complete, exclusions apart."""
    complete = SourceStatus(SourceState.COMPLETE)
    return {name: EXCLUSIONS[profile] if name == "exclusions" else complete for name in SOURCES}


ALL_COMPLETE = all_sources("default")
# What a collection leaves incomplete whatever else happens.
ALWAYS_INCOMPLETE = {"default": {}, "published": {"exclusions": EXCLUSIONS["published"]}}


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


def expected_part(name: str, profile: str = "default") -> list[Any]:
    items = getattr(as_served(DEMO, profile), name)
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


@dataclass(frozen=True)
class Collected:
    profile: str
    snapshot: Snapshot
    requests: list[Any]
    progress: list[tuple[str, SourceState, int]]


@pytest.fixture(scope="module", params=PROFILES)
def clean(request: pytest.FixtureRequest) -> Iterator[Collected]:
    """The demo tenant collected once per profile."""
    progress: list[tuple[str, SourceState, int]] = []

    def report(source: str, status: SourceStatus, count: int) -> None:
        progress.append((source, status.state, count))

    with serving(request.param) as emulator:
        snapshot = run_collect(emulator.url, progress=report)
        yield Collected(request.param, snapshot, emulator.requests, progress)


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@contextmanager
def serving(
    profile: str, fixture: dict[str, Any] | None = None, **options: Any
) -> Iterator[Emulator]:
    tenant = demo_fixture() if fixture is None else fixture
    with Emulator(tenant, now=demo_now, profile=profile, fixed_tokens=True, **options) as running:
        yield running


@pytest.mark.parametrize("part", PARTS)
def test_collects_the_demo_tenant_exactly(clean: Collected, part: str) -> None:
    collected = getattr(clean.snapshot, part)
    if part == "audit_events":
        collected, added = added_request_events(collected, DEMO)
        assert added == request_events(DEMO, clean.profile)
    assert canonical(collected) == expected_part(part, clean.profile)


def test_the_published_profile_hides_what_graph_does_not_publish() -> None:
    """What ``as_served`` takes away, spelled out for the demo."""
    published = as_served(DEMO, "published")
    assert {p.display_name: len(p.exclusions) for p in published.policies if p.exclusions} == {
        "Apps - Windows": 1,  # Intune Tag Sync, from the audit log
        "Scripts and remediations": 1,  # Remediation Script Publisher, from the audit log
    }
    assert {(r.requestor, r.approver) for r in published.approval_requests} == {(None, None)}
    # who filed each of the 12 requests, and who decided the 7 approved and the 1 rejected
    assert Counter(kind for kind, *_ in request_events(DEMO, "published")) == {
        "Create OperationApprovalRequest": 12,
        "Approve OperationApprovalRequest": 7,
        "Reject OperationApprovalRequest": 1,
    }
    assert sorted(e.activity for e in published.audit_events if e.category == "Role") == []
    assert sorted(
        e.activity for e in published.audit_events if e.category == "MultiAdminApproval"
    ) == [
        "Add exclusion to access policy",
        "Add exclusion to access policy",
        "Add exclusion to access policy",
        "Create OperationApprovalPolicy",
        "Patch DeviceConfiguration (approval required)",
        "Patch DeviceManagementConfigurationPolicy (approval required)",
        "Remove exclusion from access policy",
    ]


@pytest.mark.parametrize("clean", ["default"], indirect=True)
def test_win32_packager_exclusion_has_no_service_principal(clean: Collected) -> None:
    # default only: the packager's exclusion is in the policy property, which published lacks
    policy = next(
        p for p in clean.snapshot.policies if p.display_name == "Scripts and remediations"
    )
    orphan = next(e for e in policy.exclusions if e.app_id.startswith("a9eba204"))
    assert (orphan.service_principal_id, orphan.display_name) == (None, "")


def test_envelope_and_every_source_complete(clean: Collected) -> None:
    snapshot = clean.snapshot
    assert snapshot.tenant == DEMO.tenant
    assert snapshot.collected_at == DEMO.collected_at
    assert snapshot.window.end == DEMO.collected_at
    assert snapshot.window.start == DEMO.collected_at - timedelta(days=DAYS)
    assert snapshot.sources == all_sources(clean.profile)


# Graph answers 404 for a group or an app registration that does not exist: the deleted
# approver group, and the apps whose registrations live in another tenant or nowhere (a managed
# identity); the deleted Win32 Packager is looked up only where the property names it.
NOT_FOUND = {
    "default": [
        "/beta/groups/4d6a4924-0222-4489-9a66-8f941ac281e4",
        "/beta/servicePrincipals(appId='a9eba204-80b1-482f-950c-511b726c5faf')",
        "/beta/applications(appId='350f6c08-5658-4455-a594-a9245970fd44')",
        "/beta/applications(appId='bab23660-1abd-4475-86b6-29f7edd03121')",
    ],
    "published": [
        "/beta/groups/4d6a4924-0222-4489-9a66-8f941ac281e4",
        "/beta/applications(appId='350f6c08-5658-4455-a594-a9245970fd44')",
        "/beta/applications(appId='bab23660-1abd-4475-86b6-29f7edd03121')",
    ],
}


def test_read_only_only_get_and_batch_of_gets(clean: Collected) -> None:
    requests = clean.requests
    outer = [r for r in requests if not r.in_batch]
    inner = [r for r in requests if r.in_batch]
    assert {r.method for r in outer} == {"GET", "POST"}
    assert {r.path for r in outer if r.method == "POST"} == {"/beta/$batch"}
    assert {r.method for r in inner} == {"GET"}
    assert all(r.headers.get("prefer") == "include-unknown-enum-members" for r in requests)
    assert {r.status for r in requests} == {200, 404}
    assert sorted(r.path for r in requests if r.status == 404) == sorted(NOT_FOUND[clean.profile])


def test_a_denied_permission_fails_exactly_that_source(profile: str) -> None:
    faults = {"deny": {"identity/conditionalAccess": "Policy.Read.All"}}
    with serving(profile, faults=faults) as emulator:
        snapshot = run_collect(emulator.url)
    failed = {
        name: s for name, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE
    }
    denied = SourceStatus(
        SourceState.FAILED,
        reason="GET identity/conditionalAccess/policies: HTTP 403 "
        "Authorization_RequestDenied; missing permission Policy.Read.All",
        missing_permission="Policy.Read.All",
    )
    assert failed == {"conditional_access": denied, **ALWAYS_INCOMPLETE[profile]}
    assert snapshot.conditional_access_policies == ()
    assert canonical(snapshot.service_principals) == expected_part("service_principals", profile)


def test_no_token_in_debug_logs(profile: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(profile) as emulator:
        run_collect(emulator.url, days=3)
    assert any(r.name == "maa_guard.collect" for r in caplog.records)
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records)
    assert SECRET not in caplog.text


def test_progress_reports_each_source_once_with_its_count(clean: Collected) -> None:
    complete, partial = SourceState.COMPLETE, SourceState.PARTIAL
    exclusions = {
        "default": ("exclusions", complete, 7),
        "published": ("exclusions", partial, 2),  # those the audit log shows
    }
    audit_events = 40 + len(request_events(DEMO, clean.profile))
    assert sorted(clean.progress) == [
        ("access_policies", complete, 7),
        ("approval_requests", complete, 12),
        ("audit_events", complete, audit_events),
        ("conditional_access", complete, 2),
        exclusions[clean.profile],
        ("groups", complete, 6),
        ("rbac", complete, 6),
        ("service_principals", complete, 8),
        ("sign_in_activity", complete, 8),
        ("users", complete, 15),
    ]


def test_sign_in_activity_falls_back_to_the_sign_in_log(profile: str) -> None:
    faults = {"deny": {"reports": "AuditLog.Read.All"}}
    with serving(profile, faults=faults) as emulator:
        snapshot = run_collect(emulator.url)
        paths = {r.path for r in emulator.requests}
    assert "/beta/auditLogs/signIns" in paths
    assert canonical(snapshot.sign_in_activity) == expected_part("sign_in_activity", profile)
    assert snapshot.sources["sign_in_activity"] == SourceStatus(
        SourceState.COMPLETE,
        reason="from auditLogs/signIns of the window; reports/servicePrincipalSignInActivities "
        "unavailable (GET reports/servicePrincipalSignInActivities: HTTP 403 "
        "Authorization_RequestDenied; missing permission AuditLog.Read.All)",
    )


def test_a_token_without_group_read_fails_groups_and_leaves_users_partial(profile: str) -> None:
    fixture = demo_fixture()
    roles = fixture["tokens"][SECRET]["roles"]
    lacking = [r for r in roles if r not in ("GroupMember.Read.All", "Directory.Read.All")]
    fixture["tokens"][SECRET] = {**fixture["tokens"][SECRET], "roles": lacking}
    with serving(profile, fixture) as emulator:
        snapshot = run_collect(emulator.url)
    incomplete = {n: s for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE}
    groups, users = incomplete.pop("groups"), incomplete.pop("users")
    assert incomplete == ALWAYS_INCOMPLETE[profile]
    assert (groups.state, groups.missing_permission) == (
        SourceState.FAILED,
        "GroupMember.Read.All",
    )
    assert groups.reason == (
        f"GET groups/{_first_group_read()}?$select={GROUP_FIELDS}: HTTP 403 "
        "Authorization_RequestDenied; missing permission GroupMember.Read.All (and 5 more)"
    )
    assert users == SourceStatus(
        SourceState.PARTIAL,
        reason=f"its input was incomplete: {groups.reason}",
        missing_permission="GroupMember.Read.All",
    )
    assert (snapshot.groups, snapshot.users) == ((), ())


def _first_group_read() -> str:
    """Groups are read in order: policies' approver groups, then role assignment members."""
    return DEMO.policies[0].approver_group_ids[0]


def test_an_exclusions_property_no_policy_carries_falls_back_to_the_one_found() -> None:
    # default only: published serves no property to fall back to (the next test)
    with serving("default") as emulator:
        snapshot = run_collect(emulator.url, settings=Settings(exclusions_property="exemptApps"))
    assert snapshot.sources["exclusions"] == SourceStatus(
        SourceState.COMPLETE,
        reason="from the access policies' property 'excludedApplicationIds' and the audit log; "
        "no access policy carries the configured property 'exemptApps'; "
        "exclusion history from audit category 'Role'",
    )
    sources = {e.source.value for p in snapshot.policies for e in p.exclusions}
    assert sources == {"audit-log", "policy-property"}


def test_a_configured_exclusions_property_on_a_tenant_without_any_leaves_exclusions_partial() -> (
    None
):
    with serving("published") as emulator:
        snapshot = run_collect(emulator.url, settings=Settings(exclusions_property="exemptApps"))
    assert snapshot.sources["exclusions"] == SourceStatus(
        SourceState.PARTIAL,
        reason=f"{UNTRUSTED}; no access policy carries the configured property 'exemptApps'; "
        "exclusion history from audit category 'MultiAdminApproval'",
    )
    sources = {e.source.value for p in snapshot.policies for e in p.exclusions}
    assert sources == {"audit-log"}


# ---- exclusions known only from the audit log, older than the window --------------------------

P_APPS = "a44b31e5-8ba9-4337-9698-57b8e463df88"  # Apps - Windows
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # excluded from it in May, by the audit log


def _audit_reads(requests: list[Any], profile: str) -> tuple[int, int]:
    """(window slices, exclusion-history slices) read from the Intune audit log."""
    history = f"category eq '{history_category(profile)}'"
    audit = [r for r in requests if r.path.endswith("/deviceManagement/auditEvents")]
    filters = [parse_qs(r.query)["$filter"][0] for r in audit]
    return sum(history not in f for f in filters), sum(history in f for f in filters)


def test_a_30_day_window_still_sees_exclusions_from_the_audit_log_history(profile: str) -> None:
    with serving(profile) as emulator:
        snapshot = run_collect(emulator.url, days=30)
        reads = _audit_reads(emulator.requests, profile)
    served = as_served(DEMO, profile)
    window_start = DEMO.collected_at - timedelta(days=30)
    older_policy_events = [
        e
        for e in served.audit_events
        if e.activity_date_time < window_start and e.category == history_category(profile)
    ]
    assert reads == (1, 1)  # few events: one slice each, unsplit
    assert snapshot.sources == all_sources(profile)
    assert canonical(snapshot.policies) == expected_part("policies", profile)
    assert canonical(snapshot.service_principals) == expected_part("service_principals", profile)
    assert [e.activity for e in older_policy_events] == [
        "Add exclusion to access policy",
        "Add exclusion to access policy",
        "Add exclusion to access policy",
        "Remove exclusion from access policy",
    ]
    in_window = [e for e in served.audit_events if e.activity_date_time >= window_start]
    recorded, added = added_request_events(snapshot.audit_events, DEMO)
    assert recorded == older_policy_events + in_window
    # every request was filed inside the window
    assert added == request_events(DEMO, profile)


@pytest.fixture
def history_filter_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Graph that answers 400 to the category filter of the exclusion-history read."""
    monkeypatch.setitem(
        odata.FILTERABLE, "deviceManagement/auditEvents", frozenset({"activityDateTime"})
    )


REJECTED = (
    "GET deviceManagement/auditEvents: HTTP 400 BadRequest: Unsupported or invalid query filter "
    "clause specified for property 'category' of resource 'auditEvents'."
)
# In both profiles: the unread history is what to fix first; ``published`` then says that no
# policy carries an exclusion property, and what the trust setting does about it.
UNREAD_HISTORY = f"exclusion history: {REJECTED}"


def unread_history(variant: Variant) -> str:
    if not variant.published:
        return UNREAD_HISTORY
    return f"{UNREAD_HISTORY}; {TRUSTED if variant.trust else UNTRUSTED}"


def test_an_unread_exclusion_history_leaves_exclusions_and_their_apps_incomplete(
    history_filter_rejected: None, profile: str
) -> None:
    with serving(profile) as emulator:
        snapshot = run_collect(emulator.url, days=30)
    incomplete = {n: s for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE}
    from_history = f"its input was incomplete: {REJECTED}"
    assert incomplete == {
        "exclusions": SourceStatus(SourceState.PARTIAL, reason=unread_history(Variant(profile))),
        "service_principals": SourceStatus(SourceState.PARTIAL, reason=from_history),
        "sign_in_activity": SourceStatus(
            SourceState.PARTIAL, reason=f"its input was incomplete: {from_history}"
        ),
    }
    apps = next(p for p in snapshot.policies if p.id == P_APPS)
    assert TAG_SYNC not in [e.app_id for e in apps.exclusions]  # unseen, so never a pass


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_NAMES)
def test_a_scan_with_an_unread_exclusion_history_exits_three(
    history_filter_rejected: None,
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trusting the declaration does not excuse an audit log that could not be read."""
    shutil.copy(demo_path("maa-guard.toml"), tmp_path / "maa-guard.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", SECRET)
    for name, value in variant.environ.items():
        monkeypatch.setenv(name, value)
    with serving(variant.profile) as emulator:
        live = ["--auth", "token", "--graph-endpoint", emulator.url, "--quiet"]
        code = main(["scan", "--format", "json", "--rule", "MAA408", *live])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert code == 3
    assert [(f["rule_id"], f["status"], f["message"]) for f in findings] == [
        (
            "MAA408",
            "error",
            f"could not verify: exclusions is partial ({unread_history(variant)})",
        )
    ]
