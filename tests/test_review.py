"""`maa-guard review`, offline: verdicts, each reason, scope, resolution, incompleteness."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from builders import (
    OTHER_TENANT_ID,
    Json,
    add_ca_policy,
    add_event,
    add_policy,
    add_sign_in,
    add_sp,
    certificate,
    exclusion,
    new_snapshot,
    registration,
    secret,
    set_source,
    user_ref,
)

from maa_guard.config import RuleSettings, Settings, SuppressionEntry
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, UsageError
from maa_guard.model import Severity, SourceState, Status
from maa_guard.review import AppReferenceError, CouldNotVerifyError, Review, Scope, Verdict
from maa_guard.review import review_app as _review_app
from maa_guard.snapshot.file import parse_snapshot

APP = "11111111-1111-4111-8111-111111111111"
SP_ID = "aaaaaaaa-1111-4111-8111-111111111111"
NAME = "Clean Pipeline"
OK, HARDEN, DO_NOT = Verdict.OK, Verdict.NEEDS_HARDENING, Verdict.DO_NOT_EXCLUDE


def clean_tenant(**sp_fields: Any) -> Json:
    """A federated-credential app covered by workload CA that wrote to the app workload."""
    snap = new_snapshot()
    add_policy(snap, "pol-app", "app", name="Apps")
    add_policy(snap, "pol-script", "script", name="Scripts")
    add_ca_policy(snap, "ca-block")
    fields: dict[str, Any] = {
        "sp_id": SP_ID,
        "name": NAME,
        "application": registration(APP, federated=True),
        **sp_fields,
    }
    add_sp(snap, APP, **fields)
    add_sign_in(snap, APP)
    add_event(snap, APP, "Create MobileApp")
    return snap


def review(snap: Json, ref: str = APP, settings: Settings | None = None, **kw: Any) -> Review:
    snapshot = parse_snapshot(copy.deepcopy(snap))
    return _review_app(snapshot, ref, settings or Settings(), **kw)


def outcome(result: Review) -> dict[str, str]:
    return {c.rule_id: c.status.value for c in result.checks}


# ---- verdicts and reasons -------------------------------------------------------------------


def test_a_clean_app_is_ok_with_every_rule_passing() -> None:
    result = review(clean_tenant())
    assert (result.verdict, result.complete, result.exit_code) == (OK, True, EXIT_OK)
    assert outcome(result) == dict.fromkeys(
        ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406", "MAA407"), "pass"
    )
    assert result.reasons == ()
    assert result.notes == ()
    assert [(c.kind, c.display_name) for c in result.app.credentials] == [
        ("federated", "github-main")
    ]
    assert [(p.id, p.restricts) for p in result.app.conditional_access] == [("ca-block", True)]


def _secret_on_registration(snap: Json) -> None:
    snap["service_principals"][0]["application"]["passwordCredentials"] = [secret("s-1")]


def _no_ca(snap: Json) -> None:
    snap["conditional_access_policies"] = []


def _long_certificate(snap: Json) -> None:
    cert = certificate("c-1", "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    snap["service_principals"][0]["application"]["keyCredentials"] = [cert]


def _privileged(snap: Json) -> None:
    snap["service_principals"][0]["appPermissions"] = ["Application.ReadWrite.All"]


def _user_owner(snap: Json) -> None:
    snap["service_principals"][0]["owners"] = [user_ref("u-dev")]


def _never_signed_in(snap: Json) -> None:
    snap["sign_in_activity"] = []


def _disabled(snap: Json) -> None:
    snap["service_principals"][0]["accountEnabled"] = False


REASONS: list[tuple[str, Callable[[Json], None], str, str, Verdict]] = [
    (
        "client secret",
        _secret_on_registration,
        "MAA401",
        "the excluded app holds 1 client secret(s)",
        DO_NOT,
    ),
    (
        "no workload CA",
        _no_ca,
        "MAA402",
        "no enabled Conditional Access policy with a block grant and a location or risk "
        "condition covers this service principal",
        DO_NOT,
    ),
    (
        "long-lived certificate",
        _long_certificate,
        "MAA403",
        "credentials: 1 valid longer than 180 days",
        HARDEN,
    ),
    (
        "privileged permission",
        _privileged,
        "MAA404",
        "the excluded app holds privileged Graph permissions: Application.ReadWrite.All",
        DO_NOT,
    ),
    (
        "user owner",
        _user_owner,
        "MAA405",
        "1 user(s) own the app and can add credentials to it",
        DO_NOT,
    ),
    (
        "never signed in",
        _never_signed_in,
        "MAA407",
        "no app-only sign-in on record; stale after 90 days",
        HARDEN,
    ),
    (
        "disabled",
        _disabled,
        "MAA407",
        "the excluded app's service principal is disabled",
        HARDEN,
    ),
]


@pytest.mark.parametrize(
    ("change", "rule_id", "message", "verdict"),
    [r[1:] for r in REASONS],
    ids=[r[0] for r in REASONS],
)
def test_each_reason_and_its_verdict(
    change: Callable[[Json], None], rule_id: str, message: str, verdict: Verdict
) -> None:
    snap = clean_tenant()
    change(snap)
    result = review(snap)
    (reason,) = result.reasons
    assert (reason.rule_id, reason.status, reason.message) == (rule_id, Status.FAIL, message)
    assert (result.verdict, result.exit_code) == (verdict, EXIT_FINDINGS)
    assert reason.fix.startswith("- ") and reason.fix == reason.fix.strip()


def test_a_third_party_app_fails_maa406_and_cannot_be_covered_by_ca() -> None:
    result = review(clean_tenant(owner_org=OTHER_TENANT_ID, application=None))
    assert outcome(result) == {
        "MAA401": "skipped",
        "MAA402": "fail",
        "MAA403": "skipped",
        "MAA404": "pass",
        "MAA405": "skipped",
        "MAA406": "fail",
        "MAA407": "pass",
    }
    assert [r.message for r in result.reasons] == [
        f"Conditional Access cannot cover this app: multi-tenant app registered in tenant "
        f"{OTHER_TENANT_ID}",
        f"the app is registered in another tenant ({OTHER_TENANT_ID})",
    ]
    assert result.verdict is DO_NOT
    assert (result.app.registered_in_tenant, result.app.registration_visible) == (False, False)


def test_the_fix_is_the_rule_remediation() -> None:
    snap = clean_tenant()
    _secret_on_registration(snap)
    (reason,) = review(snap).reasons
    assert reason.title == "Excluded app holds a client secret"
    assert reason.fix.splitlines()[0].startswith("- Move the automation to a certificate")


def test_fail_on_decides_between_do_not_exclude_and_needs_hardening() -> None:
    snap = clean_tenant()
    _secret_on_registration(snap)
    assert review(snap, settings=Settings(fail_on=Severity.CRITICAL)).verdict is HARDEN
    assert review(snap, settings=Settings(fail_on=Severity.HIGH)).verdict is DO_NOT


def test_a_severity_override_from_config_applies() -> None:
    snap = clean_tenant()
    _no_ca(snap)
    settings = Settings(rules={"MAA402": RuleSettings(severity=Severity.MEDIUM)})
    result = review(snap, settings=settings)
    assert (result.verdict, result.reasons[0].severity) == (HARDEN, Severity.MEDIUM)


def test_scan_selections_and_suppressions_do_not_weaken_a_review() -> None:
    snap = clean_tenant()
    _secret_on_registration(snap)
    settings = Settings(
        skip_rules=("MAA401",),
        rules={"MAA401": RuleSettings(enabled=False)},
        suppressions=(SuppressionEntry("MAA401", APP, "accepted", datetime(2030, 1, 1).date()),),
    )
    result = review(snap, settings=settings)
    assert [r.rule_id for r in result.reasons] == ["MAA401"]
    assert result.verdict is DO_NOT


def test_rule_parameters_from_config_apply() -> None:
    snap = clean_tenant()
    _long_certificate(snap)
    settings = Settings(rules={"MAA403": RuleSettings(parameters={"max_credential_days": 800})})
    assert review(snap, settings=settings).verdict is OK


def test_as_of_moves_the_moment_credentials_and_staleness_are_judged() -> None:
    later = datetime(2027, 6, 1, tzinfo=timezone.utc)
    result = review(clean_tenant(), as_of=later)
    assert result.reviewed_at == later
    assert result.collected_at == datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
    assert [r.message for r in result.reasons] == [
        "no app-only sign-in since 2026-10-30T00:00:00Z; stale after 90 days"
    ]


# ---- incomplete data never gives ok --------------------------------------------------------


def test_a_failed_source_makes_the_review_incomplete_and_never_ok() -> None:
    snap = clean_tenant()
    set_source(snap, "conditional_access", "failed", "HTTP 403", "Policy.Read.All")
    result = review(snap)
    (unverified,) = result.unverified
    assert unverified.rule_id == "MAA402"
    assert unverified.message == (
        "could not verify: conditional_access is failed (HTTP 403); "
        "missing permission Policy.Read.All"
    )
    assert (result.verdict, result.complete, result.exit_code) == (HARDEN, False, EXIT_INCOMPLETE)


def test_an_incomplete_review_keeps_the_worst_verdict_it_already_has() -> None:
    snap = clean_tenant()
    _privileged(snap)
    set_source(snap, "sign_in_activity", "failed", "HTTP 403", "AuditLog.Read.All")
    result = review(snap)
    assert (result.verdict, result.exit_code) == (DO_NOT, EXIT_INCOMPLETE)
    assert [c.rule_id for c in result.unverified] == ["MAA407"]


def test_an_incomplete_audit_log_alone_makes_the_review_incomplete() -> None:
    snap = clean_tenant()
    set_source(snap, "audit_events", "partial", "2 of 30 slices failed")
    result = review(snap)
    assert result.unverified == ()
    assert [(s.name, s.state) for s in result.incomplete_sources] == [
        ("audit_events", SourceState.PARTIAL)
    ]
    assert (result.verdict, result.exit_code) == (HARDEN, EXIT_INCOMPLETE)


def test_partial_exclusions_of_other_apps_do_not_block_the_review() -> None:
    snap = clean_tenant()
    set_source(snap, "exclusions", "partial", "property not seen")
    assert review(snap).exit_code == EXIT_OK


# ---- scope: which policies it is assessed as excluded from ---------------------------------


def test_assessed_as_excluded_from_the_policies_gating_its_writes() -> None:
    result = review(clean_tenant())
    assert result.scope is Scope.WRITTEN_WORKLOADS
    assert [(p.id, p.policy_type, p.already_excluded) for p in result.excluded_from] == [
        ("pol-app", "app", False)
    ]
    (writes,) = result.writes
    assert (writes.workload, writes.writes, writes.blocked, writes.policy_ids) == (
        "app",
        1,
        0,
        ("pol-app",),
    )


def test_an_app_that_wrote_nothing_is_assessed_against_every_policy() -> None:
    snap = clean_tenant()
    snap["audit_events"] = []
    add_event(snap, APP, "Create MobileApp", upn="admin@contoso-test.example")  # delegated
    add_event(snap, APP, "Create MobileApp", when="2026-09-01T00:00:00Z")  # before the window
    result = review(snap)
    assert (result.scope, [p.id for p in result.excluded_from]) == (
        Scope.EVERY_POLICY,
        ["pol-app", "pol-script"],
    )
    assert result.writes == ()
    assert result.notes == (
        "assessed as excluded from every access policy: it made no app-only Intune writes in "
        "the audit window",
    )


def test_writes_no_policy_gates_need_no_exclusion() -> None:
    snap = clean_tenant()
    snap["audit_events"] = []
    add_event(snap, APP, "Update DeviceCompliancePolicy", category="Compliance")
    result = review(snap)
    assert result.scope is Scope.EVERY_POLICY
    assert result.notes == (
        "assessed as excluded from every access policy: its app-only Intune writes in the audit "
        "window go to no workload an access policy protects",
        "1 write(s) to Compliance policies: no access policy gates them, so no exclusion is "
        "needed for them",
    )


def test_blocked_writes_are_counted() -> None:
    snap = clean_tenant()
    add_event(snap, APP, "Create MobileApp", result="Failure", activity="Create MobileApp approval")
    (writes,) = review(snap).writes
    assert (writes.writes, writes.blocked) == (2, 1)


def test_requested_policies_by_id_or_name() -> None:
    result = review(clean_tenant(), policy_ids=("Scripts", "pol-script"))
    assert (result.scope, [p.id for p in result.excluded_from]) == (
        Scope.REQUESTED,
        ["pol-script"],
    )


def test_an_unknown_requested_policy_is_bad_input() -> None:
    with pytest.raises(UsageError) as raised:
        review(clean_tenant(), policy_ids=("nope",))
    assert (raised.value.exit_code, raised.value.message) == (
        EXIT_USAGE,
        "unknown access policy 'nope'",
    )


def test_an_existing_exclusion_is_shown_and_noted() -> None:
    snap = clean_tenant()
    snap["policies"][0]["exclusions"] = [{"appId": APP, "source": "policy-property"}]
    snap["policies"][1]["exclusions"] = [{"appId": SP_ID, "source": "audit-log"}]
    result = review(snap)
    assert [(p.id, p.already_excluded) for p in result.excluded_from] == [("pol-app", True)]
    assert result.notes == (
        "already excluded from Scripts (pol-script), which it was not assessed for",
    )


def test_other_apps_and_their_exclusions_are_left_out() -> None:
    snap = clean_tenant()
    other = "22222222-2222-4222-8222-222222222222"
    add_sp(snap, other, secrets=[secret("s-9")], permissions=["Directory.ReadWrite.All"])
    snap["policies"][0]["exclusions"] = [exclusion(other)]
    result = review(snap)
    assert result.verdict is OK
    assert {c.rule_id for c in result.checks} == {f"MAA40{i}" for i in range(1, 8)}
    assert len(result.checks) == 7


def test_a_tenant_without_policies_is_assessed_against_a_placeholder() -> None:
    snap = clean_tenant()
    snap["policies"] = []
    result = review(snap)
    assert result.verdict is OK
    assert [p.id for p in result.excluded_from] == ["(none)"]
    assert "the tenant has no access policy: there is nothing to exclude it from yet" in (
        result.notes
    )


# ---- resolving APP -------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [APP, APP.upper(), SP_ID, NAME, NAME.lower()])
def test_app_by_app_id_object_id_or_display_name(ref: str) -> None:
    assert review(clean_tenant(), ref).app.app_id == APP


def test_an_ambiguous_display_name_lists_the_matches() -> None:
    snap = clean_tenant()
    twin = "33333333-3333-4333-8333-333333333333"
    add_sp(snap, twin, sp_id="bbbbbbbb-3333-4333-8333-333333333333", name=NAME.upper())
    with pytest.raises(AppReferenceError) as raised:
        review(snap, NAME)
    error = raised.value
    assert error.exit_code == EXIT_USAGE
    assert error.message == (
        f"'{NAME}' matches 2 service principals: "
        f"'{NAME}' (appId {APP}, object id {SP_ID}); "
        f"'{NAME.upper()}' (appId {twin}, object id bbbbbbbb-3333-4333-8333-333333333333)"
    )
    assert error.hint == "give the appId of the one to review"
    assert [m.app_id for m in error.matches] == [APP, twin]


def test_an_unknown_app_is_bad_input_with_a_hint() -> None:
    with pytest.raises(AppReferenceError) as raised:
        review(clean_tenant(), "Nobody")
    assert (raised.value.exit_code, raised.value.message) == (
        EXIT_USAGE,
        "no service principal matches 'Nobody'",
    )
    assert "review any other app live (--auth or --graph-endpoint)" in raised.value.hint


def test_an_unknown_app_in_incomplete_service_principals_could_not_be_verified() -> None:
    snap = clean_tenant()
    set_source(snap, "service_principals", "partial", "HTTP 503")
    with pytest.raises(CouldNotVerifyError) as raised:
        review(snap, "Nobody")
    assert raised.value.exit_code == EXIT_INCOMPLETE
    assert raised.value.message == (
        "no service principal matches 'Nobody'; could not verify: "
        "service_principals is partial (HTTP 503)"
    )


def test_an_empty_reference_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as raised:
        review(clean_tenant(), "  ")
    assert raised.value.message == "APP is empty"
