"""MAA301-MAA305: what the approval requests show about how approval is used."""

from __future__ import annotations

from datetime import date

from builders import (
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    TENANT_ID,
    Json,
    add_group,
    add_policy,
    add_request,
    app_id_set,
    approver_group,
    finding,
    group_ref,
    new_snapshot,
    scan,
    set_source,
    statuses,
    user_id_set,
    user_ref,
    with_params,
)

# ---- MAA301 self-approved-request ----------------------------------------------------------


def test_maa301_requestor_approving_own_request_fails() -> None:
    snap = new_snapshot()
    add_request(snap, "r-self", requestor=user_id_set("u-1"), approver=user_id_set("U-1"))
    add_request(snap, "r-ok", requestor=user_id_set("u-1"), approver=user_id_set("u-2"))
    add_request(snap, "r-app-self", requestor=app_id_set("app-1"), approver=app_id_set("app-1"))
    add_request(snap, "r-pending", "needsApproval", requestor=user_id_set("u-1"))

    result = scan(snap)

    assert statuses(result, "MAA301") == {"r-self": FAIL, "r-ok": PASS, "r-app-self": FAIL}
    self_approved = finding(result, "MAA301", "r-self")
    assert self_approved.message == "the requestor approved their own request"
    assert self_approved.evidence == {
        "requestor": {"id": "u-1", "displayName": "u-1", "source": "graph"},
        "approver": {"id": "U-1", "displayName": "U-1", "source": "graph"},
        "status": "completed",
    }
    assert self_approved.resource.type == "approvalRequest"


def test_maa301_skipped_when_no_request_was_decided() -> None:
    snap = new_snapshot()
    add_request(snap, "r-pending", "needsApproval")
    add_request(snap, "r-empty-approver", "expired", approver={"user": None})

    assert statuses(scan(snap), "MAA301") == {TENANT_ID: SKIPPED}


# ---- MAA302 request-approved-by-application ------------------------------------------------


def test_maa302_application_approver_fails_user_approver_passes() -> None:
    snap = new_snapshot()
    add_request(snap, "r-app", approver=app_id_set("app-helpdesk"))
    add_request(snap, "r-user", approver=user_id_set("u-2"))

    result = scan(snap)

    assert statuses(result, "MAA302") == {"r-app": FAIL, "r-user": PASS}
    app = finding(result, "MAA302", "r-app")
    assert app.message == "an application is recorded as the approver"
    assert app.evidence["approver"] == {
        "id": "app-helpdesk",
        "displayName": "app-helpdesk",
        "source": "graph",
    }


def test_maa302_person_approving_through_the_portal_app_passes() -> None:
    snap = new_snapshot()
    portal = {
        "user": {"id": "u-2", "displayName": "Bob"},
        "application": {"id": "5926fc8e", "displayName": "Microsoft Intune portal extension"},
    }
    add_request(snap, "r-portal", approver=portal)

    assert statuses(scan(snap), "MAA302") == {"r-portal": PASS}


def test_request_rules_error_when_approval_requests_are_incomplete() -> None:
    snap = new_snapshot()
    add_request(snap, "r-app", approver=app_id_set("app-helpdesk"))
    set_source(
        snap,
        "approval_requests",
        "failed",
        reason="403 Forbidden",
        missing_permission="DeviceManagementRBAC.Read.All",
    )

    result = scan(snap)

    for rule_id in ("MAA301", "MAA302", "MAA303", "MAA304", "MAA305"):
        assert statuses(result, rule_id) == {TENANT_ID: ERROR}, rule_id
        assert finding(result, rule_id, TENANT_ID).message == (
            "could not verify: approval_requests is failed (403 Forbidden); "
            "missing permission DeviceManagementRBAC.Read.All"
        )


# ---- MAA303 weak-justification -------------------------------------------------------------


