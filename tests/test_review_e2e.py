"""`maa-guard review APP` live: the real CLI, credential and Graph stack against the emulator.

The tenant's dates are relative to the real clock, because the command judges credentials and
staleness as of now. No test waits on the clock. Every test runs against both emulator profiles
(``tests/profiles.py``): ``default`` serves the exclusion property, ``published`` does not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest
from builders import (
    TENANT_ID,
    Json,
    add_ca_policy,
    add_event,
    add_policy,
    add_sign_in,
    add_sp,
    new_snapshot,
    registration,
    secret,
)
from profiles import PROFILES, VARIANT_NAMES, VARIANTS, Variant

from maa_guard.cli import main
from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint
from maa_guard.config import Settings
from maa_guard.emulator import READER_ROLES, READER_TOKEN, Emulator, fixture_from_snapshot
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE
from maa_guard.model import SourceState
from maa_guard.review import review_app
from maa_guard.review.collect import collect_for_review
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.file import load_snapshot, parse_snapshot

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SECRET_APP = "51111111-1111-4111-8111-111111111111"
SECRET_SP = "5aaaaaaa-1111-4111-8111-111111111111"
FED_APP = "f2222222-2222-4222-8222-222222222222"
FED_SP = "faaaaaaa-2222-4222-8222-222222222222"
NAMES = "/beta/servicePrincipals"
TWINS = ("73333333-3333-4333-8333-333333333333", "74444444-4444-4444-8444-444444444444")


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def tenant() -> Json:
    snap = new_snapshot()
    snap["collected_at"] = snap["window"]["end"] = ago(0)
    snap["window"]["start"] = ago(30)
    add_policy(snap, "pol-app", "app", name="Apps")
    add_policy(snap, "pol-script", "script", name="Scripts")
    add_ca_policy(snap, "ca-block", exclude=[SECRET_SP])
    key = secret("secret-1", start=ago(30), end=ago(-60))
    add_sp(
        snap,
        SECRET_APP,
        sp_id=SECRET_SP,
        name="Secret Sync",
        application=registration(SECRET_APP, secrets=[key]),
    )
    add_sp(
        snap,
        FED_APP,
        sp_id=FED_SP,
        name="Fed Deploy",
        application=registration(FED_APP, federated=True),
        permissions=["DeviceManagementConfiguration.ReadWrite.All"],
    )
    fics = snap["service_principals"][-1]["application"]["federatedIdentityCredentials"]
    fics[0]["id"] = "fic-1"
    for app_id in TWINS:
        add_sp(snap, app_id, sp_id="7" + app_id[1:], name="Twin")
    for app_id in (SECRET_APP, FED_APP):
        add_sign_in(snap, app_id, ago(1))
    add_event(snap, SECRET_APP, "Create MobileApp", when=ago(3))
    add_event(
        snap, FED_APP, "Create DeviceManagementScript", category="DeviceConfiguration", when=ago(2)
    )
    return snap


SNAPSHOT = parse_snapshot(tenant())


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", READER_TOKEN)


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def emulator(reader: None, profile: str) -> Iterator[Emulator]:
    with serving(profile) as running:
        yield running


@contextmanager
def serving(profile: str, fixture: Json | None = None, **options: Any) -> Iterator[Emulator]:
    tenant = fixture_from_snapshot(SNAPSHOT) if fixture is None else fixture
    with Emulator(tenant, throttle=False, profile=profile, fixed_tokens=True, **options) as running:
        yield running


def query(request: Any) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.query).items()}


def live(url: str, *extra: str) -> list[str]:
    return ["--graph-endpoint", url, "--auth", "token", "--quiet", "--format", "json", *extra]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["review", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def reasons(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["rule_id"], r["severity"], r["message"]) for r in document["reasons"]]


def test_an_app_with_a_client_secret_and_no_workload_ca(
    emulator: Emulator, profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run(capsys, SECRET_APP, *live(emulator.url))
    assert (code, document["verdict"], document["complete"]) == (
        EXIT_FINDINGS,
        "do-not-exclude",
        True,
    )
    assert reasons(document) == [
        ("MAA401", "high", "the excluded app holds 1 client secret(s)"),
        (
            "MAA402",
            "high",
            "no enabled Conditional Access policy with a block grant and a location or risk "
            "condition covers this service principal",
        ),
    ]
    assert document["reasons"][0]["fix"].startswith("- Move the automation to a certificate")
    # ``published`` without trust cannot tell: an exclusion may predate the audit log.
    assert [(p["id"], p["already_excluded"]) for p in document["excluded_from"]] == [
        ("pol-app", {"default": False, "published": None}[profile])
    ]
    assert [(c["kind"], c["key_id"]) for c in document["app"]["credentials"]] == [
        ("clientSecret", "secret-1")
    ]
    assert [
        (p["id"], p["restricts"], p["note"]) for p in document["app"]["conditional_access"]
    ] == [("ca-block", False, "excludes this service principal")]
    assert document["app"]["graph_permissions"] == ["DeviceManagementApps.ReadWrite.All"]


def test_a_clean_federated_app_by_display_name_is_ok(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run(capsys, "fed deploy", *live(emulator.url))
    assert (code, document["verdict"], document["complete"], document["reasons"]) == (
        EXIT_OK,
        "ok",
        True,
        [],
    )
    assert {c["rule_id"]: c["status"] for c in document["checks"]} == dict.fromkeys(
        ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406", "MAA407"), "pass"
    )
    assert [(c["kind"], c["issuer"]) for c in document["app"]["credentials"]] == [
        ("federated", "https://token.actions.githubusercontent.com")
    ]
    assert [w["workload"] for w in document["writes"]] == ["script"]
    assert [p["id"] for p in document["excluded_from"]] == ["pol-script"]
    assert document["app"]["last_app_only_sign_in"] == ago(1)


def test_the_review_reads_only_and_asks_for_one_app(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "Fed Deploy", *live(emulator.url))
    requests = emulator.requests
    assert {r.method for r in requests if not r.in_batch} <= {"GET", "POST"}
    assert {r.path for r in requests if r.method == "POST"} == {"/beta/$batch"}
    assert {r.method for r in requests if r.in_batch} == {"GET"}
    names = [(query(r).get("$filter"), r.status) for r in requests if r.path == NAMES]
    # Graph (and the emulator) serve the displayName filter: no listing of every app.
    assert names == [("displayName eq 'Fed Deploy'", 200)]
    activity = [r for r in requests if r.path == "/beta/reports/servicePrincipalSignInActivities"]
    assert [(query(r)["$filter"], r.status) for r in activity] == [(f"appId eq '{FED_APP}'", 200)]
    touched = {r.path.split("/")[2] for r in requests if r.path.startswith("/beta/")}
    assert "groups" not in touched and "users" not in touched


def test_a_missing_permission_is_incomplete_never_ok(
    reader: None, profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = {"deny": {"identity/conditionalAccess/policies": "Policy.Read.All"}}
    with serving(profile, faults=faults) as denied:
        code, document = run(capsys, FED_APP, *live(denied.url))
    assert (code, document["verdict"], document["complete"]) == (
        EXIT_INCOMPLETE,
        "needs-hardening",
        False,
    )
    (check,) = [c for c in document["checks"] if c["status"] == "error"]
    assert check["rule_id"] == "MAA402"
    assert check["message"].startswith("could not verify: conditional_access is failed (")
    assert check["message"].endswith("; missing permission Policy.Read.All")
    assert document["exit_code"] == EXIT_INCOMPLETE


def test_the_app_lookup_denied_is_incomplete(
    reader: None,
    profile: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixture = fixture_from_snapshot(SNAPSHOT)
    roles = [r for r in READER_ROLES if r not in ("Application.Read.All", "Directory.Read.All")]
    fixture["tokens"]["no-apps"] = {"kind": "application", "appId": FED_APP, "roles": roles}
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "no-apps")
    with serving(profile, fixture) as denied:
        assert main(["review", FED_APP, *live(denied.url)]) == EXIT_INCOMPLETE
        audit = [r for r in denied.requests if "auditEvents" in r.path]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: could not look up the app: GET servicePrincipals(appId='f2222222-2222-4222-"
        "8222-222222222222')?$select=id,appId,displayName: HTTP 403 "
        "Authorization_RequestDenied; missing permission Application.Read.All",
        "hint: grant the application permission Application.Read.All and admin consent",
    ]
    assert audit == []  # nothing else is read for an app that cannot be found


def test_an_ambiguous_name_lists_the_matches(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "Twin", *live(emulator.url)]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: 'Twin' matches 2 service principals: "
        f"'Twin' (appId {TWINS[0]}, object id 7{TWINS[0][1:]}); "
        f"'Twin' (appId {TWINS[1]}, object id 7{TWINS[1][1:]})",
        "hint: give the appId of the one to review",
    ]


@pytest.mark.parametrize("ref", ["Nobody", "00000000-0000-4000-8000-000000000000"])
def test_an_unknown_app_is_bad_input(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    assert main(["review", ref, *live(emulator.url)]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: no service principal matches '{ref}'"
    )


def test_by_service_principal_object_id(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run(capsys, SECRET_SP, *live(emulator.url))
    assert (code, document["app"]["app_id"]) == (EXIT_FINDINGS, SECRET_APP)


def test_sign_in_fallback_when_the_report_is_denied(
    reader: None, profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = {"deny": {"reports/servicePrincipalSignInActivities": "AuditLog.Read.All"}}
    with serving(profile, faults=faults) as denied:
        code, document = run(capsys, FED_APP, *live(denied.url))
        signins = [r for r in denied.requests if r.path == "/beta/auditLogs/signIns"]
    assert (code, document["verdict"]) == (EXIT_OK, "ok")
    (source,) = [s for s in document["sources"] if s["name"] == "sign_in_activity"]
    assert source["state"] == "complete"
    assert source["reason"].startswith("from auditLogs/signIns of the window;")
    assert [query(r)["$filter"].split(" and ")[0] for r in signins] == [f"appId eq '{FED_APP}'"]


# ---- live and offline agree ----------------------------------------------------------------


def collect(url: str, ref: str) -> Snapshot:
    async def go() -> Snapshot:
        endpoint = resolve_endpoint("global", url)
        async with GraphClient(StaticTokenCredential(READER_TOKEN), endpoint) as client:
            return await collect_for_review(client, ref, Settings(), 30, now=SNAPSHOT.collected_at)

    return asyncio.run(go())


# The tenant excludes nobody: ``default`` serves the property empty, ``published`` not at all.
EXCLUSIONS_STATE = {"default": SourceState.COMPLETE, "published": SourceState.PARTIAL}


@pytest.mark.parametrize("app_id", [SECRET_APP, FED_APP])
def test_a_live_review_equals_the_offline_review_of_the_same_tenant(
    emulator: Emulator, profile: str, app_id: str
) -> None:
    collected = collect(emulator.url, app_id)
    assert [sp.app_id for sp in collected.service_principals] == [app_id]
    assert {name: s.state for name, s in collected.sources.items()} == {
        "access_policies": SourceState.COMPLETE,
        "service_principals": SourceState.COMPLETE,
        "conditional_access": SourceState.COMPLETE,
        "audit_events": SourceState.COMPLETE,
        "sign_in_activity": SourceState.COMPLETE,
        "exclusions": EXCLUSIONS_STATE[profile],
    }
    assert collected.tenant.id == TENANT_ID
    live_review = review_app(collected, app_id, Settings())
    # The same tenant, with its exclusions read as completely as the live collection read them.
    as_read = {**SNAPSHOT.sources, "exclusions": collected.sources["exclusions"]}
    offline = review_app(dataclasses.replace(SNAPSHOT, sources=as_read), app_id, Settings())
    assert live_review == offline


def test_progress_names_each_source_a_review_reads(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a for a in live(emulator.url) if a != "--quiet"]
    assert main(["review", FED_APP, *argv]) == EXIT_OK
    assert sorted(capsys.readouterr().err.splitlines()) == [
        "collected access_policies: complete, 2 item(s)",
        "collected audit_events: complete, 2 item(s)",
        "collected conditional_access: complete, 1 item(s)",
        "collected service_principals: complete, 1 item(s)",
        "collected sign_in_activity: complete, 1 item(s)",
    ]


DEMO = load_snapshot(demo_path("snapshot.json"))


def demo_now() -> datetime:
    return min(r.request_date_time for r in DEMO.approval_requests)


def test_a_live_review_knows_an_exclusion_added_before_the_window(profile: str) -> None:
    """The demo's Remediation Script Publisher was excluded in May, known only from the audit
    log: a 30-day review still shows it as already excluded from the scripts policy."""
    publisher = "655cf484-0a06-4291-b237-96c21b609bde"
    with serving(profile, fixture_from_snapshot(DEMO), now=demo_now) as served:

        async def go() -> Snapshot:
            endpoint = resolve_endpoint("global", served.url)
            async with GraphClient(StaticTokenCredential(READER_TOKEN), endpoint) as client:
                return await collect_for_review(
                    client, publisher, Settings(), 30, now=DEMO.collected_at
                )

        collected = asyncio.run(go())
    assert collected.sources["exclusions"].state is EXCLUSIONS_STATE[profile]
    assert [
        (p.display_name, [e.source.value for e in p.exclusions])
        for p in collected.policies
        if p.exclusions
    ] == [("Scripts and remediations", ["audit-log"])]


# ``already_excluded`` of the policies a review assesses for Patch My PC Cloud (its app writes):
# the tenant excludes it from Apps - Windows by a change older than the audit log, and the demo
# configuration declares that exclusion. Without a property and without trust nobody can tell.
ALREADY_EXCLUDED = {"default": True, "published": None, "published-trusted": True}


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_NAMES)
def test_a_live_review_marks_an_exclusion_the_app_already_has(
    variant: Variant,
    reader: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in variant.environ.items():
        monkeypatch.setenv(name, value)
    config = ["--config", str(demo_path("maa-guard.toml")), "--days", "200"]
    with serving(variant.profile, fixture_from_snapshot(DEMO), now=demo_now) as served:
        code, document = run(capsys, "Patch My PC Cloud", *live(served.url, *config))
    assert (code, document["verdict"]) == (EXIT_FINDINGS, "do-not-exclude")
    assert [(p["display_name"], p["already_excluded"]) for p in document["excluded_from"]] == [
        ("Apps - Windows", ALREADY_EXCLUDED[variant.name])
    ]
