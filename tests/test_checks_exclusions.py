"""MAA401-MAA409: the apps excluded from MAA, from every source that names them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from builders import (
    ERROR,
    FAIL,
    OTHER_TENANT_ID,
    PASS,
    SKIPPED,
    TENANT_ID,
    Json,
    add_ca_policy,
    add_policy,
    add_sign_in,
    add_sp,
    approver_group,
    certificate,
    declared,
    declaring,
    exclusion,
    finding,
    new_snapshot,
    registration,
    scan,
    secret,
    set_source,
    sp_ref,
    statuses,
    user_ref,
    with_params,
)

APP_RULES = ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406", "MAA407")


def tenant(*excluded: str, policy_type: str = "app", **sp_fields: Any) -> Json:
    """Policy p-1 excluding each app in ``excluded``; each has a healthy, fresh SP unless
    ``sp_fields`` say otherwise (applied to every SP)."""
    snap = new_snapshot()
    add_policy(snap, "p-1", policy_type, name="Apps - all platforms", exclusions=excluded)
    approver_group(snap)
    for app_id in excluded:
        add_sp(snap, app_id, **sp_fields)
        add_sign_in(snap, app_id)
    return snap


# ---- MAA401 excluded-app-client-secret -----------------------------------------------------


def test_maa401_secrets_on_the_sp_or_the_registration_fail() -> None:
    snap = tenant()
    add_policy(
        snap, "p-2", "script", exclusions=["app-sp-secret", "app-reg-secret", "app-cert", "app-fic"]
    )
    add_sp(snap, "app-sp-secret", secrets=[secret("s-1")])
    add_sp(
        snap, "app-reg-secret", application=registration("app-reg-secret", secrets=[secret("s-2")])
    )
    add_sp(
        snap, "app-cert", application=registration("app-cert", certificates=[certificate("c-1")])
    )
    add_sp(snap, "app-fic", application=registration("app-fic", federated=True))

    result = scan(snap)

    assert statuses(result, "MAA401") == {
        "app-sp-secret": FAIL,
        "app-reg-secret": FAIL,
        "app-cert": PASS,
        "app-fic": PASS,
    }
    on_sp = finding(result, "MAA401", "app-sp-secret")
    assert on_sp.message == "the excluded app holds 1 client secret(s)"
    assert on_sp.evidence["secrets"] == [
        {
            "object": "servicePrincipal",
            "kind": "clientSecret",
            "keyId": "s-1",
            "displayName": "s-1",
            "endDateTime": "2027-01-01T00:00:00Z",
        }
    ]
    assert finding(result, "MAA401", "app-reg-secret").evidence["secrets"][0]["object"] == (
        "application"
    )
    assert on_sp.resource.type == "application"
    assert on_sp.evidence["policies"] == [
        {"id": "p-2", "displayName": "script policy p-2", "policyType": "script"}
    ]


def test_exclusion_rules_skip_an_app_without_service_principal_but_maa407_fails_it() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=[exclusion("app-gone", display_name="Old app")])

    result = scan(snap)

    for rule_id in ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406"):
        assert statuses(result, rule_id) == {"app-gone": SKIPPED}, rule_id
    assert finding(result, "MAA401", "app-gone").message == (
        "the app has no service principal in the tenant (see MAA407)"
    )
    assert statuses(result, "MAA407") == {"app-gone": FAIL}
    gone = finding(result, "MAA407", "app-gone")
    assert gone.message == "the excluded app no longer exists in the tenant"
    assert gone.resource.display_name == "Old app"


def test_exclusion_rules_skip_when_nothing_is_excluded() -> None:
    result = scan(tenant())

    for rule_id in (*APP_RULES, "MAA409"):
        assert statuses(result, rule_id) == {TENANT_ID: SKIPPED}, rule_id


# ---- MAA402 excluded-app-without-workload-ca -----------------------------------------------


def test_maa402_covered_by_a_policy_naming_the_sp_or_all_sps() -> None:
    snap = tenant("app-named", "app-all")
    add_ca_policy(snap, "ca-named", include=["sp-app-named"])
    add_ca_policy(snap, "ca-all", include=["ServicePrincipalsInMyTenant"], exclude=["sp-app-named"])

    result = scan(snap)

    assert statuses(result, "MAA402") == {"app-named": PASS, "app-all": PASS}
    named = finding(result, "MAA402", "app-named")
    assert named.evidence == {
        "coverage": "covered",
        "policies": [{"id": "ca-named", "displayName": "CA ca-named"}],
    }
    assert finding(result, "MAA402", "app-all").evidence["policies"] == [
        {"id": "ca-all", "displayName": "CA ca-all"}
    ]


def test_maa402_risk_condition_alone_is_enough() -> None:
    snap = tenant("app-1")
    add_ca_policy(snap, "ca-risk", locations=[], risk_levels=["high", "medium"])

    assert statuses(scan(snap), "MAA402") == {"app-1": PASS}


@pytest.mark.parametrize(
    ("description", "ca_fields"),
    [
        ("report-only", {"state": "enabledForReportingButNotEnforced"}),
        ("disabled", {"state": "disabled"}),
        ("excludes the SP", {"exclude": ["sp-app-1"]}),
        ("includes another SP only", {"include": ["sp-other"]}),
        ("grants MFA instead of block", {"controls": ["mfa"]}),
        ("has no grant controls", {"controls": None}),
        ("has no location or risk condition", {"locations": [], "risk_levels": []}),
    ],
)
def test_maa402_policies_that_do_not_count(description: str, ca_fields: dict[str, Any]) -> None:
    snap = tenant("app-1")
    add_ca_policy(snap, "ca-1", **ca_fields)

    result = scan(snap)

    assert statuses(result, "MAA402") == {"app-1": FAIL}, description
    not_covered = finding(result, "MAA402", "app-1")
    assert not_covered.evidence == {"coverage": "not-covered", "policies": []}
    assert not_covered.message == (
        "no enabled Conditional Access policy with a block grant and a location or risk "
        "condition covers this service principal"
    )


def test_maa402_policy_without_client_applications_does_not_count() -> None:
    snap = tenant("app-1")
    policy = add_ca_policy(snap, "ca-users")
    policy["conditions"]["clientApplications"] = None

    assert statuses(scan(snap), "MAA402") == {"app-1": FAIL}


def test_maa402_not_coverable_apps_fail_with_the_reason_even_if_a_policy_matches() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-vendor", "app-mi", "app-own"])
    add_sp(snap, "app-vendor", owner_org=OTHER_TENANT_ID)
    add_sp(snap, "app-mi", owner_org=None, sp_type="ManagedIdentity")
    add_sp(snap, "app-own")
    add_ca_policy(snap, "ca-all")

    result = scan(snap)

    assert statuses(result, "MAA402") == {"app-vendor": FAIL, "app-mi": FAIL, "app-own": PASS}
    vendor = finding(result, "MAA402", "app-vendor")
    assert vendor.message == (
        "Conditional Access cannot cover this app: multi-tenant app "
        f"registered in tenant {OTHER_TENANT_ID}"
    )
    assert vendor.evidence["coverage"] == "not-coverable"
    managed = finding(result, "MAA402", "app-mi")
    assert managed.evidence["reason"] == (
        "managed identities are out of scope for Conditional Access"
    )


def test_maa402_without_workload_identities_premium_nothing_is_coverable() -> None:
    snap = tenant("app-1")
    snap["tenant"]["workload_identities_premium"] = False
    add_ca_policy(snap, "ca-all")

    result = scan(snap)

    assert statuses(result, "MAA402") == {"app-1": FAIL}
    assert finding(result, "MAA402", "app-1").evidence["reason"] == (
        "the tenant has no Workload Identities Premium licence"
    )


def test_maa402_unknown_licence_state_is_judged_by_the_policies() -> None:
    snap = tenant("app-1")
    snap["tenant"]["workload_identities_premium"] = None
    add_ca_policy(snap, "ca-all")

    assert statuses(scan(snap), "MAA402") == {"app-1": PASS}


def test_maa402_conditional_access_failed_is_an_error() -> None:
    snap = tenant("app-1")
    set_source(snap, "conditional_access", "failed", missing_permission="Policy.Read.All")

    result = scan(snap)

    assert statuses(result, "MAA402") == {TENANT_ID: ERROR}
    assert finding(result, "MAA402", TENANT_ID).message == (
        "could not verify: conditional_access is failed; missing permission Policy.Read.All"
    )
    assert statuses(result, "MAA401") == {"app-1": PASS}


# ---- MAA403 excluded-app-credential-lifetime (now = 2026-11-01T08:00Z) -----------------


def test_maa403_expired_and_too_long_credentials_fail() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-expired", "app-long", "app-ok", "app-both"])
    add_sp(
        snap,
        "app-expired",
        secrets=[secret("s-old", "2026-01-01T00:00:00Z", "2026-06-30T00:00:00Z")],
    )
    add_sp(
        snap,
        "app-long",
        application=registration(
            "app-long",
            certificates=[certificate("c-long", "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")],
        ),
    )
    add_sp(
        snap,
        "app-ok",
        certificates=[certificate("c-180", "2026-09-01T00:00:00Z", "2027-02-28T00:00:00Z")],
    )  # 180 days
    add_sp(
        snap,
        "app-both",
        secrets=[secret("s-old", "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z")],
        certificates=[certificate("c-long", "2026-10-01T00:00:00Z", "2027-10-01T00:00:00Z")],
    )

    result = scan(snap)

    assert statuses(result, "MAA403") == {
        "app-expired": FAIL,
        "app-long": FAIL,
        "app-ok": PASS,
        "app-both": FAIL,
    }
    expired = finding(result, "MAA403", "app-expired")
    assert expired.message == "credentials: 1 expired"
    assert [c["keyId"] for c in expired.evidence["expired"]] == ["s-old"]
    assert expired.evidence["too_long"] == []
    long_lived = finding(result, "MAA403", "app-long")
    assert long_lived.message == "credentials: 1 valid longer than 180 days"
    assert long_lived.evidence["too_long"] == [
        {
            "object": "application",
            "kind": "AsymmetricX509Cert",
            "keyId": "c-long",
            "displayName": "c-long",
            "endDateTime": "2028-01-01T00:00:00Z",
            "days": 730,
        }
    ]
    assert finding(result, "MAA403", "app-both").message == (
        "credentials: 1 expired, 1 valid longer than 180 days"
    )


def test_maa403_expiry_is_relative_to_collection_time_and_lifetime_needs_a_start() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-today", "app-no-start"])
    add_sp(
        snap, "app-today", secrets=[secret("s-1", "2026-10-01T00:00:00Z", "2026-11-01T09:00:00Z")]
    )  # 1 h after collection
    no_start = secret("s-2", end="2030-01-01T00:00:00Z")
    no_start["startDateTime"] = None
    add_sp(snap, "app-no-start", secrets=[no_start])

    result = scan(snap, today=date(2027, 1, 1))

    assert statuses(result, "MAA403") == {"app-today": PASS, "app-no-start": PASS}


def test_maa403_max_credential_days_parameter() -> None:
    snap = tenant(
        "app-1", certificates=[certificate("c-1", "2026-09-01T00:00:00Z", "2026-12-01T00:00:00Z")]
    )  # 91 days

    assert statuses(scan(snap), "MAA403") == {"app-1": PASS}
    result = scan(snap, with_params("MAA403", max_credential_days=90))
    assert statuses(result, "MAA403") == {"app-1": FAIL}
    assert finding(result, "MAA403", "app-1").evidence["max_credential_days"] == 90


# ---- MAA404 excluded-app-privileged-permissions --------------------------------------------


def test_maa404_privileged_permissions_fail_case_insensitively() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-rbac", "app-plain"])
    add_sp(
        snap,
        "app-rbac",
        permissions=[
            "DeviceManagementApps.ReadWrite.All",
            "groupmember.readwrite.all",
            "DeviceManagementRBAC.ReadWrite.All",
        ],
    )
    add_sp(
        snap,
        "app-plain",
        permissions=["DeviceManagementApps.ReadWrite.All", "GroupMember.Read.All"],
    )

    result = scan(snap)

    assert statuses(result, "MAA404") == {"app-rbac": FAIL, "app-plain": PASS}
    rbac = finding(result, "MAA404", "app-rbac")
    assert rbac.evidence["privileged_permissions"] == [
        "DeviceManagementRBAC.ReadWrite.All",
        "groupmember.readwrite.all",
    ]
    assert rbac.message == (
        "the excluded app holds privileged Graph permissions: "
        "DeviceManagementRBAC.ReadWrite.All, groupmember.readwrite.all"
    )


def test_maa404_privileged_permissions_parameter() -> None:
    snap = tenant("app-1", permissions=["DeviceManagementApps.ReadWrite.All"])

    result = scan(
        snap, with_params("MAA404", privileged_permissions=["DeviceManagementApps.ReadWrite.All"])
    )

    assert statuses(result, "MAA404") == {"app-1": FAIL}


# ---- MAA405 excluded-app-user-owners -------------------------------------------------------


def test_maa405_user_owners_of_the_sp_or_registration_fail() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-sp-owner", "app-reg-owner", "app-sp-only"])
    add_sp(snap, "app-sp-owner", owners=[user_ref("u-dev")])
    add_sp(
        snap,
        "app-reg-owner",
        application=registration("app-reg-owner", owners=[user_ref("u-dev"), user_ref("u-ops")]),
    )
    add_sp(snap, "app-sp-only", owners=[sp_ref("sp-automation")])

    result = scan(snap)

    assert statuses(result, "MAA405") == {
        "app-sp-owner": FAIL,
        "app-reg-owner": FAIL,
        "app-sp-only": PASS,
    }
    reg = finding(result, "MAA405", "app-reg-owner")
    assert reg.message == "2 user(s) own the app and can add credentials to it"
    assert reg.evidence == {"user_owners": ["u-dev", "u-ops"]}


# ---- MAA406 excluded-app-third-party -------------------------------------------------------


def test_maa406_app_registered_in_another_tenant_fails() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-vendor", "app-own", "app-unknown"])
    add_sp(snap, "app-vendor", owner_org=OTHER_TENANT_ID)
    add_sp(snap, "app-own", owner_org=TENANT_ID.upper())
    add_sp(snap, "app-unknown", owner_org=None)

    result = scan(snap)

    assert statuses(result, "MAA406") == {"app-vendor": FAIL, "app-own": PASS, "app-unknown": ERROR}
    vendor = finding(result, "MAA406", "app-vendor")
    assert vendor.message == f"the app is registered in another tenant ({OTHER_TENANT_ID})"
    assert vendor.evidence == {"appOwnerOrganizationId": OTHER_TENANT_ID, "tenantId": TENANT_ID}


def test_maa406_managed_identity_owned_by_microsoft_passes() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=["app-mi"])
    add_sp(
        snap, "app-mi", owner_org="f8cdef31-a31e-4b4a-93e4-5f571e91255a", sp_type="ManagedIdentity"
    )

    result = scan(snap)

    assert statuses(result, "MAA406") == {"app-mi": PASS}
    assert finding(result, "MAA406", "app-mi").message == (
        "a managed identity of this tenant's Azure resources"
    )


# ---- MAA407 stale-exclusion ----------------------------------------------------------------


def test_maa407_missing_disabled_stale_and_fresh() -> None:
    snap = tenant()
    add_policy(
        snap,
        "p-2",
        "app",
        exclusions=["app-missing", "app-disabled", "app-stale", "app-never", "app-fresh"],
    )
    add_sp(snap, "app-disabled", enabled=False)
    add_sign_in(snap, "app-disabled")  # a recent sign-in does not excuse a disabled SP
    add_sp(snap, "app-stale")
    add_sign_in(snap, "app-stale", "2026-08-02T07:59:59Z")  # 91 days before collection
    add_sp(snap, "app-never")
    add_sign_in(snap, "app-never", None)
    add_sp(snap, "app-fresh")
    add_sign_in(snap, "APP-FRESH", "2026-08-03T08:00:00Z")  # exactly 90 days

    result = scan(snap)

    assert statuses(result, "MAA407") == {
        "app-missing": FAIL,
        "app-disabled": FAIL,
        "app-stale": FAIL,
        "app-never": FAIL,
        "app-fresh": PASS,
    }
    assert finding(result, "MAA407", "app-disabled").message == (
        "the excluded app's service principal is disabled"
    )
    stale = finding(result, "MAA407", "app-stale")
    assert stale.message == "no app-only sign-in since 2026-08-02T07:59:59Z; stale after 90 days"
    assert stale.evidence["last_app_only_sign_in"] == "2026-08-02T07:59:59Z"
    assert finding(result, "MAA407", "app-never").message == (
        "no app-only sign-in on record; stale after 90 days"
    )
    assert finding(result, "MAA407", "app-fresh").message == (
        "the excluded app is enabled and in use"
    )


def test_maa407_stale_days_parameter() -> None:
    snap = tenant("app-1")
    snap["sign_in_activity"] = [
        {"appId": "app-1", "lastAppOnlyClientSignInDateTime": "2026-10-01T00:00:00Z"}
    ]

    assert statuses(scan(snap), "MAA407") == {"app-1": PASS}
    assert statuses(scan(snap, with_params("MAA407", stale_days=30)), "MAA407") == {"app-1": FAIL}


def test_maa407_sign_in_activity_partial_is_an_error_naming_the_permission() -> None:
    snap = tenant("app-1")
    set_source(
        snap,
        "sign_in_activity",
        "partial",
        reason="throttled",
        missing_permission="AuditLog.Read.All",
    )

    result = scan(snap)

    assert statuses(result, "MAA407") == {TENANT_ID: ERROR}
    assert finding(result, "MAA407", TENANT_ID).message == (
        "could not verify: sign_in_activity is partial (throttled); "
        "missing permission AuditLog.Read.All"
    )


# ---- declared exclusions are reviewed like tenant exclusions ------------------------------


def test_a_declared_exclusion_alone_is_evaluated_by_maa401_to_maa407() -> None:
    snap = tenant()  # p-1 excludes nothing in the tenant
    add_sp(
        snap,
        "app-declared",
        owner_org=OTHER_TENANT_ID,
        secrets=[secret("s-1")],
        owners=[user_ref("u-dev")],
        permissions=["Directory.ReadWrite.All"],
        sp_type="Application",
    )
    settings = declaring(declared("p-1", "app-declared"))

    result = scan(snap, settings)

    assert {rule_id: statuses(result, rule_id) for rule_id in APP_RULES} == {
        "MAA401": {"app-declared": FAIL},
        "MAA402": {"app-declared": FAIL},
        "MAA403": {"app-declared": SKIPPED},  # its registration is in the publisher's tenant
        "MAA404": {"app-declared": FAIL},
        "MAA405": {"app-declared": FAIL},
        "MAA406": {"app-declared": FAIL},
        "MAA407": {"app-declared": FAIL},  # no app-only sign-in on record
    }
    assert finding(result, "MAA401", "app-declared").evidence["policies"] == [
        {"id": "p-1", "displayName": "Apps - all platforms", "policyType": "app"}
    ]


def test_an_exclusion_known_from_several_sources_is_one_app() -> None:
    snap = tenant()
    add_policy(
        snap,
        "p-2",
        "script",
        exclusions=[exclusion("app-1", "audit-log"), exclusion("app-1", "policy-property")],
    )
    add_policy(snap, "p-3", "role", exclusions=["sp-app-1"])  # named by the SP object id
    add_sp(snap, "app-1", secrets=[secret("s-1")])

    result = scan(snap, declaring(declared("p-2", "APP-1")))

    assert statuses(result, "MAA401") == {"app-1": FAIL}
    assert [p["id"] for p in finding(result, "MAA401", "app-1").evidence["policies"]] == [
        "p-2",
        "p-3",
    ]
    assert statuses(result, "MAA409") == {"p-2/app-1": FAIL, "p-3/app-1": FAIL}


# ---- MAA408 undeclared-exclusion -----------------------------------------------------------


def test_maa408_skipped_when_nothing_is_declared() -> None:
    result = scan(tenant("app-1"))

    assert statuses(result, "MAA408") == {TENANT_ID: SKIPPED}
    assert finding(result, "MAA408", TENANT_ID).message == (
        "no [[exclusions]] are declared in the configuration"
    )


def test_maa408_drift_both_ways_missing_policy_and_review_date() -> None:
    snap = tenant("app-declared", "app-undeclared", "app-overdue", "app-due-today")
    add_sp(snap, "app-absent")
    settings = declaring(
        declared("p-1", "app-declared", owner="megan@contoso-test.example"),
        declared("Apps - all platforms", "app-overdue", review_by=date(2026, 10, 31)),
        declared("p-1", "app-due-today", review_by=date(2026, 11, 1)),
        declared("p-1", "app-absent"),
        declared("Apps - macOS", "app-declared"),
    )

    result = scan(snap, settings)

    assert statuses(result, "MAA408") == {
        "p-1/app-declared": PASS,
        "p-1/app-undeclared": FAIL,
        "p-1/app-overdue": FAIL,
        "p-1/app-due-today": PASS,
        "p-1/app-absent": FAIL,
        "Apps - macOS/app-declared": FAIL,
    }
    messages = {f.resource.id: f.message for f in result.findings if f.rule_id == "MAA408"}
    assert messages == {
        "p-1/app-declared": "declared and present",
        "p-1/app-undeclared": "excluded in the tenant but not declared in the configuration",
        "p-1/app-overdue": "the declared exclusion was due for review on 2026-10-31",
        "p-1/app-due-today": "declared and present",
        "p-1/app-absent": "declared in the configuration but not excluded in the tenant",
        "Apps - macOS/app-declared": "declared for policy 'Apps - macOS', which does not exist",
    }
    present = finding(result, "MAA408", "p-1/app-declared")
    assert present.evidence == {
        "sources": ["declared", "policy-property"],
        "policy": {"id": "p-1", "displayName": "Apps - all platforms"},
        "owner": "megan@contoso-test.example",
    }
    assert present.resource.type == "exclusion"
    assert present.resource.display_name == "app-declared in Apps - all platforms"


def test_maa408_declaration_matches_by_sp_object_id_and_any_case() -> None:
    snap = tenant("app-1", "app-2")
    settings = declaring(declared("P-1", "SP-APP-1"), declared("p-1", "APP-2"))

    result = scan(snap, settings)

    assert statuses(result, "MAA408") == {"p-1/app-1": PASS, "p-1/app-2": PASS}


def test_maa408_audit_log_exclusions_count_as_present() -> None:
    snap = tenant()
    add_policy(snap, "p-2", "app", exclusions=[exclusion("app-1", "audit-log")])
    add_sp(snap, "app-1")

    result = scan(snap, declaring(declared("p-2", "app-1")))

    assert statuses(result, "MAA408") == {"p-2/app-1": PASS}
    assert finding(result, "MAA408", "p-2/app-1").evidence["sources"] == ["audit-log", "declared"]


def test_maa408_review_date_is_relative_to_the_collection_time() -> None:
    snap = tenant("app-1")
    settings = declaring(declared("p-1", "app-1", review_by=date(2026, 11, 15)))

    result = scan(snap, settings, today=date(2027, 6, 1))

    assert statuses(result, "MAA408") == {"p-1/app-1": PASS}


# ---- MAA409 exclusion-on-high-impact-workload ----------------------------------------------


def test_maa409_high_impact_policy_types_fail() -> None:
    snap = new_snapshot()
    for policy_type in (
        "app",
        "role",
        "script",
        "deviceAction",
        "deviceWipe",
        "deviceRetire",
        "deviceDelete",
        "configurationPolicy",
    ):
        add_policy(snap, f"p-{policy_type}", policy_type, exclusions=["app-1"])
    add_sp(snap, "app-1")

    result = scan(snap, declaring(declared("Apps - macOS", "app-1")))

    assert statuses(result, "MAA409") == {
        "p-app/app-1": PASS,
        "p-role/app-1": FAIL,
        "p-script/app-1": FAIL,
        "p-deviceAction/app-1": FAIL,
        "p-deviceWipe/app-1": FAIL,
        "p-deviceRetire/app-1": FAIL,
        "p-deviceDelete/app-1": FAIL,
        "p-configurationPolicy/app-1": PASS,
    }  # the declaration for a missing policy is MAA408's business only
    role = finding(result, "MAA409", "p-role/app-1")
    assert role.evidence == {"policyType": "role"}
    assert role.message == "exclusion on an access policy of type role: review it"


def test_maa409_declared_only_exclusion_is_evaluated() -> None:
    snap = tenant(policy_type="script")
    add_sp(snap, "app-1")

    result = scan(snap, declaring(declared("p-1", "app-1")))

    assert statuses(result, "MAA409") == {"p-1/app-1": FAIL}


def test_maa409_high_impact_policy_types_parameter() -> None:
    snap = tenant("app-1", policy_type="role")

    result = scan(snap, with_params("MAA409", high_impact_policy_types=["app"]))

    assert statuses(result, "MAA409") == {"p-1/app-1": PASS}


# ---- incomplete exclusions source ----------------------------------------------------------


def test_every_exclusion_rule_errors_when_exclusions_are_partial() -> None:
    snap = tenant("app-1")
    set_source(
        snap,
        "exclusions",
        "partial",
        reason="no exclusions property on the policies; audit log read",
        missing_permission="DeviceManagementApps.Read.All",
    )

    result = scan(snap, declaring(declared("p-1", "app-1")))

    for rule_id in (*APP_RULES, "MAA408", "MAA409", "MAA501"):
        assert statuses(result, rule_id) == {TENANT_ID: ERROR}, rule_id
        assert finding(result, rule_id, TENANT_ID).evidence["sources"] == ["exclusions"]
    assert (
        "missing permission DeviceManagementApps.Read.All"
        in finding(result, "MAA408", TENANT_ID).message
    )


# ---- what cannot be seen is never a pass ----------------------------------------------------


def test_registration_missing_from_the_snapshot_is_an_error_for_an_app_of_this_tenant() -> None:
    snap = tenant()
    add_policy(
        snap, "p-2", "app", exclusions=["app-own", "app-vendor", "app-vendor-secret", "app-mi"]
    )
    add_sp(snap, "app-own", registered=False)
    add_sp(snap, "app-vendor", owner_org=OTHER_TENANT_ID)
    add_sp(snap, "app-vendor-secret", owner_org=OTHER_TENANT_ID, secrets=[secret("s-sp")])
    add_sp(snap, "app-mi", sp_type="ManagedIdentity")

    result = scan(snap)

    for rule_id in ("MAA401", "MAA403", "MAA405"):
        assert statuses(result, rule_id)["app-own"] == ERROR
        assert statuses(result, rule_id)["app-vendor"] == SKIPPED
        assert statuses(result, rule_id)["app-mi"] == PASS
    assert statuses(result, "MAA401")["app-vendor-secret"] == FAIL
    assert finding(result, "MAA401", "app-own").message == (
        "could not verify: the app registration is not in the snapshot"
    )
    assert finding(result, "MAA405", "app-vendor").message == (
        "the app registration lives in the publisher's tenant "
        f"({OTHER_TENANT_ID}); only its service principal here was checked (see MAA406)"
    )
