"""``graph.trust_declared_exclusions``: without an exclusion property, the declaration plus the
audit log are the inventory, the exclusions source is ``declared``, and MAA408 compares the
audit log's adds and removes with the declaration. Offline: snapshots built with ``builders``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from builders import (
    ERROR,
    FAIL,
    PASS,
    Json,
    add_ca_policy,
    add_event,
    add_policy,
    add_sign_in,
    add_sp,
    approver_group,
    certificate,
    declared,
    exclusion,
    findings,
    new_snapshot,
    scan,
    set_source,
    statuses,
)

from maa_guard.catalogue import load_catalogue
from maa_guard.cli import main
from maa_guard.config import Settings, load_settings
from maa_guard.errors import ConfigError, UsageError
from maa_guard.evaluate.engine import ScanResult
from maa_guard.exclusions.draft import ChangeAction, ExclusionDraft
from maa_guard.exclusions.draft_build import DraftRequest, build_draft
from maa_guard.exclusions.provenance import TRUSTED, UNTRUSTED, no_property_unread_status
from maa_guard.gate.decision import exit_code
from maa_guard.model import Severity, SourceState
from maa_guard.reporters import OutputFormat, RenderOptions, render
from maa_guard.reporters.text import markdown
from maa_guard.review import (
    review_app,
    review_from_json,
    review_to_json,
    review_to_markdown,
    review_to_terminal,
)
from maa_guard.snapshot import SourceStatus
from maa_guard.snapshot.file import parse_snapshot

P_APPS, P_SCRIPTS = "pol-apps", "pol-scripts"
ADDED = "11111111-1111-4111-8111-111111111111"  # declared; the audit log shows it added
UNDECLARED = "22222222-2222-4222-8222-222222222222"  # added per the audit log; not declared
REMOVED = "33333333-3333-4333-8333-333333333333"  # declared; the audit log shows it removed
OLDER = "44444444-4444-4444-8444-444444444444"  # declared; the audit log does not mention it
APPS = (ADDED, UNDECLARED, REMOVED, OLDER)
HISTORY = "exclusion history from audit category 'MultiAdminApproval'"
UNSEEN = (
    "Microsoft Graph publishes no exclusion property, so exclusions older than the audit log "
    "cannot be seen"
)
EXCLUSION_RULES = tuple(f"MAA40{n}" for n in range(1, 10))


def exclusion_event(verb: str, app_id: str, when: str) -> None:
    preposition = "to" if verb == "Add" else "from"
    add_event(
        SNAP,
        None,
        f"{verb} OperationApprovalPolicyExclusion",
        category="MultiAdminApproval",
        upn="admin@contoso-test.example",
        activity=f"{verb} exclusion {preposition} access policy",
        when=when,
        resources=[
            {"resourceId": P_APPS, "displayName": "Apps", "type": "OperationApprovalPolicy"},
            {"resourceId": app_id, "displayName": app_id[:8], "type": "ServicePrincipal"},
        ],
    )


def published_tenant() -> Json:
    """As the collector records a tenant without an exclusion property: the exclusions the
    audit log replays on the policies, the source ``partial``."""
    snap = new_snapshot()
    approver_group(snap)
    add_policy(
        snap,
        P_APPS,
        "app",
        name="Apps",
        exclusions=[exclusion(ADDED, "audit-log"), exclusion(UNDECLARED, "audit-log")],
    )
    add_policy(snap, P_SCRIPTS, "script", name="Scripts")
    add_ca_policy(snap, "ca-workloads")
    for app_id in APPS:
        add_sp(snap, app_id, name=app_id[:8], certificates=[certificate(f"cert-{app_id[:4]}")])
        add_sign_in(snap, app_id)
    set_source(snap, "exclusions", "partial", f"{UNTRUSTED}; {HISTORY}")
    return snap


SNAP = published_tenant()
exclusion_event("Add", REMOVED, "2026-09-01T10:00:00Z")
exclusion_event("Add", ADDED, "2026-10-10T10:00:00Z")
exclusion_event("Add", UNDECLARED, "2026-10-12T10:00:00Z")
exclusion_event("Remove", REMOVED, "2026-10-15T10:00:00Z")
DECLARED = (
    declared(P_APPS, ADDED),
    declared("Apps", REMOVED),
    declared(P_SCRIPTS, OLDER),
)


def settings(trust: bool, *rules: str, **changes: Any) -> Settings:
    return Settings(
        declared_exclusions=DECLARED,
        trust_declared_exclusions=trust,
        only_rules=rules,
        **changes,
    )


# ---- the state and the exit code ------------------------------------------------------------


def test_without_the_setting_the_exclusions_source_stays_partial_and_the_scan_exits_3() -> None:
    result = scan(SNAP, settings(False, *EXCLUSION_RULES))
    assert result.snapshot.sources["exclusions"] == SourceStatus(
        SourceState.PARTIAL, reason=f"{UNTRUSTED}; {HISTORY}"
    )
    assert {(f.rule_id, f.status, f.message) for f in result.findings} == {
        (rule, ERROR, f"could not verify: exclusions is partial ({UNTRUSTED}; {HISTORY})")
        for rule in EXCLUSION_RULES
    }
    assert exit_code(result) == 3


def test_with_the_setting_the_source_is_declared_and_alone_never_exits_3() -> None:
    reviews = tuple(f"MAA40{n}" for n in range(1, 8))
    result = scan(SNAP, settings(True, *reviews))
    assert result.snapshot.sources["exclusions"] == SourceStatus(
        SourceState.DECLARED, reason=f"{TRUSTED}; {HISTORY}"
    )
    assert {rule: statuses(result, rule) for rule in reviews} == {
        rule: dict.fromkeys(APPS, PASS) for rule in reviews
    }
    assert exit_code(result) == 0
    assert exit_code(scan(SNAP, settings(False, *reviews))) == 3


def test_maa409_reviews_the_declared_and_the_audit_log_exclusions() -> None:
    result = scan(SNAP, settings(True, "MAA409"))
    assert statuses(result, "MAA409") == {
        f"{P_APPS}/{ADDED}": PASS,
        f"{P_APPS}/{UNDECLARED}": PASS,
        f"{P_APPS}/{REMOVED}": PASS,
        f"{P_SCRIPTS}/{OLDER}": FAIL,
    }
    assert exit_code(result) == 0  # MAA409 is low
    assert exit_code(scan(SNAP, settings(True, "MAA409", fail_on=Severity.LOW))) == 1


def test_a_snapshot_recorded_as_declared_is_partial_without_the_setting() -> None:
    recorded = json.loads(json.dumps(SNAP))
    set_source(recorded, "exclusions", "declared", f"{TRUSTED}; {HISTORY}")
    assert scan(recorded, settings(True, "MAA408")).snapshot.sources["exclusions"] == (
        SourceStatus(SourceState.DECLARED, reason=f"{TRUSTED}; {HISTORY}")
    )
    untrusted = scan(recorded, settings(False, "MAA408"))
    assert untrusted.snapshot.sources["exclusions"] == SourceStatus(
        SourceState.PARTIAL, reason=f"{UNTRUSTED}; {HISTORY}"
    )
    assert exit_code(untrusted) == 3


def test_the_setting_does_not_touch_a_partial_source_for_another_reason() -> None:
    broken = json.loads(json.dumps(SNAP))
    set_source(broken, "exclusions", "partial", "exclusion history: HTTP 503")
    result = scan(broken, settings(True, "MAA408"))
    assert result.snapshot.sources["exclusions"].state is SourceState.PARTIAL
    assert exit_code(result) == 3


# ---- MAA408 against the audit log -----------------------------------------------------------


def maa408(result: ScanResult) -> list[tuple[str, str, str, Any]]:
    return [
        (f.resource.id, f.status.value, f.message, f.evidence["audit_log"])
        for f in findings(result, "MAA408")
    ]


def test_maa408_compares_the_audit_log_with_the_declaration() -> None:
    result = scan(SNAP, settings(True, "MAA408"))
    assert maa408(result) == [
        (
            f"{P_APPS}/{ADDED}",
            "pass",
            "declared, and the audit log shows it added on 2026-10-10",
            {"change": "add", "date": "2026-10-10"},
        ),
        (
            f"{P_APPS}/{UNDECLARED}",
            "fail",
            "the audit log shows this exclusion added on 2026-10-12, but it is not declared "
            "in the configuration",
            {"change": "add", "date": "2026-10-12"},
        ),
        (
            f"{P_APPS}/{REMOVED}",
            "fail",
            "declared in the configuration, but the audit log shows the exclusion removed on "
            "2026-10-15",
            {"change": "remove", "date": "2026-10-15"},
        ),
        (
            f"{P_SCRIPTS}/{OLDER}",
            "pass",
            "declared; the audit log does not mention it, so it cannot be confirmed from Graph "
            f"({UNSEEN})",
            None,
        ),
    ]
    assert {f.evidence["limitation"] for f in findings(result, "MAA408")} == {UNSEEN}


def test_maa408_still_fails_a_declaration_past_review_or_for_a_missing_policy() -> None:
    late = replace(DECLARED[0], review_by=date(2026, 10, 1))
    entries = (late, declared("No such policy", OLDER))
    result = scan(SNAP, replace(settings(True, "MAA408"), declared_exclusions=entries))
    rows = {f.resource.id: (f.status, f.message) for f in findings(result, "MAA408")}
    assert rows[f"{P_APPS}/{ADDED}"] == (
        FAIL,
        "the declared exclusion was due for review on 2026-10-01",
    )
    assert rows[f"No such policy/{OLDER}"] == (
        FAIL,
        "declared for policy 'No such policy', which does not exist",
    )


def test_maa408_with_trust_and_nothing_declared_fails_every_audit_log_exclusion() -> None:
    result = scan(SNAP, Settings(trust_declared_exclusions=True, only_rules=("MAA408",)))
    assert statuses(result, "MAA408") == {f"{P_APPS}/{ADDED}": FAIL, f"{P_APPS}/{UNDECLARED}": FAIL}


def test_maa408_with_an_exclusion_property_compares_with_the_tenant_as_before() -> None:
    snap = json.loads(json.dumps(SNAP))
    set_source(snap, "exclusions", "complete", "from the access policies' property 'x'")
    result = scan(snap, settings(True, "MAA408"))
    assert [(f.resource.id, f.status.value, f.message) for f in findings(result, "MAA408")] == [
        (f"{P_APPS}/{ADDED}", "pass", "declared and present"),
        (
            f"{P_APPS}/{UNDECLARED}",
            "fail",
            "excluded in the tenant but not declared in the configuration",
        ),
        (
            f"{P_APPS}/{REMOVED}",
            "fail",
            "declared in the configuration but not excluded in the tenant",
        ),
        (
            f"{P_SCRIPTS}/{OLDER}",
            "fail",
            "declared in the configuration but not excluded in the tenant",
        ),
    ]


# ---- every reporter shows the state and its reason ------------------------------------------

PROPERTY_REASON = f"from the access policies' property 'excludedApps' and the audit log; {HISTORY}"


def reported(state: str, reason: str, trust: bool = True) -> ScanResult:
    snap = json.loads(json.dumps(SNAP))
    set_source(snap, "exclusions", state, reason)
    return scan(snap, settings(trust, "MAA401"))


@pytest.mark.parametrize(
    ("state", "reason"),
    [("declared", f"{TRUSTED}; {HISTORY}"), ("complete", PROPERTY_REASON)],
)
def test_every_reporter_shows_the_exclusions_state_and_reason(state: str, reason: str) -> None:
    result = reported(state, reason)
    said = f"exclusions is {state} ({reason})"
    flat = {fmt: " ".join(render(result, fmt, RenderOptions()).split()) for fmt in OutputFormat}
    assert f"source: {said}" in flat[OutputFormat.TABLE]
    assert f"### Data sources - {markdown(said)}" in flat[OutputFormat.MARKDOWN]
    html = said.replace("'", "&#39;")
    colour = {"declared": "suppressed", "complete": "pass"}[state]
    cell = f'<span class="status status-{colour}">{state}</span></td><td>{html}</td>'
    assert f"<tr><td>exclusions</td><td>{cell}</tr>" in flat[OutputFormat.HTML]
    document = json.loads(render(result, OutputFormat.JSON, RenderOptions()))
    assert document["sources"]["exclusions"] == {
        "state": state,
        "reason": reason,
        "missing_permission": None,
        "missing_licence": None,
    }
    sarif = json.loads(render(result, OutputFormat.SARIF, RenderOptions()))
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["toolExecutionNotifications"] == [
        {
            "level": "note",
            "message": {"text": said},
            "descriptor": {"id": "maa-guard/source/exclusions"},
            "properties": {"source": "exclusions", "state": state},
        }
    ]
    assert invocation["executionSuccessful"] is True
    junit = ET.fromstring(render(result, OutputFormat.JUNIT, RenderOptions()))
    suite = junit.find("testsuite[@name='data sources']")
    assert suite is not None and suite.get("tests") == "0"
    assert [(p.get("name"), p.get("value")) for p in suite.iter("property")] == [
        ("source.exclusions", said)
    ]
    assert junit.get("tests") == str(len(result.findings))


def test_the_html_report_colours_declared_apart_from_complete_and_partial() -> None:
    declared_html = render(reported("declared", TRUSTED), OutputFormat.HTML, RenderOptions())
    partial = reported("partial", UNTRUSTED, trust=False)
    partial_html = render(partial, OutputFormat.HTML, RenderOptions())
    row = '<tr><td>exclusions</td><td><span class="status status-{}">{}</span>'
    assert row.format("suppressed", "declared") in declared_html
    assert row.format("error", "partial") in partial_html


def test_a_complete_source_without_a_reason_adds_nothing() -> None:
    result = scan(SNAP, Settings(only_rules=("MAA101",)))
    text = render(replace_exclusions(result), OutputFormat.TABLE, RenderOptions())
    assert "source:" not in text
    junit = ET.fromstring(render(replace_exclusions(result), OutputFormat.JUNIT, RenderOptions()))
    assert junit.find("testsuite[@name='data sources']") is None


def replace_exclusions(result: ScanResult) -> ScanResult:
    complete = {name: SourceStatus(SourceState.COMPLETE) for name in result.snapshot.sources}
    return replace(result, snapshot=replace(result.snapshot, sources=complete))


# ---- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("no", False)],
)
def test_the_environment_variable_takes_booleans(text: str, expected: bool) -> None:
    environ = {"MAA_GUARD_TRUST_DECLARED_EXCLUSIONS": text}
    assert load_settings(load_catalogue(), None, environ, {}).trust_declared_exclusions is expected


def test_the_file_setting_is_overridden_by_the_environment(tmp_path: Path) -> None:
    config = (tmp_path / "maa-guard.toml", {"graph": {"trust_declared_exclusions": True}})
    catalogue = load_catalogue()
    assert load_settings(catalogue, config, {}, {}).trust_declared_exclusions is True
    environ = {"MAA_GUARD_TRUST_DECLARED_EXCLUSIONS": "no"}
    assert load_settings(catalogue, config, environ, {}).trust_declared_exclusions is False


def test_a_bad_file_value_names_the_key(tmp_path: Path) -> None:
    config = (tmp_path / "maa-guard.toml", {"graph": {"trust_declared_exclusions": "yes"}})
    with pytest.raises(ConfigError) as caught:
        load_settings(load_catalogue(), config, {}, {})
    assert caught.value.message == (
        f"{tmp_path / 'maa-guard.toml'}: trust_declared_exclusions: expected true or false, "
        "got 'yes'"
    )


def write_tenant(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(SNAP), encoding="utf-8")
    (tmp_path / "maa-guard.toml").write_text(config, encoding="utf-8")
    return path


CONFIG = f"""
[[exclusions]]
policy = "{P_APPS}"
app = "{ADDED}"

