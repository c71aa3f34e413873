"""MAA201-MAA208: the approver groups behind the access policies."""

from __future__ import annotations

from builders import (
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    TENANT_ID,
    Json,
    add_group,
    add_policy,
    add_role_assignment,
    add_user,
    approver_group,
    finding,
    group_ref,
    new_snapshot,
    scan,
    set_source,
    sp_ref,
    statuses,
    user_ref,
    with_params,
)

APPROVER_RULES = ("MAA202", "MAA203", "MAA204", "MAA205", "MAA206", "MAA207", "MAA208")


def tenant_with(*group_ids: str) -> Json:
    """One app policy naming ``group_ids`` as approver groups (the groups are added by tests)."""
    snap = new_snapshot()
    add_policy(snap, "p-app", "app", approvers=group_ids)
    return snap


# ---- MAA201 approver-group-missing ---------------------------------------------------------


def test_maa201_missing_group_fails_existing_group_passes() -> None:
    snap = tenant_with("grp-ok", "grp-deleted")
    add_policy(snap, "p-script", "script", approvers=["grp-deleted"])
    approver_group(snap, "grp-ok")

    result = scan(snap)

    assert statuses(result, "MAA201") == {"grp-ok": PASS, "grp-deleted": FAIL}
    missing = finding(result, "MAA201", "grp-deleted")
    assert missing.message == "the approver group does not exist"
    assert [p["id"] for p in missing.evidence["policies"]] == ["p-app", "p-script"]


def test_a_missing_group_is_reported_only_by_maa201() -> None:
    result = scan(tenant_with("grp-deleted"))

    assert statuses(result, "MAA201") == {"grp-deleted": FAIL}
    for rule_id in APPROVER_RULES:
        assert statuses(result, rule_id) == {TENANT_ID: SKIPPED}, rule_id


def test_groups_not_used_as_approvers_are_not_evaluated() -> None:
    snap = tenant_with("grp-ok")
    approver_group(snap, "grp-ok")
    add_group(snap, "grp-other", [], security=False, role_assignable=False)

    result = scan(snap)

    for rule_id in ("MAA201", *APPROVER_RULES):
        assert set(statuses(result, rule_id)) == {"grp-ok"}, rule_id


# ---- MAA202 too-few-approvers --------------------------------------------------------------


def test_maa202_counts_enabled_direct_member_users_only() -> None:
    snap = tenant_with("grp-thin", "grp-ok")
    approver_group(snap, "grp-ok", ["u-1", "u-2"])
    add_user(snap, "u-3")
    add_user(snap, "u-disabled", enabled=False)
    add_user(snap, "u-guest", user_type="Guest")
    add_user(snap, "u-nested")
    add_group(snap, "grp-nested", [user_ref("u-nested")])
    add_group(
        snap,
        "grp-thin",
        [
            user_ref("u-3"),
            user_ref("u-disabled"),
            user_ref("u-guest"),
            group_ref("grp-nested"),
            user_ref("u-unknown"),
        ],
        transitive=[
            user_ref("u-3"),
            user_ref("u-disabled"),
            user_ref("u-guest"),
            group_ref("grp-nested"),
            user_ref("u-nested"),
            user_ref("u-unknown"),
        ],
    )

    result = scan(snap)

    assert statuses(result, "MAA202") == {"grp-thin": FAIL, "grp-ok": PASS}
    thin = finding(result, "MAA202", "grp-thin")
    assert thin.message == ("only 1 enabled member user(s) can approve; at least 2 are needed")
    assert thin.evidence == {"eligible_approvers": ["u-3@contoso-test.example"], "min_approvers": 2}
    assert finding(result, "MAA202", "grp-ok").evidence["eligible_approvers"] == [
        "u-1@contoso-test.example",
        "u-2@contoso-test.example",
    ]


