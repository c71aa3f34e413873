"""The emulator's ``published`` profile: what Microsoft's Graph publishes, over real HTTP."""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.cli import main
from maa_guard.cli.emulate import PROFILES as CLI_PROFILES
from maa_guard.emulator import (
    MAA_AUDIT_CATEGORY,
    PROFILES,
    READER_TOKEN,
    Emulator,
    app_token,
    fixture_from_snapshot,
    user_token,
)
from maa_guard.emulator.profiles import PUBLISHED_POLICY_PROPERTIES
from maa_guard.snapshot.file import load_snapshot
from maa_guard.snapshot.published import DOCUMENTED_LATE_POLICY_TYPES, PUBLISHED_POLICY_TYPES

DEMO = Path(__file__).resolve().parent.parent / "maa_guard" / "data" / "demo" / "snapshot.json"
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
POLICIES = "deviceManagement/operationApprovalPolicies"
REQUESTS = "deviceManagement/operationApprovalRequests"
AUDIT = "deviceManagement/auditEvents"
APPS = "deviceAppManagement/mobileApps"
APP_POLICY = "a44b31e5-8ba9-4337-9698-57b8e463df88"
COMPANY_PORTAL = "1fe65449-87d2-53d5-a461-0124d7ec729d"
PATCH_MY_PC = "350f6c08-5658-4455-a594-a9245970fd44"  # excluded from APP_POLICY (property)
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"  # apps ReadWrite, not excluded by property
LEGACY_REPORTING = "688ffb37-753c-4b0b-be68-3dca10bb123f"  # config ReadWrite, excluded
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # direct member of the app policy's approvers
ALEX = "5a7b46b1-de4f-481f-bce2-7f4ee40714eb"  # likewise
API = "Microsoft.Management.Services.Api."
UNKNOWN_PROPERTY = (
    "The property 'excludedApplicationIds' does not exist on type "
    "'microsoft.graph.operationApprovalPolicy'. Make sure to only use property names that are "
    "defined by the type."
)
DEMO_CATEGORIES = ["Application", "Device", "DeviceConfiguration", "Enrollment"]
MAA_ACTIVITY_TYPES = [
    "Add OperationApprovalPolicyExclusion",
    "Approve OperationApprovalRequest",  # the service audits who decided each request
    "Create OperationApprovalPolicy",
    "Create OperationApprovalRequest",  # and who filed it
    "Patch DeviceConfiguration",  # its activity says "(approval required)"
    "Patch DeviceManagementConfigurationPolicy",  # likewise
    "Reject OperationApprovalRequest",
    "Remove OperationApprovalPolicyExclusion",
]


@functools.cache
def _http() -> httpx.Client:
    """One pooled client for the module: a fresh client per call costs a TLS context load."""
    return httpx.Client()


@functools.cache
def _demo_fixture() -> dict[str, Any]:
    return fixture_from_snapshot(load_snapshot(DEMO))


def _fixture() -> dict[str, Any]:
    return copy.deepcopy(_demo_fixture())


@pytest.fixture
def published() -> Iterator[Emulator]:
    with Emulator(
        _fixture(), profile="published", throttle=False, now=lambda: NOW, fixed_tokens=True
    ) as running:
        yield running


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _send(
    emulator: Emulator,
    method: str,
    path: str,
    token: str = READER_TOKEN,
    body: dict[str, Any] | None = None,
    **headers: str,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **headers}
    content = None if body is None else json.dumps(body).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    url = f"{emulator.url}/beta/{path}"
    return _http().request(method, url, headers=headers, content=content)


def _get(emulator: Emulator, path: str, **headers: str) -> Any:
    response = _send(emulator, "GET", path, READER_TOKEN, None, **headers)
    assert response.status_code == 200, response.text
    return response.json()


def _justified(text: str = "CHG1") -> dict[str, str]:
    return {"x-msft-approval-justification": _b64(text)}