def test_maa303_short_or_empty_justification_on_approved_requests_fails() -> None:
    snap = new_snapshot()
    add_request(snap, "r-empty", "approved", approver=user_id_set("u-2"), justification="   ")
    add_request(snap, "r-test", "completed", approver=user_id_set("u-2"), justification="test")
    add_request(
        snap, "r-exact", "completed", approver=user_id_set("u-2"), justification="CHG0012345"
    )  # exactly 10 characters
    add_request(snap, "r-rejected", "rejected", approver=user_id_set("u-2"), justification="")
    add_request(snap, "r-pending", "needsApproval", justification=".")

    result = scan(snap)

    assert statuses(result, "MAA303") == {"r-empty": FAIL, "r-test": FAIL, "r-exact": PASS}
    assert finding(result, "MAA303", "r-empty").message == (
        "the request was approved with a justification that is empty"
    )
    test = finding(result, "MAA303", "r-test")
    assert test.message == (
        "the request was completed with a justification that is 4 characters long"
    )
    assert test.evidence == {"justification": "test", "length": 4, "min_justification_chars": 10}


def test_maa303_min_justification_chars_parameter() -> None:
    snap = new_snapshot()
    add_request(snap, "r-short", justification="CHG0012345 wipe")

    result = scan(snap, with_params("MAA303", min_justification_chars=20))

    assert statuses(result, "MAA303") == {"r-short": FAIL}


# ---- MAA304 pending-request-expiring (relative to collected_at 2026-11-01T08:00Z) --------


def test_maa304_expiry_is_measured_from_the_collection_time() -> None:
    snap = new_snapshot()
    add_request(snap, "r-soon", "needsApproval", expires="2026-11-01T20:00:00Z")  # 12 h
    add_request(snap, "r-edge", "needsApproval", expires="2026-11-02T08:00:00Z")  # 24 h
    add_request(snap, "r-later", "needsApproval", expires="2026-11-03T09:30:00Z")  # 49.5 h
    add_request(snap, "r-overdue", "needsApproval", expires="2026-10-31T08:00:00Z")  # -24 h
    add_request(snap, "r-no-expiry", "needsApproval", expires=None)
    add_request(snap, "r-expired", "expired", expires="2026-10-31T08:00:00Z")
    add_request(snap, "r-approved", "approved", expires="2026-11-01T09:00:00Z")

    result = scan(snap)

    assert statuses(result, "MAA304") == {
        "r-soon": FAIL,
        "r-edge": FAIL,
        "r-later": PASS,
        "r-overdue": FAIL,
    }
    soon = finding(result, "MAA304", "r-soon")
    assert soon.message == "the request expires in 12.0 hours and still needs approval"
    assert soon.evidence == {"expirationDateTime": "2026-11-01T20:00:00Z", "hours_left": 12.0}
    assert finding(result, "MAA304", "r-later").evidence["hours_left"] == 49.5
    assert finding(result, "MAA304", "r-overdue").message == (
        "the request expired without a decision"
    )


def test_maa304_does_not_use_the_wall_clock_date() -> None:
    snap = new_snapshot()
    add_request(snap, "r-later", "needsApproval", expires="2026-11-03T09:30:00Z")

    result = scan(snap, today=date(2030, 1, 1))

    assert statuses(result, "MAA304") == {"r-later": PASS}


def test_maa304_expiry_warning_hours_parameter() -> None:
    snap = new_snapshot()
    add_request(snap, "r-later", "needsApproval", expires="2026-11-03T09:30:00Z")

    result = scan(snap, with_params("MAA304", expiry_warning_hours=72))

    assert statuses(result, "MAA304") == {"r-later": FAIL}


# ---- MAA305 approver-outside-approver-group ------------------------------------------------


def requests_tenant() -> Json:
    """App policy approved by grp-apps (u-1, u-2); wipe policy approved by grp-devices."""
    snap = new_snapshot()
    add_policy(snap, "p-app", "app", approvers=["grp-apps"])
    add_policy(snap, "p-wipe", "deviceWipe", approvers=["grp-devices"])
    approver_group(snap, "grp-apps", ["u-1", "u-2"])
    # grp-devices: u-3 directly, u-4 only through the nested grp-leads
    add_group(
        snap,
        "grp-devices",
        [user_ref("u-3"), group_ref("grp-leads")],
        transitive=[user_ref("u-3"), group_ref("grp-leads"), user_ref("u-4")],
    )
    return snap