def test_maa202_min_approvers_parameter() -> None:
    snap = tenant_with("grp-ok")
    approver_group(snap, "grp-ok", ["u-1", "u-2"])

    result = scan(snap, with_params("MAA202", min_approvers=3))

    assert statuses(result, "MAA202") == {"grp-ok": FAIL}
    assert finding(result, "MAA202", "grp-ok").evidence["min_approvers"] == 3


def test_maa202_users_source_partial_is_an_error_naming_the_permission() -> None:
    snap = tenant_with("grp-ok")
    approver_group(snap, "grp-ok")
    set_source(
        snap,
        "users",
        "partial",
        reason="2 of 5 users could not be read",
        missing_permission="User.Read.All",
    )

    result = scan(snap)

    assert statuses(result, "MAA202") == {TENANT_ID: ERROR}
    assert "missing permission User.Read.All" in finding(result, "MAA202", TENANT_ID).message
    assert statuses(result, "MAA201") == {"grp-ok": PASS}  # does not need users


# ---- MAA203 approver-group-without-intune-role ---------------------------------------------


def test_maa203_group_must_be_a_member_of_a_role_assignment() -> None:
    snap = tenant_with("grp-in-role", "grp-no-role")
    approver_group(snap, "grp-in-role")
    add_user(snap, "u-3")
    add_group(snap, "grp-no-role", [user_ref("u-3")])
    # a scope group is not an admin group
    snap["role_assignments"].append(
        {
            "id": "ra-scope",
            "displayName": "scope only",
            "members": ["grp-other"],
            "scopeMembers": ["grp-no-role"],
        }
    )

    result = scan(snap)

    assert statuses(result, "MAA203") == {"grp-in-role": PASS, "grp-no-role": FAIL}
    assert finding(result, "MAA203", "grp-in-role").evidence["role_assignments"] == [
        {"id": "ra-grp-in-role", "displayName": "assignment ra-grp-in-role"}
    ]
    assert finding(result, "MAA203", "grp-no-role").message == (
        "the group is not a member of any Intune role assignment"
    )


def test_maa203_rbac_failed_is_an_error() -> None:
    snap = tenant_with("grp-ok")
    approver_group(snap, "grp-ok")
    set_source(snap, "rbac", "failed", missing_permission="DeviceManagementRBAC.Read.All")

    result = scan(snap)

    assert statuses(result, "MAA203") == {TENANT_ID: ERROR}
    assert finding(result, "MAA203", TENANT_ID).message == (
        "could not verify: rbac is failed; missing permission DeviceManagementRBAC.Read.All"
    )


# ---- MAA204 approver-group-not-security-group ----------------------------------------------


def test_maa204_m365_mail_enabled_and_non_security_groups_fail() -> None:
    snap = tenant_with("grp-sec", "grp-m365", "grp-mail-sec", "grp-dl")
    approver_group(snap, "grp-sec")
    add_group(snap, "grp-m365", [], security=False, mail=True, group_types=["Unified"])
    add_group(snap, "grp-mail-sec", [], security=True, mail=True)
    add_group(snap, "grp-dl", [], security=False, mail=True)

    result = scan(snap)

    assert statuses(result, "MAA204") == {
        "grp-sec": PASS,
        "grp-m365": FAIL,
        "grp-mail-sec": FAIL,
        "grp-dl": FAIL,
    }
    assert finding(result, "MAA204", "grp-m365").evidence["reasons"] == [
        "Microsoft 365 group",
        "mail-enabled",
        "not security-enabled",
    ]
    assert finding(result, "MAA204", "grp-mail-sec").message == (
        "the group is not a plain security group: mail-enabled"
    )
    assert finding(result, "MAA204", "grp-dl").evidence["reasons"] == [
        "mail-enabled",
        "not security-enabled",
    ]


# ---- MAA205 approver-membership-unprotected ------------------------------------------------