[[exclusions]]
policy = "{P_APPS}"
app = "{UNDECLARED}"
"""


def test_a_bad_environment_value_exits_2_with_one_line_and_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = write_tenant(tmp_path, CONFIG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_TRUST_DECLARED_EXCLUSIONS", "maybe")
    code = main(["scan", "--snapshot", str(snapshot)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: MAA_GUARD_TRUST_DECLARED_EXCLUSIONS: expected true or false, got 'maybe'",
        "hint: use true, false, 1, 0, yes or no",
    ]


@pytest.mark.parametrize(("trust", "code"), [("true", 0), ("false", 3)])
def test_the_cli_scan_exits_by_the_setting(
    trust: str,
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    snapshot = write_tenant(tmp_path, CONFIG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_TRUST_DECLARED_EXCLUSIONS", trust)
    argv = ["scan", "--snapshot", str(snapshot), "--format", "json", "--rule", "MAA408"]
    assert main(argv) == code
    document = json.loads(capsys.readouterr().out)
    state = "declared" if trust == "true" else "partial"
    assert document["sources"]["exclusions"]["state"] == state


# ---- the exclusions source when part of the audit log could not be read --------------------

UNREAD = SourceStatus(
    SourceState.PARTIAL,
    reason="exclusion history: HTTP 403 Forbidden",
    missing_permission="DeviceManagementApps.Read.All",
)


@pytest.mark.parametrize(("trust", "inventory"), [(False, UNTRUSTED), (True, TRUSTED)])
def test_an_unread_history_without_a_property_names_both_and_stays_partial(
    trust: bool, inventory: str
) -> None:
    status = no_property_unread_status(UNREAD, trust, "auto")
    assert status == SourceStatus(
        SourceState.PARTIAL,
        reason=f"exclusion history: HTTP 403 Forbidden; {inventory}",
        missing_permission="DeviceManagementApps.Read.All",
    )
    configured = no_property_unread_status(UNREAD, trust, "excludedApps")
    assert configured.reason == (
        f"exclusion history: HTTP 403 Forbidden; {inventory}; "
        "no access policy carries the configured property 'excludedApps'"
    )


@pytest.mark.parametrize(("collected", "trust"), [(False, True), (True, False)])
def test_an_unread_history_stays_partial_and_its_note_follows_the_setting(
    collected: bool, trust: bool
) -> None:
    snap = json.loads(json.dumps(SNAP))
    reason = no_property_unread_status(UNREAD, collected, "auto").reason
    set_source(snap, "exclusions", "partial", reason)
    result = scan(snap, settings(trust, "MAA408"))
    inventory = TRUSTED if trust else UNTRUSTED
    assert result.snapshot.sources["exclusions"] == SourceStatus(
        SourceState.PARTIAL, reason=f"exclusion history: HTTP 403 Forbidden; {inventory}"
    )
    assert exit_code(result) == 3


# ---- a review: whether the app is already excluded ------------------------------------------


@pytest.mark.parametrize(
    ("app_id", "policy", "untrusted", "trusted"),
    [
        (UNDECLARED, P_APPS, True, True),  # the audit log shows it
        (OLDER, P_SCRIPTS, None, True),  # declared only: trusted as the inventory, or unknown
        (ADDED, P_SCRIPTS, None, False),  # declared for another policy
    ],
)
def test_a_review_without_a_property_knows_an_exclusion_as_far_as_the_snapshot_tells(
    app_id: str, policy: str, untrusted: bool | None, trusted: bool | None
) -> None:
    snapshot = parse_snapshot(json.loads(json.dumps(SNAP)))
    found = {
        trust: review_app(snapshot, app_id, settings(trust), policy_ids=(policy,))
        for trust in (False, True)
    }
    assert {trust: [p.already_excluded for p in r.excluded_from] for trust, r in found.items()} == {
        False: [untrusted],
        True: [trusted],
    }
    unknown = (
        "whether it is already excluded is unknown unless an exclusion of it is seen: "
        f"exclusions is partial ({UNTRUSTED}; {HISTORY})"
    )
    unsure = [unknown] if untrusted is None else []
    assert [n for n in found[False].notes if n.startswith("whether")] == unsure
    assert [n for n in found[True].notes if n.startswith("whether")] == []
    assert (found[False].complete, found[True].complete) == (True, True)


def test_every_review_renderer_shows_an_unknown_exclusion_as_unknown() -> None:
    snapshot = parse_snapshot(json.loads(json.dumps(SNAP)))
    review = review_app(snapshot, OLDER, settings(False), policy_ids=(P_SCRIPTS,))
    document = review_to_json(review)
    assert [p["already_excluded"] for p in document["excluded_from"]] == [None]
    assert review_from_json(json.loads(json.dumps(document))) == review
    row = f"| Scripts | {P_SCRIPTS} | script | unknown |"
    assert row in review_to_markdown(review).splitlines()
    terminal = [line.split() for line in review_to_terminal(review, width=200).splitlines()]
    assert ["│", "Scripts", "│", P_SCRIPTS, "│", "script", "│", "unknown", "│"] in terminal


# ---- a draft to remove an exclusion without a property --------------------------------------

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def removal(app: str, policy: str = "Scripts") -> DraftRequest:
    return DraftRequest(policy=policy, removes=(app,), justification="no longer needed")


def drafted(request: DraftRequest, trust: bool) -> ExclusionDraft:
    snapshot = parse_snapshot(json.loads(json.dumps(SNAP)))
    made = build_draft(snapshot, request, (), "", NOW, declared=DECLARED, trust=trust)
    return made.draft


@pytest.mark.parametrize("trust", [False, True])
def test_a_declared_exclusion_can_be_drafted_away_without_a_property(trust: bool) -> None:
    draft = drafted(removal(OLDER), trust)
    assert (draft.request, draft.exclusions_property) == (None, "")
    assert [(a.app_id, a.sources) for a in draft.change(ChangeAction.REMOVE)] == [
        (OLDER, ("declared",))
    ]
    assert [(a.app_id, a.sources) for a in draft.current] == [(OLDER, ("declared",))]


def test_without_trust_the_draft_lists_only_the_declared_exclusions_it_removes() -> None:
    untrusted = drafted(removal(UNDECLARED, "Apps"), False)
    assert [(a.app_id, a.sources) for a in untrusted.current] == [
        (ADDED, ("audit-log",)),
        (UNDECLARED, ("audit-log",)),
    ]
    trusted = drafted(removal(UNDECLARED, "Apps"), True)
    assert [(a.app_id, a.sources) for a in trusted.current] == [
        (ADDED, ("audit-log", "declared")),
        (UNDECLARED, ("audit-log",)),
        (REMOVED, ("declared",)),
    ]


@pytest.mark.parametrize("trust", [False, True])
def test_a_removal_nothing_shows_is_refused_saying_the_list_cannot_be_checked(trust: bool) -> None:
    with pytest.raises(UsageError) as refused:
        drafted(removal(UNDECLARED), trust)
    assert (refused.value.message, refused.value.hint) == (
        f"'{UNDECLARED}' is not excluded from policy 'Scripts' as far as maa-guard can tell: the "
        "tenant's access policies carry no exclusion property (Microsoft Graph publishes none), "
        "so the policy's list cannot be checked, and neither the audit log nor the "
        "[[exclusions]] declaration shows it",
        "look for it on the access policy's Exclusions tab in the Intune admin center (Tenant "
        "administration > Multi Admin Approval > Access policies) and remove it there; known: "
        "'44444444'",
    )
