"""The demo tenant (maa_guard/data/demo): every rule fails somewhere and passes somewhere.

The exact set of failing findings is written out below, so any change to the demo data or to a
check's semantics shows up here and is reviewed rather than slipping through. Each holds for
the recorded snapshot and for what ``scan --demo`` evaluates: the same tenant collected live
from the emulator over HTTP (``maa_guard.scan.live.collect_demo``, the emulator's ``default``
profile, in a process of its own). The same tenant collected the same way from the
``published`` profile (what Microsoft's Graph returns), without and with
``graph.trust_declared_exclusions``, gives the exact outcomes written out after them.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from profiles import PUBLISHED, PUBLISHED_TRUSTED, Variant

import maa_guard
from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.collect import GraphClient, StaticTokenCredential, collect_sync, resolve_endpoint
from maa_guard.config import Settings, find_config_file, load_settings
from maa_guard.emulator import Emulator, fixture_from_snapshot
from maa_guard.emulator.recording import recording_clock
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.exclusions import exclusions_from_audit_events
from maa_guard.model import ExclusionSource, SourceState, Status
from maa_guard.scan.live import DEFAULT_DAYS, collect_demo
from maa_guard.scan.served import served_demo
from maa_guard.snapshot import SCHEMA_VERSION, SOURCES, Snapshot, SourceStatus
from maa_guard.snapshot.file import load_snapshot

DEMO = Path(maa_guard.__file__).parent / "data" / "demo"
TENANT = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"

# Rules that emit one tenant-wide finding can only pass or fail in one tenant, never both.
# Their other outcome is proven in tests/test_checks_<area>.py.
SINGLE_FINDING_RULES = {
    # One finding for the "app" workload, judged on the union of all app policies' platforms.
    # The demo's only app policy is "Apps - Windows" (windows10AndLater): a fail. The pass case:
    # test_checks_coverage.py::test_maa102_union_of_windows_and_non_windows_policies_passes.
    "MAA102": Status.FAIL,
}

# access policies
P_APPS = "a44b31e5-8ba9-4337-9698-57b8e463df88"  # Apps - Windows
P_SCRIPTS = "aa7cbaa9-27e3-4297-8a47-56ce0fe3794e"  # Scripts and remediations
P_WIPE = "a2f07e53-f660-48b7-8ba1-5b19f760ed03"  # Device wipe
P_RETIRE = "e53e385f-ed85-4f96-8f6c-8be05aa769f0"  # Device retire
P_COMPLIANCE = "689b3b31-e861-4dda-8a94-465679af7194"  # Compliance policies (no approvers)
P_CONFIG = "d2fe187e-3a90-4d98-8b1f-48fc08cc3e7e"  # Configuration profiles
# approver groups
G_DEVICES = "79736859-9f3d-4f52-bfc4-a782b08268d1"  # SG-Intune-MAA-DeviceActions
G_ROLES = "0ebef07c-85b8-4659-9177-bfa55b5e6192"  # Intune Role Approvers (Microsoft 365 group)
G_CONFIG = "9ac19352-11b4-420c-adc0-74f85db54ab4"  # SG-Intune-Config-Approvers
G_DELETED = "4d6a4924-0222-4489-9a66-8f941ac281e4"  # deleted, still on Configuration profiles
# approval requests
R_SCRIPT_TEST = "9ac305b1-fb94-4883-99fa-e63ec807c77d"  # self-approved, justification "test"
R_BITLOCKER = "c457bb01-8750-4d93-9693-0e3c0f6ec116"  # "approved" by Contoso Helpdesk Portal
R_WIPE_IPHONE = "2ff924f8-88b8-4036-ab73-9b4ab40d5b39"  # approved by Patti, not an approver
R_HELPDESK_ROLE = "1bf83951-3e88-4d76-ba5d-dca6419b10a4"  # pending, expires in 14 h
R_FIREWALL = "39be46bb-2edb-41dd-a948-4437852b66c5"  # pending, expires in 6 h
# applications (appIds)
APP_PMPC = "350f6c08-5658-4455-a594-a9245970fd44"  # Patch My PC Cloud (vendor tenant)
APP_REMEDIATION = "655cf484-0a06-4291-b237-96c21b609bde"  # Remediation Script Publisher
APP_OFFBOARDING = "bab23660-1abd-4475-86b6-29f7edd03121"  # Offboarding Logic App (managed id)
APP_LEGACY = "688ffb37-753c-4b0b-be68-3dca10bb123f"  # Legacy Intune Reporting Tool (disabled)
APP_PIPELINE = "e5aed320-6fa0-486f-875d-607dbb17aec0"  # Contoso Config-as-Code Pipeline
APP_AUTOPILOT = "7a224edb-3158-4922-8744-7709d16458ee"  # Autopilot Sync Runbook
APP_TAGSYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # Intune Tag Sync (stale)
APP_HELPDESK = "18d49f3a-717b-42ea-9c63-b45765caa752"  # Contoso Helpdesk Portal
APP_WIN32 = "a9eba204-80b1-482f-950c-511b726c5faf"  # Win32 Packager (old), deleted
WIN32_NAME = "Win32 Packager (old)"

EXPECTED_FAILURES = {
    ("MAA101", "deviceActions"),  # wipe and retire protected, delete not
    ("MAA101", "tenantConfiguration"),
    ("MAA102", "app"),
    ("MAA103", P_COMPLIANCE),
    ("MAA201", G_DELETED),
    ("MAA202", G_DEVICES),  # one member and one guest
    ("MAA203", G_ROLES),
    ("MAA204", G_ROLES),
    ("MAA205", G_DEVICES),  # has an owner
    ("MAA205", G_ROLES),
    ("MAA205", G_CONFIG),  # synced from on-premises
    ("MAA206", G_CONFIG),  # nests SG-Helpdesk-Leads
    ("MAA207", G_DEVICES),  # guest
    ("MAA207", G_CONFIG),  # disabled account through the nested group
    ("MAA208", G_ROLES),  # Nestor has no Intune licence
    ("MAA301", R_SCRIPT_TEST),
    ("MAA302", R_BITLOCKER),
    ("MAA303", R_SCRIPT_TEST),
    ("MAA304", R_HELPDESK_ROLE),
    ("MAA304", R_FIREWALL),
    ("MAA305", R_WIPE_IPHONE),
    ("MAA401", APP_TAGSYNC),
    ("MAA401", APP_AUTOPILOT),
    ("MAA401", APP_LEGACY),
    ("MAA402", APP_PMPC),  # not coverable: multi-tenant
    ("MAA402", APP_OFFBOARDING),  # not coverable: managed identity
    ("MAA402", APP_AUTOPILOT),  # excluded from the CA policy, only report-only covers it
    ("MAA402", APP_PIPELINE),  # excluded from the CA policy
    ("MAA403", APP_TAGSYNC),  # 274-day secret
    ("MAA403", APP_AUTOPILOT),  # two-year secret
    ("MAA403", APP_LEGACY),  # expired secret
    ("MAA404", APP_TAGSYNC),  # GroupMember.ReadWrite.All
    ("MAA404", APP_OFFBOARDING),  # PrivilegedOperations.All
    ("MAA405", APP_TAGSYNC),
    ("MAA405", APP_AUTOPILOT),
    ("MAA406", APP_PMPC),
    ("MAA407", APP_TAGSYNC),  # stale
    ("MAA407", APP_WIN32),  # missing
    ("MAA407", APP_LEGACY),  # disabled
    ("MAA408", f"{P_APPS}/{APP_TAGSYNC}"),  # undeclared
    ("MAA408", f"{P_SCRIPTS}/{APP_REMEDIATION}"),  # review_by passed
    ("MAA408", f"{P_SCRIPTS}/{APP_WIN32}"),  # undeclared
    ("MAA408", f"{P_WIPE}/{APP_OFFBOARDING}"),  # undeclared
    ("MAA408", f"{P_CONFIG}/{APP_PIPELINE}"),  # declared, not excluded in the tenant
    ("MAA408", f"Apps - macOS/{APP_PMPC}"),  # declared for a policy that does not exist
    ("MAA409", f"{P_SCRIPTS}/{APP_REMEDIATION}"),
    ("MAA409", f"{P_SCRIPTS}/{APP_WIN32}"),
    ("MAA409", f"{P_WIPE}/{APP_OFFBOARDING}"),
    ("MAA409", f"{P_RETIRE}/{APP_AUTOPILOT}"),
    ("MAA501", APP_HELPDESK),  # device wipes (the pipeline uses the approval flow: it passes)
    ("MAA502", APP_PIPELINE),
}

# The old packager's app is gone, so the rules that inspect its service principal skip it.
EXPECTED_SKIPPED = {
    (rule_id, APP_WIN32) for rule_id in ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406")
} | {
    # The vendor app's registration, with its secrets and owners, lives in the vendor's tenant.
    (rule_id, APP_PMPC)
    for rule_id in ("MAA401", "MAA403", "MAA405")
}


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return load_snapshot(DEMO / "snapshot.json")


@pytest.fixture(scope="module")
def settings() -> Settings:
    config = find_config_file(DEMO / "maa-guard.toml", DEMO)
    return load_settings(load_catalogue(), config, {}, {})


@pytest.fixture(scope="module")
def live_snapshot(settings: Settings) -> Snapshot:
    with served_demo() as served:
        return collect_demo(served, settings, {}, quiet=True)


def _evaluate(snapshot: Snapshot, settings: Settings) -> ScanResult:
    today = date(2026, 11, 1)
    return evaluate(snapshot, load_catalogue(), all_checks(), settings, today, tool_version="0.1.0")


@pytest.fixture(scope="module")
def recorded_result(snapshot: Snapshot, settings: Settings) -> ScanResult:
    return _evaluate(snapshot, settings)


@pytest.fixture(scope="module")
def live_result(live_snapshot: Snapshot, settings: Settings) -> ScanResult:
    return _evaluate(live_snapshot, settings)


def _collect_published(recorded: Snapshot, settings: Settings) -> Snapshot:
    """``collect_demo``'s path, from the emulator's ``published`` profile."""
    held = recording_clock(recorded)
    fixture = fixture_from_snapshot(recorded)
    with Emulator(fixture, now=lambda: held, profile="published") as emulator:
        endpoint = resolve_endpoint("global", emulator.url)
        credential = StaticTokenCredential(emulator.reader_token)
        return collect_sync(
            lambda: GraphClient(credential, endpoint, timeout=60),
            settings,
            DEFAULT_DAYS,
            now=recorded.collected_at,
        )


def _published_result(snapshot: Snapshot, settings: Settings, variant: Variant) -> ScanResult:
    chosen = dataclasses.replace(settings, trust_declared_exclusions=variant.trust)
    return _evaluate(_collect_published(snapshot, chosen), chosen)


@pytest.fixture(scope="module")
def published_result(snapshot: Snapshot, settings: Settings) -> ScanResult:
    return _published_result(snapshot, settings, PUBLISHED)


@pytest.fixture(scope="module")
def published_trusted_result(snapshot: Snapshot, settings: Settings) -> ScanResult:
    return _published_result(snapshot, settings, PUBLISHED_TRUSTED)


ALL_RESULTS = ("recorded", "live", "published", "published-trusted")


@pytest.fixture(params=ALL_RESULTS)
def any_result(request: pytest.FixtureRequest) -> tuple[str, ScanResult]:
    """A result with its name: the recorded snapshot's, ``scan --demo``'s (live), and the
    published profile's without and with the trust setting."""
    found: ScanResult = request.getfixturevalue(f"{request.param.replace('-', '_')}_result")
    return request.param, found