def _filed_ids(emulator: Emulator) -> list[str]:
    return [str(r["id"]) for r in emulator.tenant.collections[REQUESTS]]


# ---- the API ----------------------------------------------------------------------------------


def test_profiles_are_named_alike_in_the_api_and_the_cli() -> None:
    assert PROFILES == CLI_PROFILES == ("default", "published")


def test_unknown_profile_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="profile must be one of default, published, not 'live'"):
        Emulator(_fixture(), profile="live")


def test_published_profile_answers_412_only() -> None:
    with pytest.raises(ValueError, match="the published profile answers a filed request with 412"):
        Emulator(_fixture(), profile="published", approval_mode="403")


def test_cli_refuses_403_with_the_published_profile(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["emulate", "--tenant", str(DEMO), "--profile", "published", "--approval-mode", "403"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: --approval-mode 403 does not go with --profile published"
    )


def test_cli_serves_the_published_profile(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "maa_guard", "emulate", "--tenant", str(DEMO)]
    process = subprocess.Popen(
        [*command, "--profile", "published"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        url = process.stderr.readline().split("Graph emulator: ", 1)[1].split(";", 1)[0]
        token = process.stderr.readline().rstrip("\n").rpartition(": ")[2]  # the reader's
        answer = httpx.get(f"{url}/{POLICIES}", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert {key for p in answer.json()["value"] for key in p} == set(
            PUBLISHED_POLICY_PROPERTIES
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- 1. access policies: the published properties only -----------------------------------------


def test_policies_serve_exactly_the_published_properties(published: Emulator) -> None:
    listed = _get(published, POLICIES)["value"]
    assert len(listed) == 7
    assert all(sorted(p) == sorted(PUBLISHED_POLICY_PROPERTIES) for p in listed)
    single = _get(published, f"{POLICIES}/{APP_POLICY}")
    assert sorted(single) == sorted(["@odata.context", *PUBLISHED_POLICY_PROPERTIES])
    selected = _get(published, f"{POLICIES}/{APP_POLICY}?$select=excludedApplicationIds")
    assert sorted(selected) == ["@odata.context", "@odata.type", "id"]
    internal = published.tenant.find(POLICIES, APP_POLICY)
    assert internal is not None and internal["excludedApplicationIds"] == [PATCH_MY_PC]


def test_default_profile_still_serves_the_exclusion_property() -> None:
    with Emulator(_fixture(), throttle=False, fixed_tokens=True) as running:
        policy = _get(running, f"{POLICIES}/{APP_POLICY}")
    assert policy["excludedApplicationIds"] == [PATCH_MY_PC]


def test_only_the_default_profile_serves_the_exclusion_property_on_every_policy() -> None:
    with Emulator(_fixture(), throttle=False, fixed_tokens=True) as running:
        listed = _get(running, POLICIES)["value"]
    fixture = _demo_fixture()["collections"][POLICIES]
    assert [p["excludedApplicationIds"] for p in listed] == [
        p.get("excludedApplicationIds", []) for p in fixture
    ]
    assert [p["displayName"] for p in listed if p["excludedApplicationIds"] == []] == [
        "Intune RBAC changes",
        "Compliance policies",
    ]
    with Emulator(_fixture(), profile="published", throttle=False, fixed_tokens=True) as running:
        assert not any("excludedApplicationIds" in p for p in _get(running, POLICIES)["value"])


def test_excluded_app_write_still_passes(published: Emulator) -> None:
    body = {"displayName": "Company Portal 6"}
    passed = _send(published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(PATCH_MY_PC), body)
    assert (passed.status_code, passed.content) == (204, b"")
    assert _get(published, f"{APPS}/{COMPANY_PORTAL}")["displayName"] == "Company Portal 6"
    blocked = _send(
        published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(TAG_SYNC), body, **_justified()
    )
    assert blocked.status_code == 412
    assert [(e["activityType"], e["category"]) for e in published.audit_events] == [
        ("Pass OperationApprovalRequest", MAA_AUDIT_CATEGORY),
        ("Patch MobileApp", MAA_AUDIT_CATEGORY),
        ("Create OperationApprovalRequest", MAA_AUDIT_CATEGORY),
    ]


def test_an_approved_put_keeps_the_hidden_exclusions(published: Emulator) -> None:
    body = {
        "@odata.type": "#microsoft.graph.operationApprovalPolicy",
        "displayName": "Apps - all platforms",
        "policyType": "app",
        "approverGroupIds": ["2f991ba4-2604-497e-afa9-3c9b0d4f500c"],
    }
    token, path = app_token(LEGACY_REPORTING), f"{POLICIES}/{APP_POLICY}"
    filed = _send(published, "PUT", path, token, body, **_justified())
    assert filed.status_code == 412  # an exclusion never exempts an access-policy change
    code = filed.headers["x-msft-approval-code"]
    approve = _send(
        published, "POST", f"{REQUESTS}/{code}/approve", user_token(MEGAN), {"justification": "ok"}
    )
    assert approve.status_code == 200
    response = _send(published, "PUT", path, token, body, **{"x-msft-approval-code": code})
    assert response.status_code == 204
    internal = published.tenant.find(POLICIES, APP_POLICY)
    assert internal is not None
    assert (internal["displayName"], internal["excludedApplicationIds"]) == (
        "Apps - all platforms",
        [PATCH_MY_PC],
    )
    again = _send(published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(PATCH_MY_PC), {})
    assert again.status_code == 204


# ---- 2. an unknown property in a write: 400 before MAA ----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", f"{POLICIES}/{APP_POLICY}", {"excludedApplicationIds": [TAG_SYNC]}),
        (
            "POST",
            POLICIES,
            {"displayName": "New", "policyType": "app", "excludedApplicationIds": []},
        ),
        ("PUT", f"{POLICIES}/{APP_POLICY}", {"displayName": "x", "excludedApplicationIds": []}),
    ],
)
def test_a_write_naming_the_exclusion_property_is_400_and_files_nothing(
    published: Emulator, method: str, path: str, body: dict[str, Any]
) -> None:
    before = _filed_ids(published)
    response = _send(published, method, path, user_token(MEGAN), body, **_justified())
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("BadRequest", UNKNOWN_PROPERTY)
    assert _filed_ids(published) == before
    assert published.audit_events == []


def test_a_write_naming_published_properties_only_is_intercepted(published: Emulator) -> None:
    body = {"@odata.type": "#microsoft.graph.operationApprovalPolicy", "description": "d"}
    path = f"{POLICIES}/{APP_POLICY}"
    response = _send(published, "PATCH", path, user_token(MEGAN), body, **_justified())
    assert response.status_code == 412
    other = _send(published, "PATCH", path, user_token(MEGAN), {"policyKind": "x"})
    assert other.json()["error"]["message"] == UNKNOWN_PROPERTY.replace(
        "excludedApplicationIds", "policyKind"
    )


def test_the_default_profile_takes_the_exclusion_property() -> None:
    with Emulator(_fixture(), throttle=False, now=lambda: NOW, fixed_tokens=True) as running:
        body = {"excludedApplicationIds": [TAG_SYNC]}
        path = f"{POLICIES}/{APP_POLICY}"
        response = _send(running, "PATCH", path, user_token(MEGAN), body, **_justified())
    assert response.status_code == 412


# ---- 3. approval requests: null identities, payload properties ---------------------------------


def test_requests_serve_null_identities_and_keep_them_inside(published: Emulator) -> None:
    filed = _send(
        published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(TAG_SYNC),
        {"displayName": "CP"}, **_justified(),
    )  # fmt: skip
    code = filed.headers["x-msft-approval-code"]
    approve = _send(
        published,
        "POST",
        f"{REQUESTS}/{code}/approve",
        user_token(MEGAN),
        {"justification": "ok"},
    )
    assert approve.status_code == 200
    listed = _get(published, REQUESTS)["value"]
    assert len(listed) == 13
    assert {(r["requestor"], r["approver"]) for r in listed} == {(None, None)}
    single = _get(published, f"{REQUESTS}/{code}")
    assert (single["status"], single["requestor"], single["approver"]) == ("approved", None, None)
    internal = published.tenant.find(REQUESTS, code)
    assert internal is not None
    assert internal["requestor"]["application"] == {
        "id": TAG_SYNC,
        "displayName": "Intune Tag Sync",
    }
    assert internal["approver"]["user"] == {"id": MEGAN, "displayName": "Megan Bowen"}


def test_the_requestor_still_cannot_approve_their_own_request(published: Emulator) -> None:
    filed = _send(
        published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", user_token(MEGAN),
        {"displayName": "CP"}, **_justified(),
    )  # fmt: skip
    code = filed.headers["x-msft-approval-code"]
    own = _send(published, "POST", f"{REQUESTS}/{code}/approve", user_token(MEGAN), {})
    assert (own.status_code, own.json()["error"]["message"]) == (
        403,
        "The requestor cannot approve or reject their own request.",
    )
    other = _send(published, "POST", f"{REQUESTS}/{code}/approve", user_token(ALEX), {})
    assert other.status_code == 200


def test_default_profile_serves_the_identities() -> None:
    with Emulator(_fixture(), throttle=False, now=lambda: NOW, fixed_tokens=True) as running:
        filed = _send(
            running, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(TAG_SYNC),
            {"displayName": "CP"}, **_justified(),
        )  # fmt: skip
        request = _get(running, f"{REQUESTS}/{filed.headers['x-msft-approval-code']}")
    assert request["requestor"]["application"] == {"id": TAG_SYNC, "displayName": "Intune Tag Sync"}
    assert request["approver"] is None


def _payload(request: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in request.items() if key.startswith(("payload", "display"))}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("method", "path", "token", "body", "expected"),
    [
        (
            "PATCH",
            f"{APPS}/{COMPANY_PORTAL}",
            app_token(TAG_SYNC),
            {"@odata.type": "#microsoft.graph.win32LobApp", "displayName": "Company Portal 6"},
            {
                "payloadId": COMPANY_PORTAL,
                "payloadName": "Company Portal",
                "payloadType": f"{API}MobileApp",
                "payloadSubtype": "#microsoft.graph.win32LobApp",
                "payloadOperation": "Update",
                "payload": '{"@odata.type":"#microsoft.graph.win32LobApp",'
                '"displayName":"Company Portal 6"}',
                "displayPayload": '{"@odata.type":"#microsoft.graph.win32LobApp",'
                '"displayName":"Company Portal 6"}',
            },
        ),
        (
            "DELETE",
            f"{APPS}/{COMPANY_PORTAL}",
            app_token(TAG_SYNC),
            None,
            {
                "payloadId": COMPANY_PORTAL,
                "payloadName": "Company Portal",
                "payloadType": f"{API}MobileApp",
                "payloadSubtype": "",
                "payloadOperation": "Delete",
                "payload": "",
                "displayPayload": "",
            },
        ),
        (
            "POST",
            "deviceManagement/roleAssignments",
            user_token(MEGAN),
            {"displayName": "Helpdesk", "members": ["g1"]},
            {
                "payloadId": "",
                "payloadName": "Helpdesk",
                "payloadType": f"{API}RoleAssignment",
                "payloadSubtype": "",
                "payloadOperation": "Create",
                "payload": '{"displayName":"Helpdesk","members":["g1"]}',
                "displayPayload": '{"displayName":"Helpdesk","members":["g1"]}',
            },
        ),
        (
            "PATCH",
            f"{POLICIES}/{APP_POLICY}",
            user_token(MEGAN),
            {"description": "é"},
            {
                "payloadId": APP_POLICY,
                "payloadName": "Apps - Windows",
                "payloadType": f"{API}OperationApprovalPolicy",
                "payloadSubtype": "",
                "payloadOperation": "Update",
                "payload": '{"description":"é"}',
                "displayPayload": '{"description":"é"}',
            },
        ),
    ],
)
def test_filed_requests_carry_the_payload_properties(
    profile: str,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None,
    expected: dict[str, str],
) -> None:
    with Emulator(
        _fixture(), profile=profile, throttle=False, now=lambda: NOW, fixed_tokens=True
    ) as running:
        filed = _send(running, method, path, token, body, **_justified())
        assert filed.status_code == 412, filed.text
        request = _get(running, f"{REQUESTS}/{filed.headers['x-msft-approval-code']}")
    assert _payload(request) == expected


def test_requests_from_the_fixture_carry_empty_payload_properties(published: Emulator) -> None:
    request = _get(published, f"{REQUESTS}/f68d12a8-be3b-44b1-ac62-498ccf8a7ab7")
    assert _payload(request) == {
        "payloadId": "",
        "payloadName": "",
        "payloadType": "",
        "payloadSubtype": "",
        "payloadOperation": "",
        "payload": "",
        "displayPayload": "",
    }


# ---- 4. the answer to a filed write -------------------------------------------------------------


def test_a_filed_write_answers_412_with_the_nested_message(published: Emulator) -> None:
    path = f"{APPS}/{COMPANY_PORTAL}"
    response = _send(published, "PATCH", path, app_token(TAG_SYNC), {}, **_justified())
    code = response.headers["x-msft-approval-code"]
    assert response.status_code == 412
    assert _filed_ids(published)[-1] == code
    error = response.json()["error"]
    assert sorted(error) == ["code", "message"]
    assert error["code"] == "BadRequest"
    assert error["message"].startswith('{\r\n "_version": 3,\r\n "Message": "Approval Required.')
    nested = json.loads(error["message"])
    assert list(nested) == [
        "_version",
        "Message",
        "CustomApiErrorPhrase",
        "RetryAfter",
        "ErrorSourceService",
        "HttpHeaders",
    ]
    assert (nested["CustomApiErrorPhrase"], nested["RetryAfter"]) == ("", None)
    assert json.loads(nested["HttpHeaders"]) == {"x-msft-approval-code": code}
    message = nested["Message"]
    assert message.startswith(
        "Approval Required. Request Approval using the request ID returned as part of the "
        f"x-msft-approval-code response header. x-msft-approval-code: {code} - Operation ID "
        "(for customer support): "
    )
    assert message.endswith(f" - Url: /beta/{path.lower()}")


def test_a_missing_justification_stays_400(published: Emulator) -> None:
    response = _send(published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(TAG_SYNC), {})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(
        "Header 'x-msft-approval-justification' is required to request approval - "
    )
    assert "x-msft-approval-code" not in response.headers


# ---- 5. evolvable enums -----------------------------------------------------------------------


KNOWN_DEMO_TYPES = ["app", "script", "deviceWipe", "deviceRetire", "role"]


def _enum_fixture() -> dict[str, Any]:
    fixture = _fixture()
    late = ["tenantConfiguration", "operationApprovalPolicy", "app", "windows365"]
    fixture["collections"][POLICIES].append(
        {
            "@odata.type": "#microsoft.graph.operationApprovalPolicy",
            "id": "p-tenant",
            "displayName": "Tenant configuration",
            "policyType": "tenantConfiguration",
            "policySet": {"policyType": "tenantConfiguration", "policyPlatform": "notApplicable"},
            "approverGroupIds": [],
        }
    )
    fixture["collections"][REQUESTS].append(
        {"id": "r-late", "status": "needsApproval", "requiredOperationApprovalPolicyTypes": late}
    )
    return fixture


def test_the_published_member_lists() -> None:
    assert PUBLISHED_POLICY_TYPES[7:] == ("unknownFutureValue", "tenantConfiguration")
    assert "deviceSecurityAction" in DOCUMENTED_LATE_POLICY_TYPES


@pytest.mark.parametrize(
    ("prefer", "policy_types", "request_types"),
    [
        (
            {},
            [*KNOWN_DEMO_TYPES, *["unknownFutureValue"] * 3],
            ["unknownFutureValue", "unknownFutureValue", "app", "unknownFutureValue"],
        ),
        (
            {"Prefer": "include-unknown-enum-members"},
            [*KNOWN_DEMO_TYPES, "compliancePolicy", "configurationPolicy", "tenantConfiguration"],
            ["tenantConfiguration", "operationApprovalPolicy", "app", "windows365"],
        ),
    ],
)
def test_enums_after_the_sentinel_are_masked_without_prefer(
    prefer: dict[str, str], policy_types: list[str], request_types: list[str]
) -> None:
    with Emulator(
        _enum_fixture(), profile="published", throttle=False, fixed_tokens=True
    ) as running:
        policies = _get(running, POLICIES, **prefer)["value"]
        single = _get(running, f"{POLICIES}/p-tenant", **prefer)
        requests = _get(running, REQUESTS, **prefer)["value"]
        request = _get(running, f"{REQUESTS}/r-late", **prefer)
    assert [p["policyType"] for p in policies] == policy_types
    assert [p["policySet"]["policyType"] for p in policies] == policy_types
    assert (single["policyType"], single["policySet"]["policyType"]) == (policy_types[-1],) * 2
    assert requests[-1]["requiredOperationApprovalPolicyTypes"] == request_types
    assert request["requiredOperationApprovalPolicyTypes"] == request_types


# ---- 6. audit categories -------------------------------------------------------------------


def test_maa_events_have_their_own_category(published: Emulator) -> None:
    query = f"{AUDIT}?$filter=category eq '{MAA_AUDIT_CATEGORY}'&$select=activityType"
    moved = [e["activityType"] for e in _get(published, query)["value"]]
    # 7 of the fixture, and for its 12 requests 12 filed, 7 approved and 1 rejected
    assert len(moved) == 7 + 12 + 7 + 1
    assert sorted(set(moved)) == MAA_ACTIVITY_TYPES
    assert _get(published, f"{AUDIT}?$filter=category eq 'Role'")["value"] == []


@pytest.mark.parametrize(
    ("profile", "categories"),
    [
        ("default", [*DEMO_CATEGORIES, "Role"]),
        ("published", [*DEMO_CATEGORIES, "MultiAdminApproval"]),
    ],
)
def test_get_audit_categories(profile: str, categories: list[str]) -> None:
    with Emulator(_fixture(), profile=profile, throttle=False, fixed_tokens=True) as running:
        answer = _get(running, f"{AUDIT}/getAuditCategories")
        v1 = _send(running, "GET", f"{AUDIT}/getAuditCategories").json()
    assert answer == {
        "@odata.context": f"{running.url}/beta/$metadata#Collection(Edm.String)",
        "value": categories,
    }
    assert v1["value"] == categories


def test_get_audit_activity_types(published: Emulator) -> None:
    maa = _get(published, f"{AUDIT}/getAuditActivityTypes(category='MultiAdminApproval')")
    assert maa["value"] == MAA_ACTIVITY_TYPES
    device = _get(published, f"{AUDIT}/getAuditActivityTypes(category='Device')")
    assert device["value"] == [
        "Delete ManagedDevice",
        "Retire ManagedDevice",
        "Sync ManagedDevice",
        "Wipe ManagedDevice",
    ]
    assert _get(published, f"{AUDIT}/getAuditActivityTypes(category='Role')")["value"] == []


def test_default_profile_keeps_maa_events_in_role() -> None:
    with Emulator(_fixture(), throttle=False, fixed_tokens=True) as running:
        role = _get(running, f"{AUDIT}/getAuditActivityTypes(category='Role')")["value"]
    assert role == [
        "Add OperationApprovalPolicyExclusion",
        "Create OperationApprovalPolicy",
        "Remove OperationApprovalPolicyExclusion",
    ]


def test_activity_types_category_quotes_double_as_odata() -> None:
    fixture = _fixture()
    fixture["collections"][AUDIT].append(
        {"id": "q1", "category": "O'Brien's", "activityType": "Patch Quote"}
    )
    with Emulator(fixture, profile="published", throttle=False, fixed_tokens=True) as running:
        path = f"{AUDIT}/getAuditActivityTypes(category='O''Brien''s')"
        assert _get(running, path)["value"] == ["Patch Quote"]
        assert "O'Brien's" in _get(running, f"{AUDIT}/getAuditCategories")["value"]
        single = _send(running, "GET", f"{AUDIT}/getAuditActivityTypes(category='O'Brien's')")
        bare = _send(running, "GET", f"{AUDIT}/getAuditActivityTypes")
        written = _send(running, "POST", f"{AUDIT}/getAuditCategories", app_token(TAG_SYNC), {})
        unknown = _send(running, "GET", f"{AUDIT}/getAuditThings")
    assert (single.status_code, bare.status_code) == (400, 400)
    assert bare.json()["error"]["message"] == (
        "The function 'getAuditActivityTypes' needs a category: "
        "getAuditActivityTypes(category='...')."
    )
    assert written.status_code == 405
    assert unknown.json()["error"]["message"] == (
        "Resource not found for the segment 'getAuditThings'."
    )


def test_audit_functions_need_the_audit_permission(published: Emulator) -> None:
    token = app_token("e5aed320-6fa0-486f-875d-607dbb17aec0")  # configuration only
    response = _send(published, "GET", f"{AUDIT}/getAuditCategories", token)
    assert response.status_code == 403


def test_events_the_emulator_writes_join_the_category(published: Emulator) -> None:
    _send(published, "PATCH", f"{APPS}/{COMPANY_PORTAL}", app_token(PATCH_MY_PC), {})
    maa = _get(published, f"{AUDIT}/getAuditActivityTypes(category='MultiAdminApproval')")
    assert maa["value"] == sorted(
        [*MAA_ACTIVITY_TYPES, "Pass OperationApprovalRequest", "Patch MobileApp"]
    )


def test_the_fixtures_requests_have_their_people_in_the_audit_log(published: Emulator) -> None:
    """Graph serves requestor and approver as null; the MAA events name who filed and decided."""
    requests = json.loads(DEMO.read_text(encoding="utf-8"))["approval_requests"]
    request = next(r for r in requests if r["status"] == "completed" and r["requestor"].get("user"))
    query = f"{AUDIT}?$filter=category eq '{MAA_AUDIT_CATEGORY}'"
    naming = [
        event
        for event in _get(published, query)["value"]
        if any(r["resourceId"] == request["id"] for r in event["resources"])
    ]
    assert [e["activityType"] for e in naming] == [
        "Create OperationApprovalRequest",
        "Approve OperationApprovalRequest",
    ]
    filer, approver = (e["actor"] for e in naming)
    assert filer["userId"] == request["requestor"]["user"]["id"]
    assert approver["userId"] == request["approver"]["user"]["id"]
    assert [e["activityDateTime"] for e in naming] == [
        request["requestDateTime"],
        request["lastModifiedDateTime"],
    ]


def test_a_fixture_can_say_its_audit_log_no_longer_holds_the_request_events() -> None:
    fixture = _fixture()
    fixture["maa"] = {**fixture.get("maa", {}), "requestEventsAudited": False}
    with Emulator(fixture, profile="published", throttle=False, fixed_tokens=True) as running:
        types = _get(running, f"{AUDIT}/getAuditActivityTypes(category='{MAA_AUDIT_CATEGORY}')")
    assert "Create OperationApprovalRequest" not in types["value"]
