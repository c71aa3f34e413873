"""MAA501-MAA502: app-only automation that MAA blocks or will block, from the audit log."""

from __future__ import annotations

from builders import (
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    TENANT_ID,
    Json,
    add_event,
    add_policy,
    add_request,
    add_sp,
    app_id_set,
    declared,
    declaring,
    exclusion,
    finding,
    new_snapshot,
    scan,
    set_source,
    statuses,
)


def tenant(*policies: tuple[str, str, list[Json | str]]) -> Json:
    """Policies as (id, policyType, excluded appIds)."""
    snap = new_snapshot()
    for policy_id, policy_type, excluded in policies:
        add_policy(snap, policy_id, policy_type, exclusions=excluded)
    return snap


def wipe(snap: Json, app_id: str, when: str = "2026-10-20T10:00:00Z") -> None:
    add_event(snap, app_id, "Wipe ManagedDevice", category="Device", operation="Action", when=when)


# ---- MAA501 automation-blocked-by-maa ------------------------------------------------------


def test_maa501_excluded_writer_passes_and_unexcluded_writer_fails() -> None:
    snap = tenant(("p-app", "app", ["app-excluded"]))
    add_sp(snap, "app-excluded", name="Patch My PC Cloud")
    for app_id in ("app-excluded", "app-blocked"):
        add_event(snap, app_id, "Create MobileApp", when="2026-10-05T02:00:00Z")
        add_event(snap, app_id, "Assign MobileApp", when="2026-10-06T02:00:00Z")

    result = scan(snap)

    assert statuses(result, "MAA501") == {"app-excluded": PASS, "app-blocked": FAIL}
    blocked = finding(result, "MAA501", "app-blocked")
    assert blocked.message == "app-only writes to protected workloads now need approval: app"
    assert blocked.evidence == {
        "blocked_workloads": {"app": {"writes": 2, "last_write": "2026-10-06T02:00:00Z"}},
        "total_writes": 2,
    }
    excluded = finding(result, "MAA501", "app-excluded")
    assert excluded.resource.display_name == "Patch My PC Cloud"
    assert excluded.evidence == {"blocked_workloads": {}, "total_writes": 2}


def test_maa501_writes_to_unprotected_or_unknown_workloads_pass() -> None:
    snap = tenant(("p-app", "app", []))
    add_event(snap, "app-config", "Patch DeviceConfiguration", category="DeviceConfiguration")
    add_event(
        snap,
        "app-autopilot",
        "Create ImportedWindowsAutopilotDeviceIdentity",
        category="Enrollment",
    )

    result = scan(snap)

    assert statuses(result, "MAA501") == {"app-config": PASS, "app-autopilot": PASS}


def test_maa501_device_wipe_is_gated_by_devicewipe_or_the_deviceaction_umbrella() -> None:
    snap = tenant(("p-wipe", "deviceWipe", []))
    wipe(snap, "app-1")
    only_retire = tenant(("p-retire", "deviceRetire", []))
    wipe(only_retire, "app-1")
    umbrella = tenant(("p-devices", "deviceAction", []))
    wipe(umbrella, "app-1")

    assert statuses(scan(snap), "MAA501") == {"app-1": FAIL}
    assert statuses(scan(only_retire), "MAA501") == {"app-1": PASS}
    result = scan(umbrella)
    assert statuses(result, "MAA501") == {"app-1": FAIL}
    assert set(finding(result, "MAA501", "app-1").evidence["blocked_workloads"]) == {
        "deviceActions"
    }


def test_maa501_exclusion_must_cover_every_policy_gating_the_write() -> None:
    both = tenant(("p-wipe", "deviceWipe", ["app-1"]), ("p-devices", "deviceAction", []))
    wipe(both, "app-1")
    all_excluded = tenant(
        ("p-wipe", "deviceWipe", ["app-1"]), ("p-devices", "deviceAction", ["app-1"])
    )
    wipe(all_excluded, "app-1")

    assert statuses(scan(both), "MAA501") == {"app-1": FAIL}
    assert statuses(scan(all_excluded), "MAA501") == {"app-1": PASS}


def test_maa501_audit_log_exclusion_exempts_a_declaration_alone_does_not() -> None:
    snap = tenant(("p-app", "app", [exclusion("app-audit", "audit-log")]))
    add_event(snap, "app-audit", "Patch MobileApp")
    add_event(snap, "app-declared", "Patch MobileApp")

    result = scan(snap, declaring(declared("p-app", "app-declared")))

    assert statuses(result, "MAA501") == {"app-audit": PASS, "app-declared": FAIL}