def outcomes(result: ScanResult, status: Status) -> set[tuple[str, str]]:
    return {(f.rule_id, f.resource.id) for f in result.findings if f.status is status}


def test_demo_envelope(snapshot: Snapshot) -> None:
    assert snapshot.schema_version == SCHEMA_VERSION == 1
    assert snapshot.tool_version == "0.1.0"
    assert (snapshot.tenant.id, snapshot.tenant.display_name) == (TENANT, "Contoso Demo")
    assert snapshot.tenant.workload_identities_premium is True
    assert snapshot.collected_at.isoformat() == "2026-11-01T08:00:00+00:00"
    assert (snapshot.window.end - snapshot.window.start).days == 30
    assert snapshot.window.end == snapshot.collected_at
    assert {name: s.state for name, s in snapshot.sources.items()} == dict.fromkeys(
        SOURCES, SourceState.COMPLETE
    )


def test_demo_config_declares_owned_reviewed_exclusions(settings: Settings) -> None:
    assert len(settings.declared_exclusions) == 6
    for entry in settings.declared_exclusions:
        assert entry.owner.endswith("@contoso-demo.example"), entry
        assert entry.reason, entry
        assert entry.review_by is not None, entry


# ---- the published profile: what changes -------------------------------------------------
#
# Graph names nobody on a request; the MAA audit events name them all, so MAA301-MAA305 give
# the recorded results. Without the trust setting, exclusions are partial: MAA401-MAA409 and
# MAA501 say so once each.
EXCLUSION_RULES = tuple(f"MAA40{n}" for n in range(1, 10))
UNVERIFIED_TENANT = {(rule, TENANT) for rule in (*EXCLUSION_RULES, "MAA501")}
# Trusted: the inventory is the declaration plus the audit log. The Offboarding Logic App and
# the Win32 Packager were excluded by the property only and are not declared: unseen. The
# pipeline is declared but not excluded: the audit log cannot tell, so MAA408 passes it.
UNSEEN_FAILURES = {
    ("MAA402", APP_OFFBOARDING),
    ("MAA404", APP_OFFBOARDING),
    ("MAA407", APP_WIN32),
    ("MAA408", f"{P_SCRIPTS}/{APP_WIN32}"),
    ("MAA408", f"{P_WIPE}/{APP_OFFBOARDING}"),
    ("MAA408", f"{P_CONFIG}/{APP_PIPELINE}"),
    ("MAA409", f"{P_SCRIPTS}/{APP_WIN32}"),
    ("MAA409", f"{P_WIPE}/{APP_OFFBOARDING}"),
}
FAILURES = {
    "recorded": EXPECTED_FAILURES,
    "live": EXPECTED_FAILURES,
    "published": {f for f in EXPECTED_FAILURES if f[0] not in (*EXCLUSION_RULES, "MAA501")},
    # the unseen exclusion no longer exempts the Offboarding Logic App's device wipes
    "published-trusted": (EXPECTED_FAILURES - UNSEEN_FAILURES) | {("MAA501", APP_OFFBOARDING)},
}
ERRORS = {
    "recorded": set(),
    "live": set(),
    "published": UNVERIFIED_TENANT,
    "published-trusted": set(),
}
SKIPPED = {
    "recorded": EXPECTED_SKIPPED,
    "live": EXPECTED_SKIPPED,
    "published": set(),
    "published-trusted": {s for s in EXPECTED_SKIPPED if s[1] != APP_WIN32},
}


