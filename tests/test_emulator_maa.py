"""MAA interception in the emulator (justification, 412/403 and approval code), over real HTTP."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from maa_guard.emulator import Emulator

APPS = "/beta/deviceAppManagement/mobileApps"
REQUESTS = "/beta/deviceManagement/operationApprovalRequests"
POLICIES = "/beta/deviceManagement/operationApprovalPolicies"
START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
WRITE_ROLES = [
    "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementRBAC.ReadWrite.All",
    "DeviceManagementManagedDevices.PrivilegedOperations.All",
    "DeviceManagementConfiguration.ReadWrite.All",
]


def _user(user_id: str, app_id: str = "portal") -> dict[str, Any]:
    return {"kind": "user", "userId": user_id, "appId": app_id, "scp": " ".join(WRITE_ROLES)}


def _fixture() -> dict[str, Any]:
    member = {"@odata.type": "#microsoft.graph.user"}
    return {
        "tenant": {"id": "t1"},
        "tokens": {
            "automation": {"kind": "application", "appId": "auto-app", "roles": WRITE_ROLES},
            "excluded": {"kind": "application", "appId": "excluded-app", "roles": WRITE_ROLES},
            "excluded-delegated": _user("requester", app_id="excluded-app"),
            "requester": _user("requester"),
            "approver": _user("approver"),
            "outsider": _user("outsider"),
        },
        "collections": {
            "deviceManagement/operationApprovalPolicies": [
                {
                    "id": "p-app",
                    "displayName": "Apps",
                    "policyType": "app",
                    "approverGroupIds": ["g-approvers"],
                    "excludedApplicationIds": ["excluded-app"],
                },
                {"id": "p-wipe", "policyType": "deviceWipe", "approverGroupIds": ["g-approvers"]},
            ],
            "deviceManagement/operationApprovalRequests": [],
            "deviceManagement/auditEvents": [],
            "deviceAppManagement/mobileApps": [
                {"id": "m1", "displayName": "Company Portal"},
                {"id": "m2", "displayName": "Edge"},
            ],
            "deviceManagement/managedDevices": [{"id": "d1"}],
            "deviceManagement/deviceCategories": [],
            "groups": [{"id": "g-approvers"}],
            "users": [
                {"id": "requester", "displayName": "Rita", "userPrincipalName": "rita@x"},
                {"id": "approver", "displayName": "Abe", "userPrincipalName": "abe@x"},
                {"id": "outsider", "displayName": "Otto", "userPrincipalName": "otto@x"},
            ],
            "servicePrincipals": [
                {"id": "sp-excluded", "appId": "excluded-app", "displayName": "Excluded"},
                {"id": "sp-auto", "appId": "auto-app", "displayName": "Automation"},
            ],
        },
        "relationships": {
            "groups/{id}/members": {
                "g-approvers": [{**member, "id": "approver"}, {**member, "id": "requester"}]
            }
        },
    }


@functools.cache
def _http() -> httpx.Client:
    """One pooled client for the module: a fresh client per call costs a TLS context load."""
    return httpx.Client()


class Clock:
    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[Emulator]:
    with Emulator(_fixture(), throttle=False, now=clock, fixed_tokens=True) as running:
        yield running


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _send(
    emulator: Emulator,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **headers}
    content = None if body is None else json.dumps(body).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    return _http().request(method, f"{emulator.url}{path}", headers=headers, content=content)


def _patch(emulator: Emulator, token: str = "automation", **headers: str) -> httpx.Response:
    return _send(emulator, "PATCH", f"{APPS}/m1", token, {"displayName": "CP 2"}, **headers)


def _file(emulator: Emulator, token: str = "automation") -> str:
    response = _patch(emulator, token, **{"x-msft-approval-justification": _b64("CHG1")})
    assert response.status_code == 412, response.text
    return response.headers["x-msft-approval-code"]


def _requests(emulator: Emulator) -> list[dict[str, Any]]:
    response = _send(emulator, "GET", REQUESTS, "approver")
    return list(response.json()["value"])


def _act(emulator: Emulator, code: str, verb: str, token: str) -> httpx.Response:
    return _send(emulator, "POST", f"{REQUESTS}/{code}/{verb}", token, {"justification": "ok"})


def _audit_types(emulator: Emulator) -> list[str]:
    return [event["activityType"] for event in emulator.audit_events]


# ---- justification header ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message_start"),
    [
        (None, "Header 'x-msft-approval-justification' is required to request approval - "),
        ("not base64!", "'x-msft-approval-justification' must be a valid base64 encoded string."),
        (_b64("x" * 1025), "Decoded content of 'x-msft-approval-justification' header must"),
    ],
)
def test_bad_justification_is_400_and_files_nothing(
    emulator: Emulator, header: str | None, message_start: str
) -> None:
    headers = {} if header is None else {"x-msft-approval-justification": header}
    response = _patch(emulator, **headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert response.json()["error"]["message"].startswith(message_start)
    assert _requests(emulator) == []


def test_exactly_1024_characters_is_accepted(emulator: Emulator) -> None:
    response = _patch(emulator, **{"x-msft-approval-justification": _b64("x" * 1024)})
    assert response.status_code == 412


# ---- filing ----------------------------------------------------------------------------------


def test_filed_request_answers_412_with_nested_message_and_header(emulator: Emulator) -> None:
    response = _patch(emulator, **{"x-msft-approval-justification": _b64("CHG1 deploy")})
    code = response.headers["x-msft-approval-code"]
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (412, "BadRequest")
    nested = json.loads(error["message"])
    assert nested["_version"] == 3
    assert json.loads(nested["HttpHeaders"]) == {"x-msft-approval-code": code}
    assert f"x-msft-approval-code: {code}" in nested["Message"]
    [request] = _requests(emulator)
    assert request["id"] == code
    assert request["status"] == "needsApproval"
    assert request["requestJustification"] == "CHG1 deploy"
    assert request["requestor"]["application"] == {"id": "auto-app", "displayName": "Automation"}
    assert request["requiredOperationApprovalPolicyTypes"] == ["app"]
    assert request["expirationDateTime"] == "2026-11-04T08:00:00Z"
    assert _audit_types(emulator) == ["Create OperationApprovalRequest"]


def test_approval_mode_403() -> None:
    with Emulator(_fixture(), throttle=False, approval_mode="403", fixed_tokens=True) as running:
        response = _patch(running, **{"x-msft-approval-justification": _b64("CHG1")})
    code = response.headers["x-msft-approval-code"]
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "ApprovalRequired",
        "message": "Approval Required. Request Approval using the request ID returned as part "
        f"of the x-msft-approval-code response header. x-msft-approval-code: {code}",
    }


def test_409_while_a_request_for_the_same_object_is_pending(emulator: Emulator) -> None:
    _file(emulator)
    again = _patch(emulator, "requester", **{"x-msft-approval-justification": _b64("CHG2")})
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        "An active Approval Request already exists for this entity"
    )
    other = _send(
        emulator, "PATCH", f"{APPS}/m2", "automation", {"displayName": "E"},
        **{"x-msft-approval-justification": _b64("CHG3")},
    )  # fmt: skip
    assert other.status_code == 412


# ---- approval and resubmission ----------------------------------------------------------------


def test_full_flow_approve_then_resubmit_applies_the_change(emulator: Emulator) -> None:
    code = _file(emulator)
    assert _patch(emulator, **{"x-msft-approval-code": code}).status_code == 403  # not approved
    assert _act(emulator, code, "approve", "approver").status_code == 200
    [request] = _requests(emulator)
    assert (request["status"], request["approver"]["user"]["id"]) == ("approved", "approver")
    changed = _send(
        emulator, "PATCH", f"{APPS}/m1", "automation", {"displayName": "other"},
        **{"x-msft-approval-code": code},
    )  # fmt: skip
    assert (changed.status_code, changed.json()["error"]["message"]) == (
        403,
        "An error has occurred",
    )
    assert _patch(emulator, "requester", **{"x-msft-approval-code": code}).status_code == 403
    assert _patch(emulator, **{"x-msft-approval-code": code}).status_code == 204
    app = _send(emulator, "GET", f"{APPS}/m1", "automation").json()
    assert app["displayName"] == "CP 2"
    assert _requests(emulator)[0]["status"] == "completed"
    assert _patch(emulator, **{"x-msft-approval-code": code}).status_code == 403  # used up
    assert _audit_types(emulator) == [
        "Create OperationApprovalRequest",
        "Approve OperationApprovalRequest",
        "Patch MobileApp",
        "Complete OperationApprovalRequest",
    ]


def test_base64_approval_code_is_400(emulator: Emulator) -> None:
    code = _file(emulator)
    response = _patch(emulator, **{"x-msft-approval-code": _b64(code)})
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]
        == "Invalid approval header format, expected GUID format"
    )


@pytest.mark.parametrize(
    ("token", "requester", "status"),
    [
        ("automation", "requester", 403),  # applications never approve
        ("requester", "requester", 403),  # not the requester
        ("outsider", "automation", 403),  # not in an approver group
        ("approver", "automation", 200),
        ("requester", "automation", 200),  # an approver who did not file it
    ],
)
def test_who_may_approve(emulator: Emulator, token: str, requester: str, status: int) -> None:
    code = _file(emulator, requester)
    assert _act(emulator, code, "approve", token).status_code == status


def test_reject_blocks_resubmission(emulator: Emulator) -> None:
    code = _file(emulator)
    assert _act(emulator, code, "reject", "approver").status_code == 200
    assert _requests(emulator)[0]["status"] == "rejected"
    assert _patch(emulator, **{"x-msft-approval-code": code}).status_code == 403
    assert _act(emulator, code, "approve", "approver").status_code == 400


def test_requests_expire(emulator: Emulator, clock: Clock) -> None:
    code = _file(emulator)
    clock.moment = START + timedelta(hours=72)
    assert _requests(emulator)[0]["status"] == "expired"
    assert _act(emulator, code, "approve", "approver").status_code == 400
    assert _file(emulator) != code  # the object is free again


# ---- exclusions and unprotected routes -------------------------------------------------------


def test_excluded_app_only_call_passes_and_is_audited(emulator: Emulator) -> None:
    assert _patch(emulator, "excluded").status_code == 204
    [event] = [e for e in emulator.audit_events if e["activityType"].startswith("Pass")]
    assert event["actor"]["applicationId"] == "excluded-app"
    assert event["actor"]["userPrincipalName"] is None
    assert _requests(emulator) == []


def test_delegated_call_through_an_excluded_app_is_intercepted(emulator: Emulator) -> None:
    assert _patch(emulator, "excluded-delegated").status_code == 400
    assert _file(emulator, "excluded-delegated")


def test_exclusion_only_covers_its_policy_type(emulator: Emulator) -> None:
    wipe = _send(emulator, "POST", "/beta/deviceManagement/managedDevices/d1/wipe", "excluded", {})
    assert wipe.status_code == 400  # deviceWipe policy does not exclude the app


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", f"{POLICIES}/p-app", {"excludedApplicationIds": ["excluded-app", "auto-app"]}),
        ("PATCH", f"{POLICIES}/p-wipe", {"excludedApplicationIds": ["excluded-app"]}),
        ("POST", POLICIES, {"displayName": "Scripts", "policyType": "script"}),
        ("DELETE", f"{POLICIES}/p-app", None),
    ],
    ids=["own-policy", "other-policy", "create", "delete"],
)
def test_an_excluded_app_needs_approval_to_change_access_policies(
    emulator: Emulator, method: str, path: str, body: dict[str, Any] | None
) -> None:
    unjustified = _send(emulator, method, path, "excluded", body)
    assert unjustified.status_code == 400
    justified = _send(
        emulator, method, path, "excluded", body, **{"x-msft-approval-justification": _b64("x")}
    )
    assert justified.status_code == 412
    prefer = {"Prefer": "include-unknown-enum-members"}
    [request] = _send(emulator, "GET", REQUESTS, "approver", **prefer).json()["value"]
    assert request["requiredOperationApprovalPolicyTypes"] == ["operationApprovalPolicy"]
    assert request["requestor"]["application"]["id"] == "excluded-app"
    assert _audit_types(emulator) == ["Create OperationApprovalRequest"]


def test_an_exclusion_from_the_apps_policy_does_not_exempt_script_writes() -> None:
    fixture = _fixture()
    scripts_policy = {"id": "p-script", "policyType": "script", "approverGroupIds": ["g-approvers"]}
    fixture["collections"]["deviceManagement/operationApprovalPolicies"].append(scripts_policy)
    fixture["collections"]["deviceManagement/deviceManagementScripts"] = []
    with Emulator(fixture, throttle=False, now=Clock(), fixed_tokens=True) as running:
        script = {"displayName": "Collect logs"}
        path = "/beta/deviceManagement/deviceManagementScripts"
        assert _send(running, "POST", path, "excluded", script).status_code == 400
        assert _patch(running, "excluded").status_code == 204  # its own policy's type passes


def test_unprotected_route_writes_directly(emulator: Emulator) -> None:
    created = _send(
        emulator,
        "POST",
        "/beta/deviceManagement/deviceCategories",
        "automation",
        {"displayName": "K"},
    )
    assert created.status_code == 201
    assert created.json()["displayName"] == "K"
    assert _audit_types(emulator) == ["Post DeviceCategory"]


def test_exclusion_change_needs_approval_and_is_audited(emulator: Emulator) -> None:
    body = {"excludedApplicationIds": ["excluded-app", "auto-app"]}
    headers = {"x-msft-approval-justification": _b64("add automation")}
    filed = _send(emulator, "PATCH", f"{POLICIES}/p-app", "requester", body, **headers)
    assert filed.status_code == 412
    code = filed.headers["x-msft-approval-code"]
    assert _act(emulator, code, "approve", "approver").status_code == 200
    done = _send(
        emulator, "PATCH", f"{POLICIES}/p-app", "requester", body, **{"x-msft-approval-code": code}
    )
    assert done.status_code == 204
    [added] = [e for e in emulator.audit_events if "Exclusion" in e["activityType"]]
    assert added["activity"] == "Add exclusion to access policy"
    assert [(r["resourceId"], r["type"]) for r in added["resources"]] == [
        ("p-app", "OperationApprovalPolicy"),
        ("auto-app", "ServicePrincipal"),
    ]
    assert _patch(emulator, "automation").status_code == 204  # now excluded


def test_intune_writes_are_throttled_at_100_per_20_seconds() -> None:
    fixture = _fixture()
    fixture["collections"]["deviceManagement/operationApprovalPolicies"] = []  # nothing protected
    auth = {"Authorization": "Bearer automation"}
    with (
        Emulator(fixture, clock=lambda: 5.0, fixed_tokens=True) as running,
        httpx.Client(headers=auth) as client,
    ):
        url = f"{running.url}{APPS}/m1"
        statuses = [client.patch(url, json={"displayName": str(i)}).status_code for i in range(101)]
        assert client.get(url).status_code == 200
    assert statuses == [204] * 100 + [429]


# ---- cancelMyRequest (collection-bound), payload properties, the after-filing hook -------------


def _cancel(emulator: Emulator, token: str, body: dict[str, Any]) -> httpx.Response:
    return _send(emulator, "POST", f"{REQUESTS}/cancelMyRequest", token, body)


def test_app_only_requester_cancels_its_own_request(emulator: Emulator) -> None:
    code = _file(emulator)
    assert _cancel(emulator, "excluded", {"id": code}).status_code == 403  # another app
    assert _cancel(emulator, "requester", {"id": code}).status_code == 403  # a user
    response = _cancel(emulator, "automation", {"id": code})
    assert (response.status_code, response.content) == (204, b"")
    assert _requests(emulator)[0]["status"] == "cancelled"
    assert _cancel(emulator, "automation", {"id": code}).status_code == 400  # no longer pending
    assert _audit_types(emulator) == [
        "Create OperationApprovalRequest",
        "Cancel OperationApprovalRequest",
    ]


def test_delegated_requester_cancels_through_the_collection_action(emulator: Emulator) -> None:
    code = _file(emulator, "requester")
    assert _cancel(emulator, "approver", {"id": code}).status_code == 403
    assert _cancel(emulator, "requester", {"id": code}).status_code == 204


def test_cancel_my_request_needs_an_existing_id_in_the_body(emulator: Emulator) -> None:
    missing = _cancel(emulator, "automation", {})
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "BadRequest")
    unknown = _cancel(emulator, "automation", {"id": "aabb1234-5678-9012-abcd-ef0123456789"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_entity_bound_cancel_my_request_is_an_unknown_segment(emulator: Emulator) -> None:
    code = _file(emulator)
    response = _send(emulator, "POST", f"{REQUESTS}/{code}/cancelMyRequest", "automation", {})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Resource not found for the segment 'cancelMyRequest'."
    )
    assert _requests(emulator)[0]["status"] == "needsApproval"


def test_filed_requests_name_their_object(emulator: Emulator) -> None:
    _file(emulator)
    wipe = _send(
        emulator, "POST", "/beta/deviceManagement/managedDevices/d1/wipe", "automation", {},
        **{"x-msft-approval-justification": _b64("lost laptop")},
    )  # fmt: skip
    assert wipe.status_code == 412
    api = "Microsoft.Management.Services.Api."
    payloads = [
        {k: r[k] for k in ("payloadId", "payloadType", "payloadOperation")}
        for r in _requests(emulator)
    ]
    assert payloads == [
        {"payloadId": "m1", "payloadType": f"{api}MobileApp", "payloadOperation": "Update"},
        {"payloadId": "d1", "payloadType": f"{api}ManagedDevice", "payloadOperation": "Action"},
    ]


def test_after_filing_hook_sees_the_code_and_may_replace_the_reply(emulator: Emulator) -> None:
    from maa_guard.emulator.wire import Reply

    seen: list[str] = []

    def unavailable(code: str) -> Reply:
        seen.append(code)
        return Reply(503, {"error": {"code": "ServiceUnavailable", "message": "later"}})

    emulator.service.writes.after_filing = unavailable  # type: ignore[union-attr]
    response = _patch(emulator, **{"x-msft-approval-justification": _b64("CHG1")})
    assert response.status_code == 503
    assert seen == [_requests(emulator)[0]["id"]]