def test_maa501_lists_each_blocked_workload() -> None:
    snap = tenant(
        ("p-app", "app", []), ("p-script", "script", []), ("p-config", "configurationPolicy", [])
    )
    add_event(snap, "app-1", "Patch MobileApp", when="2026-10-10T00:00:00Z")
    add_event(
        snap,
        "app-1",
        "Create DeviceManagementScript",
        category="DeviceConfiguration",
        when="2026-10-11T00:00:00Z",
    )
    add_event(snap, "app-1", "Sync ManagedDevice", category="Device", operation="Action")

    result = scan(snap)

    blocked = finding(result, "MAA501", "app-1")
    assert blocked.message == (
        "app-only writes to protected workloads now need approval: app, script"
    )
    assert blocked.evidence["total_writes"] == 3


def test_maa501_ignores_delegated_out_of_window_and_non_write_events() -> None:
    snap = tenant(("p-app", "app", []))
    add_event(snap, "portal-app", "Create MobileApp", upn="admin@contoso-test.example")
    add_event(snap, "app-old", "Create MobileApp", when="2026-10-02T07:59:59Z")
    add_event(snap, "app-future", "Create MobileApp", when="2026-11-01T08:00:01Z")
    add_event(snap, "app-read", "Get MobileApp", operation="Get")

    result = scan(snap)

    assert statuses(result, "MAA501") == {TENANT_ID: SKIPPED}
    assert finding(result, "MAA501", TENANT_ID).message == (
        "no app-only writes to Intune in the audit window"
    )
    assert statuses(result, "MAA502") == {TENANT_ID: SKIPPED}


def test_maa501_window_bounds_are_inclusive() -> None:
    snap = tenant(("p-app", "app", []))
    add_event(snap, "app-start", "Create MobileApp", when="2026-10-02T08:00:00Z")
    add_event(snap, "app-end", "Create MobileApp", when="2026-11-01T08:00:00Z")

    assert statuses(scan(snap), "MAA501") == {"app-start": FAIL, "app-end": FAIL}


def test_maa501_errors_when_the_audit_log_is_incomplete() -> None:
    snap = tenant(("p-app", "app", []))
    add_event(snap, "app-1", "Create MobileApp")
    set_source(
        snap,
        "audit_events",
        "partial",
        reason="stopped after 429 responses",
        missing_permission=None,
    )

    result = scan(snap)

    assert statuses(result, "MAA501") == {TENANT_ID: ERROR}
    assert statuses(result, "MAA502") == {TENANT_ID: ERROR}
    assert finding(result, "MAA502", TENANT_ID).message == (
        "could not verify: audit_events is partial (stopped after 429 responses)"
    )


def maa_request_events(snap: Json, app_id: str, request_id: str = "req-1") -> None:
    """What MAA records when an app files a request, it is approved, and the app resubmits."""
    request = [{"resourceId": request_id, "type": "OperationApprovalRequest"}]
    for activity, activity_type in (
        ("MAA block: approval request filed", "Create OperationApprovalRequest"),
        ("MAA: approved change applied", "Complete OperationApprovalRequest"),
    ):
        add_event(
            snap, app_id, activity_type, category="Role", activity=activity, resources=request
        )
    policy = {"resourceId": "p-app", "type": "OperationApprovalPolicy"}
    app = {"resourceId": "app-other", "type": "ServicePrincipal"}
    for verb in ("Add", "Remove"):
        add_event(
            snap,
            app_id,
            f"{verb} OperationApprovalPolicyExclusion",
            category="Role",
            activity=f"{verb} exclusion to access policy",
            resources=[policy, app],
        )


def test_maa501_maa_own_events_are_not_writes() -> None:
    """A filed, completed request and exclusion add/remove events by an app write nothing."""
    snap = tenant(("p-app", "app", []), ("p-role", "role", []))
    maa_request_events(snap, "app-1")

    result = scan(snap)

    assert statuses(result, "MAA501") == {TENANT_ID: SKIPPED}
    assert statuses(result, "MAA502") == {TENANT_ID: SKIPPED}