@pytest.mark.parametrize("rule_id", sorted(load_catalogue()))
def test_every_rule_fails_and_passes_in_the_demo(
    any_result: tuple[str, ScanResult], rule_id: str
) -> None:
    name, result = any_result
    found = {f.status for f in result.findings if f.rule_id == rule_id}
    if rule_id in SINGLE_FINDING_RULES:
        assert found == {SINGLE_FINDING_RULES[rule_id]}
    elif name == "published" and (rule_id, TENANT) in UNVERIFIED_TENANT:
        assert found == {Status.ERROR}
    else:
        assert {Status.FAIL, Status.PASS} <= found


def test_exact_failing_findings(any_result: tuple[str, ScanResult]) -> None:
    name, result = any_result
    assert outcomes(result, Status.FAIL) == FAILURES[name]


def test_exact_errors_and_skips(any_result: tuple[str, ScanResult]) -> None:
    name, result = any_result
    assert outcomes(result, Status.ERROR) == ERRORS[name]
    assert outcomes(result, Status.SKIPPED) == SKIPPED[name]


def test_every_rule_runs_and_only_unverifiable_rules_fall_back_to_a_tenant_finding(
    any_result: tuple[str, ScanResult],
) -> None:
    name, result = any_result
    assert set(result.rules) == set(load_catalogue())
    tenant_wide = {(f.rule_id, f.resource.id) for f in result.findings if f.resource.id == TENANT}
    assert tenant_wide == (UNVERIFIED_TENANT if name == "published" else set())