def test_maa305_direct_transitive_and_outside_approvers() -> None:
    snap = requests_tenant()
    add_request(snap, "r-direct", types=["deviceWipe"], approver=user_id_set("u-3"))
    add_request(snap, "r-transitive", types=["deviceWipe"], approver=user_id_set("u-4"))
    add_request(snap, "r-wrong-group", types=["deviceWipe"], approver=user_id_set("u-1"))
    add_request(snap, "r-outsider", types=["app"], approver=user_id_set("u-9"))
    add_request(snap, "r-app-ok", types=["app"], approver=user_id_set("u-2"))

    result = scan(snap)

    assert statuses(result, "MAA305") == {
        "r-direct": PASS,
        "r-transitive": PASS,
        "r-wrong-group": FAIL,
        "r-outsider": FAIL,
        "r-app-ok": PASS,
    }
    wrong = finding(result, "MAA305", "r-wrong-group")
    assert wrong.message == (
        "the approver is not a current member of an approver group for this request's policy type"
    )
    assert wrong.evidence == {
        "approver": {"id": "u-1", "displayName": "u-1", "source": "graph"},
        "policy_types": ["deviceWipe"],
        "access_policy_change": False,
        "approver_groups": ["grp-devices"],
    }
    assert finding(result, "MAA305", "r-transitive").evidence["member_of"] == ["grp-devices"]


def test_maa305_device_action_umbrella_policy_gates_a_wipe_request() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-actions", "deviceAction", approvers=["grp-actions"])
    approver_group(snap, "grp-actions", ["u-5", "u-6"])
    add_request(snap, "r-wipe", types=["deviceWipe"], approver=user_id_set("u-5"))
    add_request(snap, "r-wipe-outsider", types=["deviceWipe"], approver=user_id_set("u-1"))

    result = scan(snap)

    assert statuses(result, "MAA305") == {"r-wipe": PASS, "r-wipe-outsider": FAIL}
    assert finding(result, "MAA305", "r-wipe").evidence["approver_groups"] == ["grp-actions"]


def test_maa305_without_policy_types_any_approver_group_counts() -> None:
    snap = requests_tenant()
    add_request(snap, "r-untyped", types=[], approver=user_id_set("u-4"))
    add_request(snap, "r-untyped-outsider", types=[], approver=user_id_set("u-9"))

    result = scan(snap)

    assert statuses(result, "MAA305") == {"r-untyped": PASS, "r-untyped-outsider": FAIL}
    assert finding(result, "MAA305", "r-untyped-outsider").evidence["approver_groups"] == [
        "grp-apps",
        "grp-devices",
    ]


def test_maa305_application_approvers_and_undecided_requests_are_not_evaluated() -> None:
    snap = requests_tenant()
    add_request(snap, "r-app-approver", approver=app_id_set("app-1"))
    add_request(snap, "r-pending", "needsApproval")
    add_request(snap, "r-user", approver=user_id_set("u-1"))

    assert statuses(scan(snap), "MAA305") == {"r-user": PASS}


def test_maa305_errors_when_groups_are_incomplete() -> None:
    snap = requests_tenant()
    add_request(snap, "r-user", approver=user_id_set("u-1"))
    set_source(
        snap,
        "groups",
        "partial",
        reason="transitive members not read",
        missing_permission="GroupMember.Read.All",
    )

    result = scan(snap)

    assert statuses(result, "MAA305") == {TENANT_ID: ERROR}
    assert statuses(result, "MAA301") == {"r-user": PASS}  # needs approval_requests only


def test_only_approved_or_completed_requests_are_judged_as_approvals() -> None:
    snap = new_snapshot()
    me = user_id_set("u-1")
    add_request(snap, "r-cancelled", "cancelled", requestor=me, approver=me)
    add_request(snap, "r-rejected", "rejected", requestor=me, approver=me)
    add_request(snap, "r-completed", "completed", requestor=me, approver=me)

    result = scan(snap)

    assert statuses(result, "MAA301") == {"r-completed": FAIL}
    assert statuses(result, "MAA302") == {"r-completed": PASS}


def test_maa302_a_device_as_approver_is_not_a_person() -> None:
    snap = new_snapshot()
    add_request(snap, "r-device", approver={"device": {"id": "d-1", "displayName": "Kiosk"}})

    result = scan(snap)

    assert statuses(result, "MAA302") == {"r-device": FAIL}
    assert finding(result, "MAA302", "r-device").message == "a device is recorded as the approver"