def test_maa501_an_app_using_the_approval_flow_passes() -> None:
    snap = tenant(("p-app", "app", []))
    add_event(snap, "app-flow", "Patch MobileApp", when="2026-10-10T00:00:00Z")
    maa_request_events(snap, "app-flow")
    add_event(snap, "app-filed", "Patch MobileApp", when="2026-10-10T00:00:00Z")
    add_request(snap, "req-2", requestor=app_id_set("app-filed"))
    add_event(snap, "app-blocked", "Patch MobileApp", when="2026-10-10T00:00:00Z")
    add_request(snap, "req-3", "needsApproval", requestor=app_id_set("app-blocked"))

    result = scan(snap)

    assert statuses(result, "MAA501") == {
        "app-flow": PASS,
        "app-filed": PASS,
        "app-blocked": FAIL,
    }
    flow = finding(result, "MAA501", "app-flow")
    assert flow.message == (
        "its writes to protected workloads go through the approval flow: "
        "0 completed request(s), 1 resubmission(s) with an approval code"
    )
    assert flow.evidence == {
        "blocked_workloads": {},
        "approval_flow": {
            "completed_requests": 0,
            "resubmissions": 1,
            "workloads": {"app": {"writes": 1, "last_write": "2026-10-10T00:00:00Z"}},
        },
        "total_writes": 1,
    }
    assert finding(result, "MAA501", "app-filed").evidence["approval_flow"] == {
        "completed_requests": 1,
        "resubmissions": 0,
        "workloads": {"app": {"writes": 1, "last_write": "2026-10-10T00:00:00Z"}},
    }


def test_maa501_an_access_policy_change_is_always_gated() -> None:
    """MAA protects access policies itself: no policy type to choose, no exclusion exempts."""
    snap = tenant(("p-app", "app", ["app-1"]))
    policy = [{"resourceId": "p-app", "type": "OperationApprovalPolicy"}]
    add_event(snap, "app-1", "Patch OperationApprovalPolicy", category="Role", resources=policy)

    result = scan(snap)

    blocked = finding(result, "MAA501", "app-1")
    assert blocked.message == (
        "app-only writes to protected workloads now need approval: operationApprovalPolicy"
    )
    assert blocked.evidence["blocked_workloads"] == {
        "operationApprovalPolicy": {"writes": 1, "last_write": "2026-10-20T10:00:00Z"}
    }


# ---- MAA502 automation-failing-approval ----------------------------------------------------


def test_maa502_approval_failures_fail_other_failures_do_not() -> None:
    snap = tenant(("p-config", "configurationPolicy", []))
    add_event(
        snap,
        "app-pipeline",
        "Patch DeviceConfiguration",
        category="DeviceConfiguration",
        when="2026-10-15T06:00:00Z",
    )
    add_event(
        snap,
        "app-pipeline",
        "Patch DeviceConfiguration",
        category="DeviceConfiguration",
        result="Failure",
        activity="Patch DeviceConfiguration (approval required)",
        when="2026-10-22T06:00:00Z",
    )
    add_event(
        snap,
        "app-pipeline",
        "Patch DeviceManagementConfigurationPolicy",
        category="DeviceConfiguration",
        result="Failure",
        activity="Patch DeviceManagementConfigurationPolicy (approval required)",
        when="2026-10-29T14:05:31Z",
    )
    add_event(
        snap,
        "app-flaky",
        "Patch DeviceConfiguration",
        category="DeviceConfiguration",
        result="Failure",
    )  # failed, but not for want of approval
    add_event(snap, "app-ok", "Create MobileApp")

    result = scan(snap)

    assert statuses(result, "MAA502") == {"app-pipeline": FAIL, "app-flaky": PASS, "app-ok": PASS}
    pipeline = finding(result, "MAA502", "app-pipeline")
    assert pipeline.message == "2 app-only write(s) blocked or failed for want of approval"
    assert pipeline.evidence == {
        "failures": 2,
        "last_failure": "2026-10-29T14:05:31Z",
        "last_activity": "Patch DeviceManagementConfigurationPolicy (approval required)",
    }
    assert finding(result, "MAA502", "app-ok").evidence == {"failures": 0}


def test_maa502_needs_only_the_audit_log() -> None:
    snap = tenant()
    add_event(
        snap,
        "app-1",
        "Patch MobileApp",
        result="Failure",
        activity="Patch MobileApp - approval required",
    )
    set_source(
        snap, "access_policies", "failed", missing_permission="DeviceManagementRBAC.Read.All"
    )

    result = scan(snap)

    assert statuses(result, "MAA502") == {"app-1": FAIL}
    assert statuses(result, "MAA501") == {TENANT_ID: ERROR}