def test_audit_log_exclusions_match_the_demo_audit_events(snapshot: Snapshot) -> None:
    replayed = exclusions_from_audit_events(
        snapshot.audit_events, [p.id for p in snapshot.policies]
    )
    recorded = {
        p.id: [e.app_id for e in p.exclusions if e.source is ExclusionSource.AUDIT_LOG]
        for p in snapshot.policies
    }

    assert {policy: [e.app_id for e in found] for policy, found in replayed.items()} == {
        policy: apps for policy, apps in recorded.items() if apps
    }
    assert recorded[P_APPS] == [APP_TAGSYNC]
    assert recorded[P_SCRIPTS] == [APP_REMEDIATION]  # Autopilot was added, then removed


def test_demo_is_modest_and_readable(snapshot: Snapshot) -> None:
    assert [p.display_name for p in snapshot.policies] == [
        "Apps - Windows",
        "Scripts and remediations",
        "Device wipe",
        "Device retire",
        "Intune RBAC changes",
        "Compliance policies",
        "Configuration profiles",
    ]
    assert len(snapshot.users) == 15
    assert all(u.user_principal_name.endswith("@contoso-demo.example") for u in snapshot.users)
    assert len(snapshot.service_principals) == 8
    assert len(snapshot.approval_requests) == 12
    assert len(snapshot.audit_events) == 40


