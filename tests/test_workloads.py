"""maa_guard.workloads: which policy types protect what, and what an audit event wrote to."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from maa_guard.snapshot import AccessPolicy, AuditActor, AuditEvent, AuditResource
from maa_guard.workloads import (
    WORKLOADS_BY_NAME,
    classify_event,
    is_approval_failure,
    is_write,
    policies_protecting,
    unprotected_device_actions,
)


def event(
    activity_type: str,
    *,
    category: str = "",
    operation: str | None = None,
    activity: str | None = None,
    result: str = "Success",
    component: str = "",
    resource_types: tuple[str, ...] = (),
) -> AuditEvent:
    return AuditEvent(
        id="evt-1",
        activity_date_time=datetime(2026, 10, 20, tzinfo=timezone.utc),
        actor=AuditActor(application_id="app-1"),
        activity=activity if activity is not None else activity_type,
        activity_type=activity_type,
        activity_operation_type=operation
        if operation is not None
        else activity_type.split(" ", 1)[0],
        activity_result=result,
        category=category,
        component_name=component,
        resources=tuple(AuditResource(resource_id="r-1", type=t) for t in resource_types),
    )


def policy(policy_type: str) -> AccessPolicy:
    return AccessPolicy(
        id=f"p-{policy_type}",
        display_name=policy_type,
        policy_type=policy_type,
        approver_group_ids=("g-1",),
    )


def classified(e: AuditEvent) -> tuple[str, set[str]] | None:
    found = classify_event(e)
    return None if found is None else (found[0].name, set(found[1]))


# ---- classify_event ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activity_type", "category", "expected"),
    [
        ("Wipe ManagedDevice", "Device", ("deviceActions", {"deviceWipe", "deviceAction"})),
        ("Retire ManagedDevice", "Device", ("deviceActions", {"deviceRetire", "deviceAction"})),
        ("Delete ManagedDevice", "Device", ("deviceActions", {"deviceDelete", "deviceAction"})),
        ("wipe", "Device", ("deviceActions", {"deviceWipe", "deviceAction"})),
        ("Create MobileApp", "Application", ("app", {"app"})),
        ("Assign MobileApp", "Application", ("app", {"app"})),
        (
            "Patch DeviceConfiguration",
            "DeviceConfiguration",
            ("configurationPolicy", {"configurationPolicy"}),
        ),
        (
            "Patch DeviceManagementConfigurationPolicy",
            "DeviceConfiguration",
            ("configurationPolicy", {"configurationPolicy"}),
        ),
        ("Create DeviceManagementScript", "DeviceConfiguration", ("script", {"script", "scripts"})),
        ("Patch DeviceHealthScript", "DeviceConfiguration", ("script", {"script", "scripts"})),
        ("Create DeviceShellScript", "DeviceConfiguration", ("script", {"script", "scripts"})),
        ("Create DeviceCompliancePolicy", "Compliance", ("compliancePolicy", {"compliancePolicy"})),
        ("Create RoleAssignment", "Role", ("role", {"role"})),
        ("Patch RoleScopeTag", "Role", ("role", {"role"})),
        (
            "Create DeviceCategory",
            "DeviceConfiguration",
            ("tenantConfiguration", {"tenantConfiguration"}),
        ),
    ],
)
def test_classify_event(activity_type: str, category: str, expected: tuple[str, set[str]]) -> None:
    assert classified(event(activity_type, category=category)) == expected


@pytest.mark.parametrize(
    ("activity_type", "category"),
    [
        ("Sync ManagedDevice", "Device"),
        ("Patch ManagedDevice", "Device"),
        ("Create ImportedWindowsAutopilotDeviceIdentity", "Enrollment"),
        ("Patch DeviceEnrollmentConfiguration", "Enrollment"),
    ],
)
def test_events_outside_any_workload_are_not_classified(activity_type: str, category: str) -> None:
    assert classify_event(event(activity_type, category=category)) is None


def test_device_action_needs_a_managed_device_or_the_device_category() -> None:
    assert classify_event(event("Delete Widget", category="Other")) is None
    assert classified(event("Delete", category="device")) == (
        "deviceActions",
        {"deviceDelete", "deviceAction"},
    )


def test_resource_types_help_classify_an_event() -> None:
    assert classified(event("Create", category="Other", resource_types=("MobileApp",))) == (
        "app",
        {"app"},
    )


def test_script_keywords_win_over_the_configuration_category() -> None:
    e = event("Patch DeviceManagementScript", category="DeviceConfiguration")

    assert classified(e) == ("script", {"script", "scripts"})


# ---- is_write ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        "Create",
        "Patch",
        "Update",
        "Delete",
        "Action",
        "Assign",
        "POST",
        "put",
        " Set ",
        "Remove",
        "Add",
    ],
)
def test_write_operations(operation: str) -> None:
    assert is_write(event("Something", operation=operation))


@pytest.mark.parametrize("operation", ["Get", "List", "Read", "Export"])
def test_read_operations(operation: str) -> None:
    assert not is_write(event("Something", operation=operation))


def test_without_an_operation_type_the_activity_verb_decides() -> None:
    assert is_write(event("x", operation="", activity="Delete ManagedDevice"))
    assert not is_write(event("x", operation="", activity="Export report"))
    assert not is_write(event("x", operation="", activity=""))


def test_operation_type_wins_over_the_activity_verb() -> None:
    assert not is_write(event("x", operation="Get", activity="Delete ManagedDevice"))


# ---- is_approval_failure -------------------------------------------------------------------


def test_failed_write_mentioning_approval_is_an_approval_failure() -> None:
    assert is_approval_failure(
        event(
            "Patch DeviceConfiguration",
            result="Failure",
            activity="Patch DeviceConfiguration (approval required)",
        )
    )
    assert is_approval_failure(
        event("Wipe ManagedDevice", result="Failure", component="MultiAdminApproval")
    )
    assert is_approval_failure(event("Patch MobileApp", result="ApprovalRequired"))


@pytest.mark.parametrize("result", ["Success", "success", " Succeeded ", "Successful"])
def test_successful_events_are_never_approval_failures(result: str) -> None:
    assert not is_approval_failure(event("Patch OperationApprovalPolicy", result=result))


def test_failure_without_approval_is_not_an_approval_failure() -> None:
    assert not is_approval_failure(event("Patch DeviceConfiguration", result="Failure"))


# ---- unprotected_device_actions and policies_protecting ------------------------------------


def test_unprotected_device_actions() -> None:
    assert unprotected_device_actions([]) == ["deviceWipe", "deviceRetire", "deviceDelete"]
    assert unprotected_device_actions([policy("deviceWipe"), policy("app")]) == [
        "deviceRetire",
        "deviceDelete",
    ]
    assert (
        unprotected_device_actions(
            [policy("deviceWipe"), policy("deviceRetire"), policy("deviceDelete")]
        )
        == []
    )
    assert unprotected_device_actions([policy("deviceAction")]) == []


def test_policies_protecting_a_workload() -> None:
    policies = [
        policy("script"),
        policy("scripts"),
        policy("app"),
        policy("deviceAction"),
        policy("deviceWipe"),
        policy("unknownFutureValue"),
    ]

    assert [p.id for p in policies_protecting(WORKLOADS_BY_NAME["script"], policies)] == [
        "p-script",
        "p-scripts",
    ]
    assert [p.id for p in policies_protecting(WORKLOADS_BY_NAME["deviceActions"], policies)] == [
        "p-deviceAction",
        "p-deviceWipe",
    ]
    assert policies_protecting(WORKLOADS_BY_NAME["tenantConfiguration"], policies) == []


# ---- MAA's own events and access-policy changes ----------------------------------------------


@pytest.mark.parametrize(
    ("e", "maa_event", "write", "resubmission"),
    [
        (event("Create OperationApprovalRequest", category="Role"), True, False, False),
        (event("Approve OperationApprovalRequest", category="Role"), True, False, False),
        (event("Complete OperationApprovalRequest", category="Role"), True, False, True),
        (event("Pass OperationApprovalRequest", category="Role"), True, False, False),
        (
            event(
                "Add OperationApprovalPolicyExclusion",
                activity="Add exclusion to access policy",
                resource_types=("OperationApprovalPolicy", "ServicePrincipal"),
            ),
            True,
            False,
            False,
        ),
        (event("Patch OperationApprovalPolicy", category="Role"), False, True, False),
        (event("Create MobileApp", category="Application"), False, True, False),
    ],
)
def test_maa_own_events_are_not_writes(
    e: AuditEvent, maa_event: bool, write: bool, resubmission: bool
) -> None:
    from maa_guard.workloads import is_maa_event, is_resubmission

    assert (is_maa_event(e), is_write(e), is_resubmission(e)) == (maa_event, write, resubmission)


def test_an_access_policy_change_is_its_own_always_protected_workload() -> None:
    found = classified(event("Patch OperationApprovalPolicy", category="Role"))
    assert found == ("operationApprovalPolicy", {"operationApprovalPolicy"})
