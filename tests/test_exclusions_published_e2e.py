"""The demo tenant collected by the real collector over loopback HTTP from both emulator
profiles, then evaluated: ``default`` serves the provisional exclusion property, ``published``
only what Microsoft's Graph publishes (no exclusion property; MAA audit events in their own
category, found through ``getAuditCategories`` and ``getAuditActivityTypes``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from test_collect_e2e import SECRET, demo_fixture, demo_now, run_collect

from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.cli import main
from maa_guard.config import Settings, find_config_file, load_settings
from maa_guard.emulator import Emulator
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.exclusions.provenance import TRUSTED, UNTRUSTED
from maa_guard.gate.decision import exit_code
from maa_guard.model import SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES, Snapshot, SourceStatus

RULES = tuple(f"MAA40{n}" for n in range(1, 10))
CATALOGUE = load_catalogue()
DEMO_CONFIG = demo_path("maa-guard.toml")

# Access policies of the demo tenant.
P_APPS = "a44b31e5-8ba9-4337-9698-57b8e463df88"  # Apps - Windows (app)
P_SCRIPTS = "aa7cbaa9-27e3-4297-8a47-56ce0fe3794e"  # Scripts and remediations (script)
P_WIPE = "a2f07e53-f660-48b7-8ba1-5b19f760ed03"  # Device wipe (deviceWipe)
P_RETIRE = "e53e385f-ed85-4f96-8f6c-8be05aa769f0"  # Device retire (deviceRetire)
P_CONFIG = "d2fe187e-3a90-4d98-8b1f-48fc08cc3e7e"  # Configuration profiles (configurationPolicy)
# Apps, excluded by the policy property (P) or the audit log (A), declared (D) in the demo config.
PATCH = "350f6c08-5658-4455-a594-a9245970fd44"  # Patch My PC Cloud: P, D (+ a missing policy)
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # Intune Tag Sync: A
PUBLISHER = "655cf484-0a06-4291-b237-96c21b609bde"  # Remediation Script Publisher: A, D
WIN32 = "a9eba204-80b1-482f-950c-511b726c5faf"  # Win32 Packager (old): P, deleted
OFFBOARDING = "bab23660-1abd-4475-86b6-29f7edd03121"  # Offboarding Logic App: P
AUTOPILOT = "7a224edb-3158-4922-8744-7709d16458ee"  # Autopilot Sync Runbook: P, D
LEGACY = "688ffb37-753c-4b0b-be68-3dca10bb123f"  # Legacy Intune Reporting Tool: P, D
PIPELINE = "e5aed320-6fa0-486f-875d-607dbb17aec0"  # Contoso Config-as-Code Pipeline: D
PUBLISHER_TENANT = "b7f3c2d1-4a6e-48f0-9c1b-2e5d8a7f6c34"
TENANT = "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"

DEFAULT_HISTORY = "exclusion history from audit category 'Role'"
PUBLISHED_HISTORY = "exclusion history from audit category 'MultiAdminApproval'"
FROM_PROPERTY = (
    f"from the access policies' property 'excludedApplicationIds' and the audit log; "
    f"{DEFAULT_HISTORY}"
)
UNSEEN = (
    "Microsoft Graph publishes no exclusion property, so exclusions older than the audit log "
    "cannot be seen"
)


def demo_settings(trust: bool) -> Settings:
    found = find_config_file(DEMO_CONFIG, DEMO_CONFIG.parent)
    settings = load_settings(CATALOGUE, found, {}, {})
    return dataclasses.replace(settings, trust_declared_exclusions=trust, only_rules=RULES)


def collected(profile: str, trust: bool) -> Snapshot:
    with Emulator(demo_fixture(), now=demo_now, profile=profile, fixed_tokens=True) as emulator:
        return run_collect(emulator.url, settings=demo_settings(trust))


def evaluated(snapshot: Snapshot, trust: bool, **changes: Any) -> ScanResult:
    settings = dataclasses.replace(demo_settings(trust), **changes)
    return evaluate(snapshot, CATALOGUE, all_checks(), settings, snapshot.collected_at.date())


@pytest.fixture(scope="module")
def default_profile() -> Snapshot:
    return collected("default", trust=False)


@pytest.fixture(scope="module")
def published_untrusted() -> Snapshot:
    return collected("published", trust=False)


@pytest.fixture(scope="module")
def published_trusted() -> Snapshot:
    return collected("published", trust=True)


def sources_with(exclusions: SourceStatus) -> dict[str, SourceStatus]:
    complete = SourceStatus(SourceState.COMPLETE)
    return {name: exclusions if name == "exclusions" else complete for name in SOURCES}


# ---- per-source states ----------------------------------------------------------------------


def test_the_default_profile_reads_the_property_and_says_so(default_profile: Snapshot) -> None:
    assert default_profile.sources == sources_with(
        SourceStatus(SourceState.COMPLETE, reason=FROM_PROPERTY)
    )


def test_the_published_profile_without_trust_leaves_exclusions_partial(
    published_untrusted: Snapshot,
) -> None:
    assert published_untrusted.sources == sources_with(
        SourceStatus(SourceState.PARTIAL, reason=f"{UNTRUSTED}; {PUBLISHED_HISTORY}")
    )


def test_the_published_profile_with_trust_makes_exclusions_declared(
    published_trusted: Snapshot,
) -> None:
    assert published_trusted.sources == sources_with(
        SourceStatus(SourceState.DECLARED, reason=f"{TRUSTED}; {PUBLISHED_HISTORY}")
    )


def test_the_published_profile_shows_only_the_audit_log_exclusions(
    published_trusted: Snapshot,
) -> None:
    assert sorted(
        (p.id, e.app_id, e.source.value) for p in published_trusted.policies for e in p.exclusions
    ) == [(P_APPS, TAG_SYNC, "audit-log"), (P_SCRIPTS, PUBLISHER, "audit-log")]


# ---- exit codes -----------------------------------------------------------------------------


def test_exit_codes_with_and_without_the_setting(
    default_profile: Snapshot, published_untrusted: Snapshot, published_trusted: Snapshot
) -> None:
    assert [exit_code(evaluated(default_profile, trust)) for trust in (False, True)] == [1, 1]
    assert exit_code(evaluated(published_untrusted, trust=False)) == 3
    assert exit_code(evaluated(published_trusted, trust=True)) == 1
    # the same collection judged by the other setting
    assert exit_code(evaluated(published_untrusted, trust=True)) == 1
    assert exit_code(evaluated(published_trusted, trust=False)) == 3
    # declared alone never exits 3: with failures not counted, the trusted scan passes
    assert exit_code(evaluated(published_trusted, trust=True, exit_zero=True)) == 0
    assert exit_code(evaluated(published_untrusted, trust=False, exit_zero=True)) == 3


# ---- exact findings -------------------------------------------------------------------------

NO_SP = "the app has no service principal in the tenant (see MAA407)"
FOREIGN = (
    f"the app registration lives in the publisher's tenant ({PUBLISHER_TENANT}); "
    "only its service principal here was checked (see MAA406)"
)
CA_BLOCKS = (
    "an enabled workload-identity Conditional Access policy blocks it outside its conditions"
)
NO_CA = (
    "no enabled Conditional Access policy with a block grant and a location or risk condition "
    "covers this service principal"
)
NO_SECRETS = "no client secrets; certificates or federated credentials only"
ONE_SECRET = "the excluded app holds 1 client secret(s)"
LONG = "credentials: 1 valid longer than 180 days"
CLEAN_CREDENTIALS = "no expired or long-lived credentials"
UNPRIVILEGED = "no permissions that can undo MAA"
UNOWNED = "no user owns the app or its service principal"
ONE_OWNER = "1 user(s) own the app and can add credentials to it"
HOME = "the app is registered in this tenant"
IN_USE = "the excluded app is enabled and in use"
# MAA401-MAA407 judge an app, whichever source excluded it.
APP_REVIEWS: dict[str, dict[str, tuple[str, str]]] = {
    "MAA401": {
        PATCH: ("skipped", FOREIGN),
        TAG_SYNC: ("fail", ONE_SECRET),
        WIN32: ("skipped", NO_SP),
        PUBLISHER: ("pass", NO_SECRETS),
        OFFBOARDING: ("pass", NO_SECRETS),
        AUTOPILOT: ("fail", ONE_SECRET),
        LEGACY: ("fail", ONE_SECRET),
        PIPELINE: ("pass", NO_SECRETS),
    },
    "MAA402": {
        PATCH: (
            "fail",
            f"Conditional Access cannot cover this app: multi-tenant app registered in tenant "
            f"{PUBLISHER_TENANT}",
        ),
        TAG_SYNC: ("pass", CA_BLOCKS),
        WIN32: ("skipped", NO_SP),
        PUBLISHER: ("pass", CA_BLOCKS),
        OFFBOARDING: (
            "fail",
            "Conditional Access cannot cover this app: managed identities are out of scope for "
            "Conditional Access",
        ),
        AUTOPILOT: ("fail", NO_CA),
        LEGACY: ("pass", CA_BLOCKS),
        PIPELINE: ("fail", NO_CA),
    },
    "MAA403": {
        PATCH: ("skipped", FOREIGN),
        TAG_SYNC: ("fail", LONG),
        WIN32: ("skipped", NO_SP),
        PUBLISHER: ("pass", CLEAN_CREDENTIALS),
        OFFBOARDING: ("pass", CLEAN_CREDENTIALS),
        AUTOPILOT: ("fail", LONG),
        LEGACY: ("fail", "credentials: 1 expired"),
        PIPELINE: ("pass", CLEAN_CREDENTIALS),
    },
    "MAA404": {
        PATCH: ("pass", UNPRIVILEGED),
        TAG_SYNC: (
            "fail",
            "the excluded app holds privileged Graph permissions: GroupMember.ReadWrite.All",
        ),
        WIN32: ("skipped", NO_SP),
        PUBLISHER: ("pass", UNPRIVILEGED),
        OFFBOARDING: (
            "fail",
            "the excluded app holds privileged Graph permissions: "
            "DeviceManagementManagedDevices.PrivilegedOperations.All",
        ),
        AUTOPILOT: ("pass", UNPRIVILEGED),
        LEGACY: ("pass", UNPRIVILEGED),
        PIPELINE: ("pass", UNPRIVILEGED),
    },
    "MAA405": {
        PATCH: ("skipped", FOREIGN),
        TAG_SYNC: ("fail", ONE_OWNER),
        WIN32: ("skipped", NO_SP),
        PUBLISHER: ("pass", UNOWNED),
        OFFBOARDING: ("pass", UNOWNED),
        AUTOPILOT: ("fail", ONE_OWNER),
        LEGACY: ("pass", UNOWNED),
        PIPELINE: ("pass", UNOWNED),
    },
    "MAA406": {
        PATCH: ("fail", f"the app is registered in another tenant ({PUBLISHER_TENANT})"),
        TAG_SYNC: ("pass", HOME),
        WIN32: ("skipped", NO_SP),
        PUBLISHER: ("pass", HOME),
        OFFBOARDING: ("pass", "a managed identity of this tenant's Azure resources"),
        AUTOPILOT: ("pass", HOME),
        LEGACY: ("pass", HOME),
        PIPELINE: ("pass", HOME),
    },
    "MAA407": {
        PATCH: ("pass", IN_USE),
        TAG_SYNC: ("fail", "no app-only sign-in since 2026-05-12T03:00:01Z; stale after 90 days"),
        WIN32: ("fail", "the excluded app no longer exists in the tenant"),
        PUBLISHER: ("pass", IN_USE),
        OFFBOARDING: ("pass", IN_USE),
        AUTOPILOT: ("pass", IN_USE),
        LEGACY: ("fail", "the excluded app's service principal is disabled"),
        PIPELINE: ("pass", IN_USE),
    },
}
NOT_DECLARED = "excluded in the tenant but not declared in the configuration"
NO_MACOS_POLICY = "declared for policy 'Apps - macOS', which does not exist"
REVIEW_DUE = "the declared exclusion was due for review on 2026-09-30"
UNCONFIRMED = (
    f"declared; the audit log does not mention it, so it cannot be confirmed from Graph ({UNSEEN})"
)
APP_TYPE = "exclusion on an access policy of type app"
SCRIPT_TYPE = "exclusion on an access policy of type script: review it"
RETIRE_TYPE = "exclusion on an access policy of type deviceRetire: review it"
CONFIG_TYPE = "exclusion on an access policy of type configurationPolicy"


def app_reviews(result: ScanResult) -> dict[str, dict[str, tuple[str, str]]]:
    return {
        rule: {
            f.resource.id: (f.status.value, f.message) for f in result.findings if f.rule_id == rule
        }
        for rule in APP_REVIEWS
    }


def exclusion_findings(result: ScanResult, rule: str) -> list[tuple[str, str, str]]:
    return [
        (f.resource.id, f.status.value, f.message) for f in result.findings if f.rule_id == rule
    ]


def test_findings_from_the_default_profile(default_profile: Snapshot) -> None:
    result = evaluated(default_profile, trust=False)
    assert app_reviews(result) == APP_REVIEWS
    assert exclusion_findings(result, "MAA408") == [
        (f"{P_APPS}/{PATCH}", "pass", "declared and present"),
        (f"{P_APPS}/{TAG_SYNC}", "fail", NOT_DECLARED),
        (f"{P_SCRIPTS}/{WIN32}", "fail", NOT_DECLARED),
        (f"{P_SCRIPTS}/{PUBLISHER}", "fail", REVIEW_DUE),
        (f"{P_WIPE}/{OFFBOARDING}", "fail", NOT_DECLARED),
        (f"{P_RETIRE}/{AUTOPILOT}", "pass", "declared and present"),
        (f"{P_CONFIG}/{LEGACY}", "pass", "declared and present"),
        (
            f"{P_CONFIG}/{PIPELINE}",
            "fail",
            "declared in the configuration but not excluded in the tenant",
        ),
        (f"Apps - macOS/{PATCH}", "fail", NO_MACOS_POLICY),
    ]
    assert exclusion_findings(result, "MAA409") == [
        (f"{P_APPS}/{PATCH}", "pass", APP_TYPE),
        (f"{P_APPS}/{TAG_SYNC}", "pass", APP_TYPE),
        (f"{P_SCRIPTS}/{WIN32}", "fail", SCRIPT_TYPE),
        (f"{P_SCRIPTS}/{PUBLISHER}", "fail", SCRIPT_TYPE),
        (
            f"{P_WIPE}/{OFFBOARDING}",
            "fail",
            "exclusion on an access policy of type deviceWipe: review it",
        ),
        (f"{P_RETIRE}/{AUTOPILOT}", "fail", RETIRE_TYPE),
        (f"{P_CONFIG}/{LEGACY}", "pass", CONFIG_TYPE),
        (f"{P_CONFIG}/{PIPELINE}", "pass", CONFIG_TYPE),
    ]


def test_findings_from_the_published_profile_without_trust(published_untrusted: Snapshot) -> None:
    result = evaluated(published_untrusted, trust=False)
    message = f"could not verify: exclusions is partial ({UNTRUSTED}; {PUBLISHED_HISTORY})"
    assert [(f.rule_id, f.resource.id, f.status.value, f.message) for f in result.findings] == [
        (rule, TENANT, "error", message) for rule in RULES
    ]


def test_findings_from_the_published_profile_with_trust(published_trusted: Snapshot) -> None:
    result = evaluated(published_trusted, trust=True)
    # the undeclared exclusions that only the policy property showed cannot be seen
    seen = (TAG_SYNC, PUBLISHER, PATCH, AUTOPILOT, LEGACY, PIPELINE)
    assert app_reviews(result) == {
        rule: {app: reviews[app] for app in seen} for rule, reviews in APP_REVIEWS.items()
    }
    assert exclusion_findings(result, "MAA408") == [
        (
            f"{P_APPS}/{TAG_SYNC}",
            "fail",
            "the audit log shows this exclusion added on 2026-05-02, but it is not declared in "
            "the configuration",
        ),
        (f"{P_SCRIPTS}/{PUBLISHER}", "fail", REVIEW_DUE),
        (f"{P_APPS}/{PATCH}", "pass", UNCONFIRMED),
        (f"{P_RETIRE}/{AUTOPILOT}", "pass", UNCONFIRMED),
        (f"{P_CONFIG}/{LEGACY}", "pass", UNCONFIRMED),
        (f"{P_CONFIG}/{PIPELINE}", "pass", UNCONFIRMED),
        (f"Apps - macOS/{PATCH}", "fail", NO_MACOS_POLICY),
    ]
    assert exclusion_findings(result, "MAA409") == [
        (f"{P_APPS}/{TAG_SYNC}", "pass", APP_TYPE),
        (f"{P_SCRIPTS}/{PUBLISHER}", "fail", SCRIPT_TYPE),
        (f"{P_APPS}/{PATCH}", "pass", APP_TYPE),
        (f"{P_RETIRE}/{AUTOPILOT}", "fail", RETIRE_TYPE),
        (f"{P_CONFIG}/{LEGACY}", "pass", CONFIG_TYPE),
        (f"{P_CONFIG}/{PIPELINE}", "pass", CONFIG_TYPE),
    ]


# ---- audit category discovery ---------------------------------------------------------------

HISTORY_FALLBACK = (
    "exclusion history read from every audit category (GET deviceManagement/auditEvents/{}: "
    "HTTP 403 Authorization_RequestDenied; missing permission DeviceManagementApps.Read.All)"
)


@pytest.mark.parametrize(
    ("denied", "failing"),
    [
        ("getAuditCategories", "getAuditCategories"),
        ("getAuditActivityTypes", "getAuditActivityTypes(category='Application')"),
    ],
)
def test_failed_category_discovery_reads_the_history_of_every_category(
    denied: str, failing: str
) -> None:
    route = f"deviceManagement/auditEvents/{denied}"
    faults = {"deny": {route: "DeviceManagementApps.Read.All"}}
    with Emulator(
        demo_fixture(), now=demo_now, profile="published", faults=faults, fixed_tokens=True
    ) as emulator:
        snapshot = run_collect(emulator.url, days=30)
        audit = [r for r in emulator.requests if r.path.endswith("/deviceManagement/auditEvents")]
    filters = [parse_qs(r.query)["$filter"][0] for r in audit]
    assert (len(filters), [f for f in filters if "category" in f]) == (1 + 1, [])
    assert snapshot.sources["exclusions"] == SourceStatus(
        SourceState.PARTIAL, reason=f"{UNTRUSTED}; {HISTORY_FALLBACK.format(failing)}"
    )
    assert sorted((p.id, e.app_id) for p in snapshot.policies for e in p.exclusions) == [
        (P_APPS, TAG_SYNC),
        (P_SCRIPTS, PUBLISHER),
    ]


def test_discovery_costs_one_get_and_one_batch() -> None:
    with Emulator(demo_fixture(), now=demo_now, profile="published", fixed_tokens=True) as emulator:
        run_collect(emulator.url, days=30)
        calls = [r for r in emulator.requests if "getAudit" in r.path]
    categories = ("Application", "Device", "DeviceConfiguration", "Enrollment")
    assert [(r.path.rsplit("/", 1)[1], r.in_batch) for r in calls] == [
        ("getAuditCategories", False),
        *((f"getAuditActivityTypes(category='{c}')", True) for c in categories),
        ("getAuditActivityTypes(category='MultiAdminApproval')", True),
    ]


# ---- the live scan through the CLI ----------------------------------------------------------


@pytest.fixture
def live_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    shutil.copy(DEMO_CONFIG, tmp_path / "maa-guard.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", SECRET)
    monkeypatch.delenv("CI", raising=False)
    with Emulator(demo_fixture(), now=demo_now, profile="published", fixed_tokens=True) as emulator:
        yield ["scan", "--auth", "token", "--graph-endpoint", emulator.url, "--format", "json"]


@pytest.mark.parametrize(
    ("trust", "code", "said"),
    [
        ("false", 3, f"partial, 2 item(s) ({UNTRUSTED}; {PUBLISHED_HISTORY})"),
        ("true", 0, f"declared, 2 item(s) ({TRUSTED}; {PUBLISHED_HISTORY})"),
    ],
)
def test_a_live_scan_says_where_exclusions_came_from_and_exits_by_the_setting(
    live_scan: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    trust: str,
    code: int,
    said: str,
) -> None:
    monkeypatch.setenv("MAA_GUARD_TRUST_DECLARED_EXCLUSIONS", trust)
    assert main([*live_scan, "--rule", "MAA408", "--exit-zero"]) == code
    out, err = capsys.readouterr()
    assert f"collected exclusions: {said}\n" in err
    state = json.loads(out)["sources"]["exclusions"]["state"]
    assert state == ("declared" if trust == "true" else "partial")