# ---- scan --demo: the same tenant collected live -------------------------------------------


def _verdicts(result: ScanResult) -> set[tuple[str, str, str, str, str]]:
    return {
        (f.rule_id, f.resource.id, f.status.value, f.message, f.fingerprint)
        for f in result.findings
    }


def test_live_demo_gives_the_recorded_findings(
    recorded_result: ScanResult, live_result: ScanResult
) -> None:
    assert _verdicts(live_result) == _verdicts(recorded_result)
    names = {(f.rule_id, f.resource.id): f.resource.display_name for f in recorded_result.findings}
    renamed = {
        (f.rule_id, f.resource.id): (names[(f.rule_id, f.resource.id)], f.resource.display_name)
        for f in live_result.findings
        if names[(f.rule_id, f.resource.id)] != f.resource.display_name
    }
    # Graph has no name for an excluded app whose service principal is gone (the policy
    # property lists appIds only); the recording kept the name from before the deletion.
    in_scripts = (
        f"{WIN32_NAME} in Scripts and remediations",
        f"{APP_WIN32} in Scripts and remediations",
    )
    assert renamed == {
        **{(f"MAA40{n}", APP_WIN32): (WIN32_NAME, "") for n in range(1, 8)},
        ("MAA408", f"{P_SCRIPTS}/{APP_WIN32}"): in_scripts,
        ("MAA409", f"{P_SCRIPTS}/{APP_WIN32}"): in_scripts,
    }


def test_live_demo_snapshot_keeps_the_recorded_time_window_and_exclusions(
    snapshot: Snapshot, live_snapshot: Snapshot
) -> None:
    assert (live_snapshot.collected_at, live_snapshot.window) == (
        snapshot.collected_at,
        snapshot.window,
    )
    # a collection says where the exclusions came from; the recording predates that reason
    assert live_snapshot.sources == {
        **snapshot.sources,
        "exclusions": SourceStatus(
            SourceState.COMPLETE,
            reason="from the access policies' property 'excludedApplicationIds' and the audit "
            "log; exclusion history from audit category 'Role'",
        ),
    }
    assert live_snapshot.tenant == snapshot.tenant
    assert {p.id: {(e.app_id, e.source) for e in p.exclusions} for p in live_snapshot.policies} == {
        p.id: {(e.app_id, e.source) for e in p.exclusions} for p in snapshot.policies
    }
    # The window's events, and the access-policy (Role) events before it: not the May write.
    assert live_snapshot.audit_events == tuple(
        e
        for e in snapshot.audit_events
        if e.activity_date_time >= snapshot.window.start or e.category == "Role"
    )
