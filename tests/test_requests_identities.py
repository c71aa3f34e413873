"""Approval requests with null identities, malformed items, and access-policy changes, offline.

Live tenants return ``requestor`` and ``approver`` as null: MAA301, MAA302 and MAA305 take them
from the MAA audit events naming the request, and report one ``error`` per approved or completed
request whose needed identity is known neither way. One item that does not decode is one
``error`` per rule reading its source; the source stays complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import (
    DOMAIN,
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    TENANT_ID,
    Json,
    add_event,
    add_group,
    add_policy,
    add_request,
    add_user,
    app_id_set,
    approver_group,
    finding,
    findings,
    group_ref,
    new_snapshot,
    scan,
    set_source,
    statuses,
    user_id_set,
    user_ref,
)

from maa_guard.collect.common import Problems, decode_all
from maa_guard.config import Settings
from maa_guard.evaluate.context import Context
from maa_guard.evaluate.identities import AUDIT_LOG, GRAPH, action_of
from maa_guard.gate.decision import exit_code
from maa_guard.model import SourceState
from maa_guard.snapshot import ApprovalRequest, AuditActor, AuditEvent, MalformedItem, SourceStatus
from maa_guard.snapshot.codec import decode, parse_datetime
from maa_guard.snapshot.file import load_snapshot, parse_snapshot, snapshot_to_json

REPORTING_TENANT = Path(__file__).resolve().parent / "fixtures" / "reporting-tenant.json"
IDENTITY_RULES = ("MAA301", "MAA302", "MAA305")
REQUEST_RULES = ("MAA301", "MAA302", "MAA303", "MAA304", "MAA305")
ONLY_REQUEST_RULES = Settings(only_rules=REQUEST_RULES)
BOTH_UNKNOWN = (
    "could not verify: requestor and approver are null in Graph and no MAA audit event names "
    "this request"
)
APPROVER_UNKNOWN = (
    "could not verify: approver is null in Graph and no MAA audit event names this request"
)


def tenant() -> Json:
    """An app policy approved by grp-apps (u-1, u-2); a wipe policy approved by grp-devices."""
    snap = new_snapshot()
    add_policy(snap, "p-app", "app", approvers=["grp-apps"])
    add_policy(snap, "p-wipe", "deviceWipe", approvers=["grp-devices"])
    approver_group(snap, "grp-apps", ["u-1", "u-2"])
    add_user(snap, "u-3")
    add_group(snap, "grp-devices", [user_ref("u-3"), group_ref("grp-apps")])
    return snap


def faceless(snap: Json, request_id: str, status: str = "completed", **fields: Any) -> Json:
    """A request as live tenants return it: requestor and approver null."""
    request = add_request(snap, request_id, status, **fields)
    request.update(requestor=None, approver=None)
    return request


def names(request_id: str) -> list[Json]:
    return [{"resourceId": request_id, "displayName": "", "type": "OperationApprovalRequest"}]


def filed_by_app(snap: Json, request_id: str, app_id: str, category: str = "Role") -> Json:
    return add_event(
        snap, app_id, "Create OperationApprovalRequest", category=category,
        activity="MAA block: approval request filed", resources=names(request_id),
    )  # fmt: skip


def filed_by_user(snap: Json, request_id: str, user_id: str) -> Json:
    return add_event(
        snap, "portal", "Create OperationApprovalRequest", category="MultiAdminApproval",
        activity="MAA block: approval request filed", upn=f"{user_id}@{DOMAIN}",
        resources=names(request_id),
    )  # fmt: skip


def decided(snap: Json, request_id: str, verb: str, *, user_id: str = "", app_id: str = "") -> Json:
    """An approve or reject event by a person in the portal, or by an app-only caller."""
    upn = f"{user_id}@{DOMAIN}" if user_id else None
    return add_event(
        snap, app_id or "portal", f"{verb} OperationApprovalRequest",
        category="MultiAdminApproval", activity=f"MAA {verb.lower()}", upn=upn,
        resources=names(request_id),
    )  # fmt: skip


def completed_by_app(snap: Json, request_id: str, app_id: str) -> Json:
    return add_event(
        snap, app_id, "Complete OperationApprovalRequest", category="Role",
        activity="MAA: approved change applied", resources=names(request_id),
    )  # fmt: skip


# ---- identities from the audit log ----------------------------------------------------------


def test_null_identities_are_taken_from_the_maa_audit_events_with_their_source() -> None:
    snap = tenant()
    faceless(snap, "r-1")
    filed = filed_by_app(snap, "r-1", "app-auto")
    approved = decided(snap, "r-1", "Approve", user_id="u-2")
    completed_by_app(snap, "r-1", "app-auto")

    result = scan(snap, ONLY_REQUEST_RULES)

    requestor = {
        "id": "app-auto",
        "displayName": "app-auto",
        "source": AUDIT_LOG,
        "eventId": filed["id"],
    }
    approver = {"id": "u-2", "displayName": "u-2", "source": AUDIT_LOG, "eventId": approved["id"]}
    assert {rule: statuses(result, rule) for rule in IDENTITY_RULES} == {
        "MAA301": {"r-1": PASS},
        "MAA302": {"r-1": PASS},
        "MAA305": {"r-1": PASS},
    }
    assert finding(result, "MAA301", "r-1").evidence == {
        "requestor": requestor,
        "approver": approver,
        "status": "completed",
    }
    assert finding(result, "MAA301", "r-1").resource.display_name == "app-auto"
    assert finding(result, "MAA302", "r-1").evidence == {
        "approver": approver,
        "status": "completed",
    }
    assert finding(result, "MAA305", "r-1").evidence == {
        "approver": approver,
        "policy_types": ["app"],
        "access_policy_change": False,
        "approver_groups": ["grp-apps"],
        "member_of": ["grp-apps"],
    }
    assert exit_code(result) == 0


def test_graph_identities_win_and_the_audit_log_fills_only_what_graph_left_null() -> None:
    snap = tenant()
    request = add_request(snap, "r-1", "approved", requestor=user_id_set("u-1"))
    request["approver"] = None
    filed_by_user(snap, "r-1", "u-9")  # Graph's requestor stands
    approved = decided(snap, "r-1", "Approve", user_id="u-2")

    snapshot = parse_snapshot(snap)
    identities = Context(snapshot).request_identities(snapshot.approval_requests[0])

    assert identities.requestor is not None and identities.approver is not None
    assert (identities.requestor.source, identities.requestor.principal.id) == (GRAPH, "u-1")
    assert (identities.approver.source, identities.approver.event_id) == (AUDIT_LOG, approved["id"])
    assert identities.named_by_events == 2


def test_a_self_approval_seen_only_in_the_audit_log_fails_maa301() -> None:
    snap = tenant()
    faceless(snap, "r-self")
    filed_by_user(snap, "r-self", "u-1")
    decided(snap, "r-self", "Approve", user_id="u-1")

    result = scan(snap)

    assert statuses(result, "MAA301") == {"r-self": FAIL}
    assert finding(result, "MAA301", "r-self").message == "the requestor approved their own request"
    assert exit_code(result) == 1


def test_an_app_only_approve_event_fails_maa302_and_maa305_leaves_it_alone() -> None:
    snap = tenant()
    faceless(snap, "r-app")
    filed_by_app(snap, "r-app", "app-auto")
    decided(snap, "r-app", "Approve", app_id="app-rogue")

    result = scan(snap)

    assert statuses(result, "MAA302") == {"r-app": FAIL}
    assert finding(result, "MAA302", "r-app").message == (
        "an application is recorded as the approver"
    )
    assert finding(result, "MAA302", "r-app").evidence["approver"]["source"] == AUDIT_LOG
    assert statuses(result, "MAA301") == {"r-app": PASS}
    assert statuses(result, "MAA305") == {TENANT_ID: SKIPPED}


def test_the_completing_actor_is_the_requestor_when_no_filing_event_names_the_request() -> None:
    snap = tenant()
    faceless(snap, "r-1")
    decided(snap, "r-1", "Approve", user_id="u-2")
    completed = completed_by_app(snap, "r-1", "app-auto")

    result = scan(snap)

    assert finding(result, "MAA301", "r-1").evidence["requestor"] == {
        "id": "app-auto",
        "displayName": "app-auto",
        "source": AUDIT_LOG,
        "eventId": completed["id"],
    }


def test_events_are_matched_by_resource_and_words_never_by_category() -> None:
    snap = tenant()
    faceless(snap, "r-1")
    add_event(
        snap, "app-auto", "Create OperationApprovalRequest", category="Anything",
        resources=names("R-1"),
    )  # fmt: skip
    add_event(
        snap, "portal", "Approve OperationApprovalRequest", category="Other",
        upn=f"u-2@{DOMAIN}", resources=names("r-other"),
    )  # fmt: skip

    result = scan(snap)

    assert finding(result, "MAA301", "r-1").message == (
        "could not verify: approver is null in Graph and no MAA audit event naming this request "
        "says who approved it"
    )


@pytest.mark.parametrize(
    ("activity", "activity_type", "expected"),
    [
        ("MAA block: approval request filed", "Create OperationApprovalRequest", "file"),
        ("MAA approve", "Approve OperationApprovalRequest", "approve"),
        ("MAA reject", "Reject OperationApprovalRequest", "reject"),
        ("MAA: approved change applied", "Complete OperationApprovalRequest", "complete"),
        ("MAA cancel", "Cancel OperationApprovalRequest", None),
        ("Request approval", "", "file"),
        ("Update OperationApprovalRequest", "Update OperationApprovalRequest", None),
    ],
)
def test_what_an_event_says_about_a_request(
    activity: str, activity_type: str, expected: str | None
) -> None:
    event = AuditEvent(
        "e", parse_datetime("2026-10-20T10:00:00Z"), AuditActor(), activity, activity_type
    )
    assert action_of(event) == expected


def test_a_failed_approval_attempt_names_no_approver() -> None:
    snap = tenant()
    faceless(snap, "r-1", requestor=None)
    filed_by_app(snap, "r-1", "app-auto")
    decided(snap, "r-1", "Approve", user_id="u-9")["activityResult"] = "Failure"

    assert finding(scan(snap), "MAA302", "r-1").message == (
        "could not verify: approver is null in Graph and no MAA audit event naming this request "
        "says who approved it"
    )


# ---- unknown identities ---------------------------------------------------------------------


def test_each_approved_or_completed_request_without_known_identities_is_one_error() -> None:
    snap = tenant()
    faceless(snap, "r-approved", "approved", justification="CHG0012345 deploy the VPN client")
    faceless(snap, "r-completed", "completed", justification="x")
    faceless(snap, "r-pending", "needsApproval", expires="2026-11-01T20:00:00Z")
    faceless(snap, "r-rejected", "rejected")
    filed_by_app(snap, "r-elsewhere", "app-auto")

    result = scan(snap, ONLY_REQUEST_RULES)

    for rule in IDENTITY_RULES:
        assert statuses(result, rule) == {"r-approved": ERROR, "r-completed": ERROR}, rule
    assert finding(result, "MAA301", "r-approved").message == BOTH_UNKNOWN
    assert finding(result, "MAA301", "r-approved").evidence == {
        "requestor": None,
        "approver": None,
        "status": "approved",
        "audit_events_naming_request": 0,
    }
    assert finding(result, "MAA302", "r-completed").message == APPROVER_UNKNOWN
    assert finding(result, "MAA305", "r-completed").message == APPROVER_UNKNOWN
    # MAA303 and MAA304 need no identity: every request is judged.
    assert statuses(result, "MAA303") == {"r-approved": PASS, "r-completed": FAIL}
    assert statuses(result, "MAA304") == {"r-pending": FAIL}
    assert exit_code(result) == 3


def test_an_unknown_identity_says_when_the_audit_log_was_not_read_completely() -> None:
    snap = tenant()
    faceless(snap, "r-1")
    set_source(snap, "audit_events", "partial", reason="HTTP 503")

    result = scan(snap)

    assert finding(result, "MAA302", "r-1").message == (
        f"{APPROVER_UNKNOWN} (audit_events is partial (HTTP 503))"
    )


# ---- MAA305 and access-policy changes -------------------------------------------------------


@pytest.mark.parametrize("types", [["operationApprovalPolicy"], ["unknownFutureValue"]])
def test_maa305_an_access_policy_change_may_be_approved_by_any_approver_group(
    types: list[str],
) -> None:
    snap = tenant()
    add_request(snap, "r-device-approver", types=types, approver=user_id_set("u-3"))
    add_request(snap, "r-app-approver", types=types, approver=user_id_set("u-1"))
    add_request(snap, "r-outsider", types=types, approver=user_id_set("u-9"))

    result = scan(snap)

    assert statuses(result, "MAA305") == {
        "r-device-approver": PASS,
        "r-app-approver": PASS,
        "r-outsider": FAIL,
    }
    outsider = finding(result, "MAA305", "r-outsider")
    assert outsider.message == (
        "the approver is not a current member of any access policy's approver group "
        "(the request changes an access policy)"
    )
    assert outsider.evidence == {
        "approver": {"id": "u-9", "displayName": "u-9", "source": GRAPH},
        "policy_types": types,
        "access_policy_change": True,
        "approver_groups": ["grp-apps", "grp-devices"],
    }
    assert finding(result, "MAA305", "r-device-approver").evidence["member_of"] == ["grp-devices"]
    assert statuses(result, "MAA301") == dict.fromkeys(
        ("r-device-approver", "r-app-approver", "r-outsider"), PASS
    )


# ---- one malformed item is one error ----------------------------------------------------------


def test_a_malformed_item_is_recorded_and_the_source_stays_complete() -> None:
    problems = Problems()
    good = {"id": "r-ok", "status": "approved", "requestDateTime": "2026-10-20T09:00:00Z"}
    bad = {"id": "r-bad", "status": "approved", "requestDateTime": None}
    nameless = {"status": "approved", "requestDateTime": "2026-10-20T09:00:00Z"}

    decoded = decode_all(ApprovalRequest, [good, bad, nameless], problems)

    assert [request.id for request in decoded] == ["r-ok"]
    assert problems.status() == SourceStatus(
        SourceState.COMPLETE,
        malformed=(
            MalformedItem(
                "approvalRequest",
                "r-bad",
                "requestDateTime",
                "expected an ISO 8601 date-time with a time zone, got null",
            ),
            MalformedItem("approvalRequest", "#2", "id", "required field is missing"),
        ),
    )


def test_every_rule_reading_the_source_reports_each_malformed_item_once() -> None:
    snap = tenant()
    add_request(snap, "r-ok", approver=user_id_set("u-2"))
    snap["sources"]["approval_requests"]["malformed"] = [
        {"kind": "approvalRequest", "id": "r-bad", "path": "requestor.user", "problem": "expected "
         "an object, got a list"},
    ]  # fmt: skip

    result = scan(snap, ONLY_REQUEST_RULES)

    message = (
        "could not verify: Graph returned this approvalRequest but it has a malformed "
        "requestor.user (expected an object, got a list); it was left out of the snapshot"
    )
    for rule in ("MAA301", "MAA302", "MAA303", "MAA304", "MAA305"):
        malformed = [f for f in findings(result, rule) if f.resource.id == "r-bad"]
        assert [(f.status, f.resource.type, f.message) for f in malformed] == [
            (ERROR, "approvalRequest", message)
        ], rule
        assert malformed[0].evidence == {
            "source": "approval_requests",
            "field": "requestor.user",
            "problem": "expected an object, got a list",
        }
    assert statuses(result, "MAA301") == {"r-ok": PASS, "r-bad": ERROR}
    # Nothing else to judge: the error replaces "nothing to evaluate".
    assert statuses(result, "MAA304") == {"r-bad": ERROR}
    assert exit_code(result) == 3


def test_a_malformed_item_concerns_only_the_rules_reading_its_source() -> None:
    snap = tenant()
    snap["sources"]["users"]["malformed"] = [
        {"kind": "user", "id": "#0", "path": "id", "problem": "required field is missing"}
    ]

    result = scan(snap)

    flagged = sorted({f.rule_id for f in result.findings if f.resource.id == "#0"})
    assert flagged == ["MAA202", "MAA207", "MAA208"]
    assert finding(result, "MAA207", "#0").message == (
        "could not verify: Graph returned this user but it has a malformed id (required field "
        "is missing); it was left out of the snapshot"
    )


# ---- snapshots --------------------------------------------------------------------------------


def test_an_older_snapshot_without_the_new_fields_loads() -> None:
    raw = json.loads(REPORTING_TENANT.read_text(encoding="utf-8"))
    assert "malformed" not in raw["sources"]["approval_requests"]
    assert not any("payloadId" in r for r in raw["approval_requests"])

    snapshot = load_snapshot(REPORTING_TENANT)

    request = next(r for r in snapshot.approval_requests if r.id == "req-good")
    assert request.requestor is not None
    assert (request.payload_id, request.payload_type, request.payload_operation) == ("", "", "")
    assert snapshot.sources["approval_requests"].malformed == ()


def test_null_identities_payload_fields_and_malformed_items_survive_a_round_trip() -> None:
    snap = tenant()
    request = faceless(snap, "r-1")
    request.update(
        payloadId="m1",
        payloadType="Microsoft.Management.Services.Api.MobileApp",
        payloadSubtype="#microsoft.graph.win32LobApp",
        payloadOperation="Update",
        payloadName="Company Portal",
        payload='{"displayName":"secret setting"}',
        displayPayload='{"displayName":"secret setting"}',
    )
    del request["requestor"]
    snap["sources"]["groups"]["malformed"] = [
        {"kind": "group", "id": "g-9", "path": "securityEnabled", "problem": "expected a boolean"}
    ]

    snapshot = parse_snapshot(snap)
    text = snapshot_to_json(snapshot)

    assert parse_snapshot(json.loads(text)) == snapshot
    assert "secret setting" not in text
    stored = snapshot.approval_requests[0]
    assert (stored.requestor, stored.approver) == (None, None)
    assert (stored.payload_id, stored.payload_operation, stored.payload_name) == (
        "m1",
        "Update",
        "Company Portal",
    )
    assert snapshot.sources["groups"].malformed == (
        MalformedItem("group", "g-9", "securityEnabled", "expected a boolean"),
    )
    assert decode(ApprovalRequest, {**request, "payloadId": None}).payload_id == ""


def test_older_snapshot_requests_with_an_app_id_set_keep_their_requestor() -> None:
    snap = tenant()
    add_request(snap, "r-1", requestor=app_id_set("app-1"), approver=user_id_set("u-2"))

    assert statuses(scan(snap), "MAA301") == {"r-1": PASS}