def test_maa205_each_way_to_change_membership_fails() -> None:
    snap = tenant_with("grp-ok", "grp-plain", "grp-owned", "grp-dynamic", "grp-synced")
    approver_group(snap, "grp-ok")
    add_group(snap, "grp-plain", [], role_assignable=False)
    add_group(snap, "grp-owned", [], owners=[user_ref("u-owner")])
    add_group(
        snap,
        "grp-dynamic",
        [],
        group_types=["DynamicMembership"],
        membership_rule='(user.department -eq "IT")',
    )
    add_group(snap, "grp-synced", [], synced=True)

    result = scan(snap)

    assert statuses(result, "MAA205") == {
        "grp-ok": PASS,
        "grp-plain": FAIL,
        "grp-owned": FAIL,
        "grp-dynamic": FAIL,
        "grp-synced": FAIL,
    }
    reasons = {
        gid: finding(result, "MAA205", gid).evidence["reasons"]
        for gid in ("grp-plain", "grp-owned", "grp-dynamic", "grp-synced")
    }
    assert reasons == {
        "grp-plain": ["not role-assignable"],
        "grp-owned": ["1 owner(s)"],
        "grp-dynamic": ["dynamic membership rule"],
        "grp-synced": ["synced from on-premises"],
    }
    assert finding(result, "MAA205", "grp-owned").evidence["owners"] == ["u-owner"]


def test_maa205_unknown_role_assignability_is_not_a_pass() -> None:
    snap = tenant_with("grp-unknown")
    add_group(snap, "grp-unknown", [], role_assignable=None)

    result = scan(snap)

    assert statuses(result, "MAA205") == {"grp-unknown": FAIL}
    assert finding(result, "MAA205", "grp-unknown").evidence["reasons"] == ["not role-assignable"]


# ---- MAA206 approver-group-indirect-members ------------------------------------------------


def test_maa206_nested_groups_and_non_user_members_fail() -> None:
    snap = tenant_with("grp-ok", "grp-mixed")
    approver_group(snap, "grp-ok")
    add_group(
        snap,
        "grp-mixed",
        [
            user_ref("u-1"),
            group_ref("grp-nested"),
            sp_ref("sp-bot"),
            {"id": "dev-1", "type": "device", "displayName": "CD-LT-0001"},
        ],
    )

    result = scan(snap)

    assert statuses(result, "MAA206") == {"grp-ok": PASS, "grp-mixed": FAIL}
    mixed = finding(result, "MAA206", "grp-mixed")
    assert mixed.evidence["reasons"] == [
        "device members",
        "group members",
        "servicePrincipal members",
    ]
    assert mixed.evidence["indirect_members"] == [
        {"id": "grp-nested", "type": "group", "displayName": "grp-nested"},
        {"id": "sp-bot", "type": "servicePrincipal", "displayName": "sp-bot"},
        {"id": "dev-1", "type": "device", "displayName": "CD-LT-0001"},
    ]


# ---- MAA207 approver-group-guest-or-disabled -----------------------------------------------


def test_maa207_guests_and_disabled_accounts_fail_including_nested_members() -> None:
    snap = tenant_with("grp-ok", "grp-guest", "grp-nested-disabled")
    approver_group(snap, "grp-ok")
    add_user(snap, "u-guest", user_type="Guest")
    add_user(snap, "u-off", enabled=False)
    add_group(snap, "grp-guest", [user_ref("u-1"), user_ref("u-guest")])
    add_group(
        snap,
        "grp-nested-disabled",
        [user_ref("u-2"), group_ref("grp-inner")],
        transitive=[user_ref("u-2"), group_ref("grp-inner"), user_ref("u-off")],
    )

    result = scan(snap)

    assert statuses(result, "MAA207") == {
        "grp-ok": PASS,
        "grp-guest": FAIL,
        "grp-nested-disabled": FAIL,
    }
    guest = finding(result, "MAA207", "grp-guest")
    assert guest.message == "guest or disabled accounts are approvers: 1 guest(s)"
    assert guest.evidence["guests"] == ["u-guest@contoso-test.example"]
    nested = finding(result, "MAA207", "grp-nested-disabled")
    assert nested.evidence["disabled"] == ["u-off@contoso-test.example"]
    assert nested.evidence["reasons"] == ["1 disabled account(s)"]


