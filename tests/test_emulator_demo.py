"""The bundled demo snapshot converted into a fixture and served by the emulator."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.emulator import READER_TOKEN, Emulator, app_token, fixture_from_snapshot
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.file import load_snapshot

DEMO = Path(__file__).resolve().parent.parent / "maa_guard" / "data" / "demo" / "snapshot.json"
AUTH = {"Authorization": f"Bearer {READER_TOKEN}", "Prefer": "include-unknown-enum-members"}
APPROVERS = "2f991ba4-2604-497e-afa9-3c9b0d4f500c"
PATCH_MY_PC = ("885cfe9d-ff9e-4b6a-b436-a94ab3a7454d", "350f6c08-5658-4455-a594-a9245970fd44")
TAG_SYNC_APP = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"


@functools.cache
def _http() -> httpx.Client:
    """One pooled client for the module: a fresh client per call costs a TLS context load."""
    return httpx.Client()


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return load_snapshot(DEMO)


@pytest.fixture(scope="module")
def fixture(snapshot: Snapshot) -> dict[str, Any]:
    return fixture_from_snapshot(snapshot)


@pytest.fixture
def emulator(fixture: dict[str, Any]) -> Iterator[Emulator]:
    with Emulator(fixture, throttle=False, fixed_tokens=True) as running:
        yield running


def _get(emulator: Emulator, path: str) -> Any:
    response = _http().get(f"{emulator.url}/beta/{path}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def test_conversion_is_deterministic_json(snapshot: Snapshot, fixture: dict[str, Any]) -> None:
    assert json.dumps(fixture_from_snapshot(snapshot), sort_keys=True) == json.dumps(
        fixture, sort_keys=True
    )


def test_fixture_file_path_is_accepted(fixture: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    with Emulator(path, throttle=False, fixed_tokens=True) as running:
        assert len(_get(running, "groups")["value"]) == 6


def test_policies_served_with_property_exclusions_only(emulator: Emulator) -> None:
    policies = _get(emulator, "deviceManagement/operationApprovalPolicies")["value"]
    assert [(p["id"], p["policyType"]) for p in policies] == [
        ("a44b31e5-8ba9-4337-9698-57b8e463df88", "app"),
        ("aa7cbaa9-27e3-4297-8a47-56ce0fe3794e", "script"),
        ("a2f07e53-f660-48b7-8ba1-5b19f760ed03", "deviceWipe"),
        ("e53e385f-ed85-4f96-8f6c-8be05aa769f0", "deviceRetire"),
        ("9809e2c5-d1f2-4115-8a69-4673a66b66ed", "role"),
        ("689b3b31-e861-4dda-8a94-465679af7194", "compliancePolicy"),
        ("d2fe187e-3a90-4d98-8b1f-48fc08cc3e7e", "configurationPolicy"),
    ]
    assert policies[0]["excludedApplicationIds"] == [PATCH_MY_PC[1]]
    assert policies[4]["excludedApplicationIds"] == []  # excludes nobody
    assert policies[0]["approverGroupIds"] == [APPROVERS]


def test_every_collection_answers_the_reader_token(emulator: Emulator) -> None:
    routes = [name for name in emulator.tenant.collections]
    statuses = {
        r: _http().get(f"{emulator.url}/beta/{r}", headers=AUTH).status_code for r in routes
    }
    denied = {route for route, status in statuses.items() if status != 200}
    assert denied == {"deviceManagement/managedDevices"}  # needs ManagedDevices.Read.All


def test_graph_permissions_resolve_through_app_roles(emulator: Emulator) -> None:
    graph = _get(
        emulator, "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$select=appRoles"
    )
    names = {role["id"]: role["value"] for role in graph["appRoles"]}
    grants = _get(emulator, f"servicePrincipals/{PATCH_MY_PC[0]}/appRoleAssignments")["value"]
    assert [names[g["appRoleId"]] for g in grants] == [
        "DeviceManagementApps.ReadWrite.All",
        "DeviceManagementConfiguration.Read.All",
    ]
    assert [g["appRoleId"] for g in grants] == [
        "78145de6-330d-4800-a6ce-494ff2d33d07",
        "dc377aa6-52d8-4e23-b271-2a7ae04cedf3",
    ]
    assert {g["resourceId"] for g in grants} == {graph["id"]}


def test_approver_group_members_and_licences(emulator: Emulator) -> None:
    members = _get(emulator, f"groups/{APPROVERS}/members")["value"]
    assert [(m["@odata.type"], m["displayName"]) for m in members] == [
        ("#microsoft.graph.user", "Megan Bowen"),
        ("#microsoft.graph.user", "Alex Wilber"),
        ("#microsoft.graph.user", "Isaiah Langer"),
    ]
    assert members[0]["userPrincipalName"] == "megan.bowen@contoso-demo.example"
    licences = _get(emulator, f"users/{members[0]['id']}/licenseDetails")["value"]
    assert [p["servicePlanName"] for p in licences[0]["servicePlans"]] == ["INTUNE_A"]


def test_sign_in_activity_and_skus(emulator: Emulator) -> None:
    query = f"$filter=appId eq '{PATCH_MY_PC[1]}'"
    [row] = _get(emulator, f"reports/servicePrincipalSignInActivities?{query}")["value"]
    assert row["applicationAuthenticationClientSignInActivity"]["lastSignInDateTime"] == (
        "2026-10-31T02:10:44Z"
    )
    sign_ins = _get(
        emulator,
        "auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'servicePrincipal') "
        f"and appId eq '{PATCH_MY_PC[1]}'",
    )["value"]
    assert [s["createdDateTime"] for s in sign_ins] == ["2026-10-31T02:10:44Z"]
    skus = _get(emulator, "subscribedSkus")["value"]
    plans = [plan["servicePlanName"] for sku in skus for plan in sku["servicePlans"]]
    assert plans == ["INTUNE_A", "AAD_WRKLDID_P2"]


def test_demo_maa_property_exclusion_passes_audit_log_one_does_not(emulator: Emulator) -> None:
    app_id = emulator.tenant.collections["deviceAppManagement/mobileApps"][0]["id"]
    url = f"{emulator.url}/beta/deviceAppManagement/mobileApps/{app_id}"

    def patch(app: str, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {app_token(app)}", **headers}
        return _http().patch(url, headers=headers, json={"displayName": "CP"})

    assert patch(PATCH_MY_PC[1]).status_code == 204
    assert patch(TAG_SYNC_APP).status_code == 400
    justification = base64.b64encode(b"CHG9").decode()
    filed = patch(TAG_SYNC_APP, **{"x-msft-approval-justification": justification})
    assert filed.status_code == 412


def test_a_snapshot_file_is_served_directly() -> None:
    with Emulator(DEMO, throttle=False, fixed_tokens=True) as running:
        assert len(_get(running, "deviceManagement/operationApprovalRequests")["value"]) == 12


def test_demo_clock_starts_at_collection_so_pending_requests_stay_pending(
    emulator: Emulator,
) -> None:
    requests = _get(emulator, "deviceManagement/operationApprovalRequests")["value"]
    pending = [r["id"] for r in requests if r["status"] == "needsApproval"]
    assert pending == [
        "f68d12a8-be3b-44b1-ac62-498ccf8a7ab7",
        "1bf83951-3e88-4d76-ba5d-dca6419b10a4",
        "39be46bb-2edb-41dd-a948-4437852b66c5",
    ]


def test_audit_events_filter_by_date_range_and_category(emulator: Emulator) -> None:
    """The collector's exclusion-history read: a date range narrowed to one category."""
    query = (
        "$filter=activityDateTime ge 2026-05-01T00:00:00Z and activityDateTime lt "
        "2026-10-02T08:00:00Z and category eq 'Role'&$select=activity,activityDateTime"
    )
    events = _get(emulator, f"deviceManagement/auditEvents?{query}")["value"]
    assert [(e["activityDateTime"], e["activity"]) for e in events] == [
        ("2026-05-02T10:21:00Z", "Add exclusion to access policy"),
        ("2026-06-20T08:44:10Z", "Add exclusion to access policy"),
        ("2026-09-10T15:02:33Z", "Add exclusion to access policy"),
        ("2026-09-11T07:58:49Z", "Remove exclusion from access policy"),
    ]


def test_audit_events_refuse_a_filter_on_another_property(emulator: Emulator) -> None:
    query = "$filter=activityDateTime ge 2026-05-01T00:00:00Z and componentName eq 'x'"
    response = _http().get(
        f"{emulator.url}/beta/deviceManagement/auditEvents?{query}", headers=AUTH
    )
    assert (response.status_code, response.json()["error"]["message"]) == (
        400,
        "Unsupported or invalid query filter clause specified for property 'componentName' "
        "of resource 'auditEvents'.",
    )
