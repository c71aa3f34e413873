"""The impact computation: every verdict, its exact boundaries, sorting and incompleteness."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from builders import (
    Json,
    add_event,
    add_policy,
    add_request,
    add_sign_in,
    add_sp,
    app_id_set,
    declared,
    exclusion,
    new_snapshot,
    set_source,
    user_id_set,
)
from test_impact_support import (
    APPS_WRITE,
    EXPECTED_ORDER,
    WIPE,
    report_of,
    resubmission,
    verdict_tenant,
    wipe,
)

from maa_guard.errors import UsageError
from maa_guard.impact.compute import narrow_window
from maa_guard.impact.evidence import intune_write_permissions
from maa_guard.impact.model import (
    Column,
    Coverage,
    ImpactRow,
    MaaEvidence,
    PolicyRef,
    Protection,
    Verdict,
    WayOutKind,
)
from maa_guard.snapshot.file import parse_snapshot


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def row(snap: Json, app_id: str) -> ImpactRow:
    (found,) = [r for r in report_of(snap).rows if r.app_id == app_id]
    return found


def verdicts(snap: Json) -> dict[str, str]:
    return {r.app_id: r.verdict.value for r in report_of(snap).rows}


def writer(snap: Json, app_id: str = "app-w") -> None:
    add_sp(snap, app_id, name=app_id)
    add_event(snap, app_id, "Create MobileApp")


# ---- the fixture tenant: every verdict, in order -------------------------------------------


def test_every_verdict_in_sort_order() -> None:
    report = report_of(verdict_tenant())
    assert tuple((r.app_id, r.verdict.value) for r in report.rows) == EXPECTED_ORDER
    assert {v.value for v in Verdict} == {verdict for _, verdict in EXPECTED_ORDER}
    assert report.exit_code == 1
    assert report.complete


def test_blocked_row_in_full() -> None:
    store = row(verdict_tenant(), "app-store")
    (workload,) = store.workloads
    assert (workload.policy_type, workload.label, workload.writes) == ("app", "Apps", 3)
    assert workload.last_write == utc("2026-10-19T02:00:00")
    assert (workload.coverage, workload.gating_policies) == (
        Coverage.PROTECTED,
        (PolicyRef("p-app", "Apps"),),
    )
    assert (store.display_name, store.writes, store.last_write) == (
        "Store Publisher",
        3,
        utc("2026-10-19T02:00:00"),
    )
    assert store.last_sign_in == utc("2026-10-31T02:00:00")
    assert store.write_permissions == (APPS_WRITE,)
    assert (store.protection, store.excluded_from, store.declared_only) == (
        Protection.ALL,
        (),
        (),
    )
    assert store.maa == MaaEvidence(0, 0, 0)
    assert store.unverified == frozenset()


def test_blocked_rows_name_the_two_ways_out() -> None:
    helpdesk = row(verdict_tenant(), "app-helpdesk")
    exclude, flow = helpdesk.ways_out
    assert exclude.kind is WayOutKind.EXCLUDE
    assert exclude.commands == ("maa-guard review app-helpdesk",)
    assert exclude.summary == (
        "review it with 'maa-guard review app-helpdesk', then exclude it from: Device wipe"
    )
    assert flow.kind is WayOutKind.APPROVAL_FLOW
    assert flow.commands == ("maa_guard.approval", "maa-guard request submit")


def test_only_blocked_rows_have_ways_out() -> None:
    rows = report_of(verdict_tenant()).rows
    assert {r.app_id for r in rows if r.ways_out} == {"app-store", "app-helpdesk"}


def test_the_command_in_a_way_out_is_shell_quoted() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-app", "app")
    add_event(snap, "x; rm -rf ~", "Create MobileApp")
    (found,) = report_of(snap).rows
    assert found.ways_out[0].commands == ("maa-guard review 'x; rm -rf ~'",)


def test_device_actions_are_their_own_policy_types() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-retire", "deviceRetire", name="Retire")
    add_sp(snap, "app-d", permissions=(WIPE,))
    wipe(snap, "app-d", "2026-10-10T00:00:00Z")
    add_event(snap, "app-d", "Retire ManagedDevice", category="Device", operation="Action")
    add_event(snap, "app-d", "Sync ManagedDevice", category="Device", operation="Action")
    found = row(snap, "app-d")
    assert [(w.policy_type, w.label, w.writes, w.coverage.value) for w in found.workloads] == [
        ("deviceRetire", "Device action: retire", 1, "protected"),
        ("deviceWipe", "Device action: wipe", 1, "unprotected"),
        ("other", "Other Intune writes (no MAA policy type)", 1, "unprotected"),
    ]
    assert (found.verdict, found.protection) == (Verdict.WILL_BE_BLOCKED, Protection.PARTLY)


def test_a_device_action_policy_gates_every_device_action() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-all", "deviceAction", name="All device actions")
    add_sp(snap, "app-d", permissions=(WIPE,))
    wipe(snap, "app-d", "2026-10-10T00:00:00Z")
    assert row(snap, "app-d").workloads[0].gating_policies == (
        PolicyRef("p-all", "All device actions"),
    )


# ---- will-be-blocked against excluded ------------------------------------------------------


def test_excluded_from_one_of_two_gating_policies_is_still_blocked() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", name="Apps A", exclusions=["app-w"])
    add_policy(snap, "p-b", "app", name="Apps B")
    writer(snap)
    found = row(snap, "app-w")
    assert found.verdict is Verdict.WILL_BE_BLOCKED
    assert found.excluded_from == (PolicyRef("p-a", "Apps A"),)
    assert found.ways_out[0].summary.endswith("exclude it from: Apps B")


def test_excluded_from_every_gating_policy_is_excluded() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["app-w"])
    add_policy(snap, "p-b", "app", exclusions=[exclusion("APP-W", source="audit-log")])
    writer(snap)
    assert verdicts(snap) == {"app-w": "excluded"}


def test_exclusion_by_service_principal_object_id_counts() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["sp-app-w"])
    writer(snap)
    assert verdicts(snap) == {"app-w": "excluded"}


def test_a_declared_exclusion_alone_exempts_nothing() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", name="Apps")
    writer(snap)
    report = report_of(snap, [declared("Apps", "app-w")])
    (found,) = report.rows
    assert (found.verdict, found.excluded_from, found.declared_only) == (
        Verdict.WILL_BE_BLOCKED,
        (),
        (PolicyRef("p-a", "Apps"),),
    )


def test_excluded_and_unprotected_writes_together_are_excluded() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["app-w"])
    writer(snap)
    add_event(snap, "app-w", "Patch DeviceCompliancePolicy", category="Compliance")
    found = row(snap, "app-w")
    assert (found.verdict, found.protection) == (Verdict.EXCLUDED, Protection.PARTLY)


def test_only_unprotected_writes_are_unprotected_workload() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-s", "script")
    writer(snap)
    found = row(snap, "app-w")
    assert (found.verdict, found.protection) == (Verdict.UNPROTECTED_WORKLOAD, Protection.NONE)
    assert found.workloads[0].gating_policies == ()


def test_no_policy_at_all_makes_every_writer_unprotected() -> None:
    snap = new_snapshot()
    writer(snap)
    assert verdicts(snap) == {"app-w": "unprotected-workload"}
    assert report_of(snap).exit_code == 0


# ---- maa-aware -----------------------------------------------------------------------------


def test_a_completed_request_by_the_app_makes_it_aware() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    add_request(snap, "r1", "completed", requestor=app_id_set("app-w"))
    found = row(snap, "app-w")
    assert (found.verdict, found.maa, found.ways_out) == (
        Verdict.MAA_AWARE,
        MaaEvidence(completed_requests=1, resubmissions=0, other_requests=0),
        (),
    )


def test_a_request_naming_the_service_principal_object_id_counts() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    add_request(snap, "r1", "completed", requestor=app_id_set("SP-APP-W"))
    assert row(snap, "app-w").maa.completed_requests == 1


@pytest.mark.parametrize("status", ["needsApproval", "approved", "rejected", "expired"])
def test_a_request_that_did_not_complete_is_not_awareness(status: str) -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    add_request(snap, "r1", status, requestor=app_id_set("app-w"))
    found = row(snap, "app-w")
    assert (found.verdict, found.maa) == (Verdict.WILL_BE_BLOCKED, MaaEvidence(0, 0, 1))


def test_a_users_request_is_not_the_apps() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    both = {**user_id_set("u-1"), **app_id_set("app-w")}
    add_request(snap, "r1", "completed", requestor=both)
    assert row(snap, "app-w").verdict is Verdict.WILL_BE_BLOCKED


def test_a_resubmission_in_the_audit_log_makes_it_aware_and_is_not_a_write() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    resubmission(snap, "app-w", "code-1", "2026-09-01T00:00:00Z")  # before the window: still
    add_event(
        snap,
        "app-w",
        "Create OperationApprovalRequest",
        category="Role",
        resources=[{"resourceId": "code-2", "type": "OperationApprovalRequest"}],
    )
    found = row(snap, "app-w")
    assert (found.verdict, found.maa.resubmissions, found.writes) == (Verdict.MAA_AWARE, 1, 1)
    assert [w.policy_type for w in found.workloads] == ["app"]


def test_aware_but_excluded_stays_excluded() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["app-w"])
    writer(snap)
    add_request(snap, "r1", "completed", requestor=app_id_set("app-w"))
    found = row(snap, "app-w")
    assert (found.verdict, found.maa.aware) == (Verdict.EXCLUDED, True)


# ---- read-only, inactive and who is left out -----------------------------------------------


@pytest.mark.parametrize(
    ("last_sign_in", "expected"),
    [
        ("2026-10-02T08:00:00Z", "read-only"),  # the window's first instant
        ("2026-10-02T07:59:59Z", "inactive"),
        ("2026-11-01T08:00:01Z", "read-only"),  # after the window end: still signed in
        ("2020-01-01T00:00:00Z", "inactive"),
    ],
)
def test_read_only_and_inactive_split_at_the_window_start(last_sign_in: str, expected: str) -> None:
    snap = new_snapshot()
    add_sp(snap, "app-q", permissions=(APPS_WRITE,))
    add_sign_in(snap, "app-q", last_sign_in)
    assert verdicts(snap) == {"app-q": expected}


@pytest.mark.parametrize(
    "permissions",
    [
        ("DeviceManagementApps.Read.All",),
        ("Directory.ReadWrite.All", "Group.ReadWrite.All"),
        ("5b07b0dd-2377-4e44-a38d-703f09a0dc3c",),  # an unnamed app role
        (),
    ],
)
def test_without_intune_write_permissions_a_silent_app_is_left_out(
    permissions: tuple[str, ...],
) -> None:
    snap = new_snapshot()
    add_sp(snap, "app-q", permissions=permissions)
    add_sign_in(snap, "app-q", "2026-10-30T00:00:00Z")
    assert report_of(snap).rows == ()


def test_never_signed_in_is_left_out() -> None:
    snap = new_snapshot()
    add_sp(snap, "app-q", permissions=(APPS_WRITE,))
    add_sign_in(snap, "app-q", None)
    assert report_of(snap).rows == ()


def test_intune_write_permissions() -> None:
    granted = (
        "DeviceManagementApps.ReadWrite.All",
        "DeviceManagementApps.Read.All",
        "devicemanagementrbac.readwrite.all",
        "DeviceManagementManagedDevices.PrivilegedOperations.All",
        "DeviceManagementScripts.ReadWrite.All",
        "Directory.ReadWrite.All",
        "DeviceManagementApps.ReadWrite.All.Extra",
    )
    assert intune_write_permissions(granted) == (
        "DeviceManagementApps.ReadWrite.All",
        "devicemanagementrbac.readwrite.all",
        "DeviceManagementManagedDevices.PrivilegedOperations.All",
        "DeviceManagementScripts.ReadWrite.All",
    )


def test_the_fixture_leaves_out_exactly_the_apps_it_should() -> None:
    listed = {r.app_id for r in report_of(verdict_tenant()).rows}
    assert listed.isdisjoint({"app-read-perms", "app-never", "portal-app", "app-old", "app-reads"})


def test_writes_outside_the_window_or_by_users_do_not_count() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    add_sp(snap, "app-w", permissions=(APPS_WRITE,))
    add_sign_in(snap, "app-w", "2026-10-30T00:00:00Z")
    add_event(snap, "app-w", "Create MobileApp", when="2026-10-02T07:59:59Z")
    add_event(snap, "app-w", "Create MobileApp", upn="admin@contoso-test.example")
    add_event(snap, "app-w", "Get MobileApp", operation="Get")
    found = row(snap, "app-w")
    assert (found.verdict, found.writes) == (Verdict.READ_ONLY, 0)


def test_an_appid_in_two_cases_is_one_app() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    add_sp(snap, "app-w", name="Writer")
    add_event(snap, "APP-W", "Create MobileApp", when="2026-10-10T00:00:00Z")
    add_event(snap, "app-w", "Patch MobileApp", when="2026-10-11T00:00:00Z")
    (found,) = report_of(snap).rows
    assert (found.app_id, found.display_name, found.writes) == ("app-w", "Writer", 2)
    assert found.last_write == utc("2026-10-11T00:00:00")


def test_an_app_without_a_service_principal_takes_the_audit_name() -> None:
    snap = new_snapshot()
    add_event(snap, "app-ghost", "Create MobileApp")
    snap["audit_events"][-1]["actor"]["applicationDisplayName"] = "Ghost Tool"
    (found,) = report_of(snap).rows
    assert (found.app_id, found.label, found.write_permissions) == ("app-ghost", "Ghost Tool", ())


def test_approval_failures_are_counted_per_workload() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    add_event(
        snap, "app-w", "Patch MobileApp", activity="Patch MobileApp (approval required)",
        result="Failure",
    )  # fmt: skip
    found = row(snap, "app-w")
    assert (found.writes, found.approval_failures, found.workloads[0].approval_failures) == (
        2,
        1,
        1,
    )


# ---- sorting -------------------------------------------------------------------------------


def test_within_a_verdict_more_writes_then_later_activity_then_name() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    for app_id, name, count, day in (
        ("a1", "Zeta", 1, "10"),
        ("a2", "alpha", 1, "10"),
        ("a3", "Beta", 1, "20"),
        ("a4", "Gamma", 2, "05"),
    ):
        add_sp(snap, app_id, name=name)
        for _ in range(count):
            add_event(snap, app_id, "Create MobileApp", when=f"2026-10-{day}T00:00:00Z")
    assert [r.label for r in report_of(snap).rows] == ["Gamma", "Beta", "alpha", "Zeta"]


# ---- incomplete sources --------------------------------------------------------------------


def test_a_complete_report_exits_0_without_blocked_apps() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["app-w"])
    writer(snap)
    report = report_of(snap)
    assert (report.complete, report.exit_code) == (True, 0)


@pytest.mark.parametrize(
    ("source", "columns"),
    [
        ("audit_events", {"workloads", "writes", "last_write", "maa_aware", "verdict"}),
        ("access_policies", {"workloads", "protected", "excluded", "verdict"}),
        ("exclusions", {"excluded", "verdict"}),
        ("approval_requests", {"maa_aware", "verdict"}),
        ("service_principals", {"write_permissions"}),
        ("sign_in_activity", {"last_app_only_sign_in"}),
    ],
)
def test_an_incomplete_source_marks_exactly_its_columns(source: str, columns: set[str]) -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app", exclusions=["app-w"])
    writer(snap)
    set_source(snap, source, "failed", reason="HTTP 403", missing_permission="X.Read.All")
    report = report_of(snap)
    (found,) = report.rows
    assert {c.value for c in found.unverified} == columns
    assert (report.complete, report.exit_code) == (False, 3)
    assert list(report.incomplete_sources) == [source]


@pytest.mark.parametrize("source", ["sign_in_activity", "service_principals", "audit_events"])
def test_a_verdict_from_permissions_rests_on_the_sign_ins(source: str) -> None:
    snap = new_snapshot()
    add_sp(snap, "app-q", permissions=(APPS_WRITE,))
    add_sign_in(snap, "app-q", "2026-10-30T00:00:00Z")
    set_source(snap, source, "partial", reason="throttled")
    (found,) = report_of(snap).rows
    assert found.is_unverified(Column.VERDICT)


def test_a_source_missing_from_the_snapshot_counts_as_failed() -> None:
    snap = new_snapshot()
    del snap["sources"]["sign_in_activity"]
    report = report_of(snap)
    assert report.incomplete_sources["sign_in_activity"].reason == "not recorded in the snapshot"
    assert report.exit_code == 3


def test_blocked_and_incomplete_exits_1() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)
    set_source(snap, "sign_in_activity", "failed")
    assert report_of(snap).exit_code == 1


def test_sources_outside_the_report_do_not_make_it_incomplete() -> None:
    snap = new_snapshot()
    set_source(snap, "conditional_access", "failed")
    set_source(snap, "groups", "partial")
    assert (report_of(snap).complete, report_of(snap).exit_code) == (True, 0)


# ---- the window ----------------------------------------------------------------------------


def test_narrowing_the_window_drops_older_writes() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-a", "app")
    writer(snap)  # 2026-10-20T10:00Z, 12 days before the end
    parsed = parse_snapshot(snap)
    narrowed = narrow_window(parsed, 7)
    assert narrowed.window.start == utc("2026-10-25T08:00:00")
    assert narrow_window(parsed, None) is parsed


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (31, "--days 31 is longer than the snapshot's audit window (30 days)"),
        (0, "--days must be at least 1"),
        (10**12, "--days 1000000000000 is longer than the snapshot's audit window (30 days)"),
    ],
)
def test_the_window_cannot_be_widened_or_emptied(days: int, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        narrow_window(parse_snapshot(new_snapshot()), days)
    assert caught.value.message == message
    assert caught.value.exit_code == 2


def test_every_verdict_has_a_definition_and_an_action() -> None:
    for verdict in Verdict:
        assert verdict.definition and verdict.action
    assert [v.rank for v in Verdict] == list(range(6))


# ---- MAA's own events, and changes to access policies ---------------------------------------


def test_maa_own_events_are_not_writes_and_access_policy_changes_are_always_protected() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-app", "app", exclusions=["app-policy"])
    add_sp(
        snap, "app-policy", name="Policy Bot", permissions=("DeviceManagementRBAC.ReadWrite.All",)
    )
    policy = [{"resourceId": "p-app", "type": "OperationApprovalPolicy"}]
    add_event(
        snap, "app-policy", "Patch OperationApprovalPolicy", category="Role", resources=policy
    )
    app = {"resourceId": "app-other", "type": "ServicePrincipal"}
    add_event(
        snap,
        "app-policy",
        "Add OperationApprovalPolicyExclusion",
        category="Role",
        activity="Add exclusion to access policy",
        resources=[*policy, app],
    )
    request = [{"resourceId": "req-1", "type": "OperationApprovalRequest"}]
    add_event(
        snap, "app-filer", "Create OperationApprovalRequest", category="Role", resources=request
    )

    found = row(snap, "app-policy")
    assert found.verdict is Verdict.WILL_BE_BLOCKED
    (workload,) = found.workloads
    assert (workload.policy_type, workload.label, workload.writes, workload.coverage) == (
        "operationApprovalPolicy",
        "MAA access policies (always protected)",
        1,
        Coverage.PROTECTED,
    )
    assert workload.gating_policies == ()
    assert [way.kind for way in found.ways_out] == [WayOutKind.APPROVAL_FLOW]
    assert "app-filer" not in verdicts(snap)