# ---- MAA208 approver-without-intune-license ------------------------------------------------


def test_maa208_unlicensed_fails_licensed_passes_unknown_is_an_error() -> None:
    snap = tenant_with("grp-ok", "grp-unlicensed", "grp-unknown")
    approver_group(snap, "grp-ok")
    add_user(snap, "u-nolic", licensed=False)
    add_user(snap, "u-maybe", licensed=None)
    add_group(snap, "grp-unlicensed", [user_ref("u-1"), user_ref("u-nolic"), user_ref("u-maybe")])
    add_group(
        snap, "grp-unknown", [user_ref("u-2"), user_ref("u-maybe"), user_ref("u-not-collected")]
    )

    result = scan(snap)

    assert statuses(result, "MAA208") == {
        "grp-ok": PASS,
        "grp-unlicensed": FAIL,
        "grp-unknown": ERROR,
    }
    unlicensed = finding(result, "MAA208", "grp-unlicensed")
    assert unlicensed.evidence == {
        "unlicensed": ["u-nolic@contoso-test.example"],
        "unknown": ["u-maybe@contoso-test.example"],
    }
    unknown = finding(result, "MAA208", "grp-unknown")
    assert unknown.message == "could not verify the Intune licence of 2 approver(s)"
    assert unknown.evidence == {"unknown": ["u-maybe@contoso-test.example", "u-not-collected"]}


def test_maa208_passes_when_the_tenant_allows_unlicensed_admins() -> None:
    snap = tenant_with("grp-unlicensed")
    snap["tenant"]["unlicensed_admins_allowed"] = True
    add_user(snap, "u-nolic", licensed=False)
    add_group(snap, "grp-unlicensed", [user_ref("u-nolic")])

    result = scan(snap)

    assert statuses(result, "MAA208") == {"grp-unlicensed": PASS}
    assert finding(result, "MAA208", "grp-unlicensed").message == (
        "the tenant allows unlicensed administrators "
        "(deviceManagement.unlicensedAdminstratorsEnabled)"
    )


def test_maa208_checks_transitive_members_too() -> None:
    snap = tenant_with("grp-nested")
    add_user(snap, "u-1")
    add_user(snap, "u-inner", licensed=False)
    add_group(
        snap,
        "grp-nested",
        [user_ref("u-1"), group_ref("grp-inner")],
        transitive=[user_ref("u-1"), group_ref("grp-inner"), user_ref("u-inner")],
    )

    result = scan(snap)

    assert statuses(result, "MAA208") == {"grp-nested": FAIL}
    assert finding(result, "MAA208", "grp-nested").evidence["unlicensed"] == [
        "u-inner@contoso-test.example"
    ]


def test_healthy_approver_group_passes_every_approver_rule() -> None:
    snap = tenant_with("grp-ok")
    approver_group(snap, "grp-ok", ["u-1", "u-2", "u-3"])
    add_role_assignment(snap, "ra-second", ["grp-ok"])

    result = scan(snap)

    for rule_id in ("MAA201", *APPROVER_RULES):
        assert statuses(result, rule_id) == {"grp-ok": PASS}, rule_id


def test_maa207_a_member_missing_from_the_users_is_an_error_not_a_pass() -> None:
    snap = tenant_with("grp-partial", "grp-guest-and-unknown")
    add_user(snap, "u-1")
    add_user(snap, "u-guest", user_type="Guest")
    add_group(snap, "grp-partial", [user_ref("u-1"), user_ref("u-not-collected")])
    add_group(snap, "grp-guest-and-unknown", [user_ref("u-guest"), user_ref("u-not-collected")])

    result = scan(snap)

    assert statuses(result, "MAA207") == {"grp-partial": ERROR, "grp-guest-and-unknown": FAIL}
    partial = finding(result, "MAA207", "grp-partial")
    assert partial.message == "could not verify the account of 1 approver(s)"
    assert partial.evidence == {"unknown": ["u-not-collected"]}
