"""MAA101-MAA103: which workloads the access policies protect."""

from __future__ import annotations

from builders import (
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    TENANT_ID,
    add_policy,
    finding,
    new_snapshot,
    scan,
    set_source,
    statuses,
    with_params,
)

from maa_guard.model import Severity

ALL_WORKLOADS = (
    "app",
    "script",
    "role",
    "deviceActions",
    "compliancePolicy",
    "configurationPolicy",
    "tenantConfiguration",
)


# ---- MAA101 unprotected-workload ------------------------------------------------------------


def test_maa101_one_finding_per_workload_in_an_empty_tenant() -> None:
    result = scan(new_snapshot())

    assert statuses(result, "MAA101") == dict.fromkeys(ALL_WORKLOADS, FAIL)
    app = finding(result, "MAA101", "app")
    assert app.resource.type == "workload"
    assert app.message == "no access policy protects apps"
    assert app.evidence["protected_by_types"] == ["app"]


def test_maa101_severity_is_high_only_for_high_severity_workloads() -> None:
    result = scan(new_snapshot())

    severities = {f.resource.id: f.severity for f in result.findings if f.rule_id == "MAA101"}
    assert severities == {
        "app": Severity.MEDIUM,
        "script": Severity.HIGH,
        "role": Severity.HIGH,
        "deviceActions": Severity.HIGH,
        "compliancePolicy": Severity.MEDIUM,
        "configurationPolicy": Severity.MEDIUM,
        "tenantConfiguration": Severity.MEDIUM,
    }


def test_maa101_high_severity_workloads_parameter_is_honoured() -> None:
    result = scan(new_snapshot(), with_params("MAA101", high_severity_workloads=["app"]))

    assert finding(result, "MAA101", "app").severity is Severity.HIGH
    assert finding(result, "MAA101", "role").severity is Severity.MEDIUM


def test_maa101_protected_and_unprotected_workloads() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-app", "app")
    add_policy(snap, "p-scripts", "scripts")  # the older plural spelling of the enum
    add_policy(snap, "p-role", "role")
    add_policy(snap, "p-future", "windows365")  # an enum value no workload knows: protects nothing

    result = scan(snap)

    assert statuses(result, "MAA101") == {
        "app": PASS,
        "script": PASS,
        "role": PASS,
        "deviceActions": FAIL,
        "compliancePolicy": FAIL,
        "configurationPolicy": FAIL,
        "tenantConfiguration": FAIL,
    }
    app = finding(result, "MAA101", "app")
    assert app.message == "Apps: protected by 1 access policy"
    assert app.evidence["policies"] == [
        {"id": "p-app", "displayName": "app policy p-app", "policyType": "app"}
    ]


def test_maa101_device_actions_covered_by_the_deviceaction_umbrella() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-devices", "deviceAction")

    assert statuses(scan(snap), "MAA101")["deviceActions"] is PASS


def test_maa101_device_actions_covered_by_all_three_specific_policies() -> None:
    snap = new_snapshot()
    for kind in ("deviceWipe", "deviceRetire", "deviceDelete"):
        add_policy(snap, f"p-{kind}", kind)

    result = scan(snap)

    assert statuses(result, "MAA101")["deviceActions"] is PASS
    assert finding(result, "MAA101", "deviceActions").message == (
        "Device actions (wipe, retire, delete): protected by 3 access policies"
    )


def test_maa101_device_actions_partly_covered_names_the_missing_types() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-wipe", "deviceWipe")

    result = scan(snap)

    device = finding(result, "MAA101", "deviceActions")
    assert device.status is FAIL
    assert device.message == "no access policy protects deviceRetire, deviceDelete"
    assert device.evidence["unprotected_types"] == ["deviceRetire", "deviceDelete"]
    assert device.severity is Severity.HIGH


def test_maa101_incomplete_access_policies_is_one_error_never_pass() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-app", "app")
    set_source(
        snap,
        "access_policies",
        "failed",
        reason="403 Forbidden",
        missing_permission="DeviceManagementRBAC.Read.All",
    )

    result = scan(snap)

    assert statuses(result, "MAA101") == {TENANT_ID: ERROR}
    error = finding(result, "MAA101", TENANT_ID)
    assert error.resource.type == "tenant"
    assert error.message == (
        "could not verify: access_policies is failed (403 Forbidden); "
        "missing permission DeviceManagementRBAC.Read.All"
    )
    assert error.evidence == {"sources": ["access_policies"]}


# ---- MAA102 single-platform-app-policy -----------------------------------------------------


def test_maa102_windows_only_app_policy_fails() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-win", "app", platform="windows10AndLater")

    result = scan(snap)

    assert statuses(result, "MAA102") == {"app": FAIL}
    app = finding(result, "MAA102", "app")
    assert app.message == "app access policies cover only Windows platforms"
    assert app.evidence["platforms"] == ["windows10AndLater"]


def test_maa102_non_windows_only_app_policies_fail() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-ios", "app", platform="iOSiPadOS")
    add_policy(snap, "p-android", "app", platform="androidEnterprise")

    result = scan(snap)

    assert statuses(result, "MAA102") == {"app": FAIL}
    assert finding(result, "MAA102", "app").message == (
        "app access policies cover only non-Windows platforms"
    )
    assert finding(result, "MAA102", "app").evidence["platforms"] == [
        "androidEnterprise",
        "iOSiPadOS",
    ]


def test_maa102_union_of_windows_and_non_windows_policies_passes() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-win", "app", platform="windows10AndLater")
    add_policy(snap, "p-mac", "app", platform="macOS")
    add_policy(snap, "p-script", "script", platform="windows10AndLater")  # not an app policy

    result = scan(snap)

    assert statuses(result, "MAA102") == {"app": PASS}
    assert [p["id"] for p in finding(result, "MAA102", "app").evidence["policies"]] == [
        "p-win",
        "p-mac",
    ]


def test_maa102_not_applicable_platform_covers_everything() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-all", "app", platform="notApplicable")

    assert statuses(scan(snap), "MAA102") == {"app": PASS}


def test_maa102_comma_joined_flags_value_is_split() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-flags", "app", platform="windows10AndLater, iOSiPadOS")

    result = scan(snap)

    assert statuses(result, "MAA102") == {"app": PASS}
    assert finding(result, "MAA102", "app").evidence["platforms"] == [
        "iOSiPadOS",
        "windows10AndLater",
    ]


def test_maa102_skipped_without_app_policies() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-role", "role")

    result = scan(snap)

    assert statuses(result, "MAA102") == {"app": SKIPPED}
    assert finding(result, "MAA102", "app").message == ("no app access policy exists (see MAA101)")


# ---- MAA103 policy-without-approvers -------------------------------------------------------


def test_maa103_policy_without_approver_groups_fails_and_others_pass() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-empty", "compliancePolicy", approvers=[])
    add_policy(snap, "p-ok", "app", approvers=["grp-a", "grp-b"])

    result = scan(snap)

    assert statuses(result, "MAA103") == {"p-empty": FAIL, "p-ok": PASS}
    assert finding(result, "MAA103", "p-empty").message == "the access policy has no approver group"
    assert finding(result, "MAA103", "p-ok").evidence == {"approverGroupIds": ["grp-a", "grp-b"]}


def test_maa103_skipped_when_there_are_no_policies() -> None:
    result = scan(new_snapshot())

    assert statuses(result, "MAA103") == {TENANT_ID: SKIPPED}
