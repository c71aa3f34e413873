"""The loopback Graph emulator's read side, over real HTTP: paging, query options, batch, auth."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from msgraph_core import APIVersion, GraphClientFactory

from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint
from maa_guard.collect.budget import unlimited
from maa_guard.emulator import Emulator, Limit, serve_forever
from maa_guard.emulator.faults import faults_from_options
from maa_guard.emulator.tenant import FixtureError
from maa_guard.errors import UsageError

TOKEN = "reader"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRAPH_APP = "00000003-0000-0000-c000-000000000000"


def _fixture() -> dict[str, Any]:
    groups = [
        {"id": f"g{i}", "displayName": f"Group {i}", "securityEnabled": True} for i in range(5)
    ]
    return {
        "tenant": {"id": "t1", "displayName": "Test"},
        "tokens": {
            TOKEN: {
                "kind": "application",
                "appId": "app-reader",
                "roles": [
                    "DeviceManagementRBAC.Read.All",
                    "DeviceManagementApps.Read.All",
                    "Application.Read.All",
                    "GroupMember.Read.All",
                    "Policy.Read.All",
                    "AuditLog.Read.All",
                ],
            },
            "rbac-only": {
                "kind": "application",
                "appId": "app-rbac",
                "roles": ["DeviceManagementRBAC.Read.All"],
            },
            "alice": {"kind": "user", "userId": "u1", "scp": "GroupMember.Read.All"},
        },
        "collections": {
            "deviceManagement/operationApprovalPolicies": [
                {"id": "p1", "policyType": "app", "policySet": {"policyType": "app"}},
                {
                    "id": "p2",
                    "policyType": "tenantConfiguration",
                    "policySet": {"policyType": "tenantConfiguration"},
                },
                {"id": "p3", "policyType": "compliancePolicy"},
            ],
            "deviceManagement/auditEvents": [
                {"id": "e1", "activityDateTime": "2026-10-01T00:00:00Z"},
                {"id": "e2", "activityDateTime": "2026-10-15T12:00:00.1234567Z"},
                {"id": "e3", "activityDateTime": "2026-10-31T23:59:59Z"},
            ],
            "groups": groups,
            "servicePrincipals": [
                {"id": "sp1", "appId": "a1", "displayName": "One"},
                {"id": "sp-graph", "appId": GRAPH_APP, "displayName": "Microsoft Graph"},
            ],
            "applications": [{"id": "app1", "appId": "a1", "displayName": "One"}],
            "identity/conditionalAccess/policies": [{"id": "ca1", "state": "enabled"}],
            "auditLogs/signIns": [
                {
                    "id": "s1",
                    "appId": "a1",
                    "createdDateTime": "2026-10-20T00:00:00Z",
                    "signInEventTypes": ["servicePrincipal"],
                },
                {
                    "id": "s2",
                    "appId": "a1",
                    "createdDateTime": "2026-09-01T00:00:00Z",
                    "signInEventTypes": ["servicePrincipal"],
                },
                {
                    "id": "s3",
                    "appId": "a2",
                    "createdDateTime": "2026-10-21T00:00:00Z",
                    "signInEventTypes": ["interactiveUser"],
                },
            ],
            "reports/servicePrincipalSignInActivities": [{"id": "r1", "appId": "a1"}],
        },
        "relationships": {
            "groups/{id}/members": {
                "g0": [
                    {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                    {"@odata.type": "#microsoft.graph.group", "id": "g1"},
                ]
            },
            "groups/{id}/transitiveMembers": {
                "g0": [
                    {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                    {"@odata.type": "#microsoft.graph.group", "id": "g1"},
                    {"@odata.type": "#microsoft.graph.user", "id": "u2"},
                ]
            },
            "servicePrincipals/{id}/appRoleAssignments": {"sp1": [{"id": "ra1", "appRoleId": "x"}]},
        },
    }


@functools.cache
def _http() -> httpx.Client:
    """One pooled client for the module: a fresh client per call costs a TLS context load."""
    return httpx.Client()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(_fixture(), throttle=False, fixed_tokens=True) as running:
        yield running


def _get(emulator: Emulator, path: str, token: str = TOKEN, **headers: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **headers}
    return _http().get(f"{emulator.url}{path}", headers=headers)


def _ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["value"]]


# ---- paging and query options --------------------------------------------------------------


def test_binds_loopback_on_a_free_port(emulator: Emulator) -> None:
    assert emulator.url.startswith("http://127.0.0.1:")
    assert emulator.port > 0


def test_paging_follows_opaque_next_links_to_the_end(emulator: Emulator) -> None:
    first = _get(emulator, "/beta/groups?$top=2&$select=id")
    assert first.status_code == 200
    assert first.json()["@odata.context"] == f"{emulator.url}/beta/$metadata#groups(id)"
    pages, link = [_ids(first)], first.json()["@odata.nextLink"]
    while link:
        assert link.startswith(f"{emulator.url}/beta/groups?$top=2&$select=id&$skiptoken=")
        page = _http().get(link, headers=AUTH)
        pages.append(_ids(page))
        link = page.json().get("@odata.nextLink")
    assert pages == [["g0", "g1"], ["g2", "g3"], ["g4"]]


@pytest.mark.parametrize(
    ("name", "origin_name"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("LocalHost", "localhost"),
        ("[::1]", "[::1]"),
    ],
)
def test_links_name_the_host_the_request_named(
    emulator: Emulator, name: str, origin_name: str
) -> None:
    host, origin = f"{name}:{emulator.port}", f"http://{origin_name}:{emulator.port}"
    first = _get(emulator, "/beta/groups?$top=2", Host=host).json()
    assert first["@odata.context"] == f"{origin}/beta/$metadata#groups"
    assert first["@odata.nextLink"].startswith(f"{origin}/beta/groups?$top=2&$skiptoken=")
    single = _get(emulator, "/v1.0/groups/g0", Host=host).json()
    assert single["@odata.context"] == f"{origin}/v1.0/$metadata#groups/$entity"
    function = _get(emulator, "/beta/deviceManagement/auditEvents/getAuditCategories", Host=host)
    assert function.json()["@odata.context"] == f"{origin}/beta/$metadata#Collection(Edm.String)"
    batch = _http().post(
        f"{emulator.url}/beta/$batch",
        json={"requests": [{"id": "1", "method": "GET", "url": "/groups?$top=2"}]},
        headers={**AUTH, "Host": host},
    )
    [item] = batch.json()["responses"]
    assert item["body"]["@odata.nextLink"].startswith(f"{origin}/beta/groups?$top=2&$skiptoken=")


def test_graph_client_pages_through_the_emulator_named_localhost(emulator: Emulator) -> None:
    async def read_groups() -> list[dict[str, Any]]:
        endpoint = resolve_endpoint("global", f"http://localhost:{emulator.port}")
        credential = StaticTokenCredential(TOKEN)
        async with GraphClient(credential, endpoint, budgets=unlimited(), timeout=30) as client:
            return await client.get_all("groups", {"$top": "2", "$select": "id"})

    assert [group["id"] for group in asyncio.run(read_groups())] == [f"g{i}" for i in range(5)]
    continuations = [r for r in emulator.requests if "skiptoken" in r.query]
    assert [r.status for r in continuations] == [200, 200]


def test_a_forged_skip_token_is_refused(emulator: Emulator) -> None:
    response = _get(emulator, "/beta/groups?$top=2&$skiptoken=MjpiYWQ")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Directory_ExpiredPageToken"


def test_select_projects_fields_and_keeps_id(emulator: Emulator) -> None:
    response = _get(emulator, "/v1.0/groups?$top=1&$select=displayName")
    assert response.json()["value"] == [{"id": "g0", "displayName": "Group 0"}]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/beta/groups?$top=999", 200),
        ("/beta/groups?$top=1000", 400),
        ("/beta/groups?$top=0", 400),
        ("/beta/auditLogs/signIns?$top=1000", 200),
        ("/beta/auditLogs/signIns?$top=1001", 400),
    ],
)
def test_top_limits_per_endpoint_class(emulator: Emulator, path: str, status: int) -> None:
    assert _get(emulator, path).status_code == status


POLICIES = "/beta/deviceManagement/operationApprovalPolicies"


def test_policies_that_exclude_nobody_serve_an_empty_exclusion_list(emulator: Emulator) -> None:
    listed = _get(emulator, POLICIES).json()["value"]
    assert [(p["id"], p["excludedApplicationIds"]) for p in listed] == [
        ("p1", []),
        ("p2", []),
        ("p3", []),
    ]
    assert _get(emulator, f"{POLICIES}/p1").json()["excludedApplicationIds"] == []
    selected = _get(emulator, f"{POLICIES}?$select=policyType").json()["value"]
    assert selected[0] == {"id": "p1", "policyType": "app"}
    assert "excludedApplicationIds" not in (emulator.tenant.find(POLICIES[6:], "p1") or {})


def test_the_configured_exclusion_property_is_the_one_served_empty() -> None:
    fixture = _fixture()
    fixture["maa"] = {"exclusionsProperty": "exemptApps"}
    fixture["collections"]["deviceManagement/operationApprovalPolicies"][0]["exemptApps"] = ["a1"]
    with Emulator(fixture, throttle=False, fixed_tokens=True) as running:
        listed = _get(running, POLICIES).json()["value"]
    assert [(p["id"], p["exemptApps"]) for p in listed] == [("p1", ["a1"]), ("p2", []), ("p3", [])]
    assert not any("excludedApplicationIds" in p for p in listed)


def test_default_page_size_for_intune_is_100() -> None:
    fixture = _fixture()
    fixture["collections"]["deviceManagement/auditEvents"] = [{"id": f"e{i}"} for i in range(150)]
    with Emulator(fixture, throttle=False, fixed_tokens=True) as running:
        response = _get(running, "/beta/deviceManagement/auditEvents")
        assert len(response.json()["value"]) == 100
        rest = _http().get(response.json()["@odata.nextLink"], headers=AUTH)
        assert _ids(rest) == [f"e{i}" for i in range(100, 150)]


@pytest.mark.parametrize(
    ("path", "ids"),
    [
        ("/beta/servicePrincipals?$filter=appId eq 'A1'", ["sp1"]),
        ("/beta/applications?$filter=appId eq 'a1'", ["app1"]),
        ("/beta/servicePrincipals?$filter=displayName eq 'one'", ["sp1"]),
        ("/beta/applications?$filter=displayName eq 'One'", ["app1"]),
        # a quote doubled, and an ``and`` inside the literal: one clause, no match
        ("/beta/servicePrincipals?$filter=displayName eq 'One''s and Two'", []),
        ("/beta/reports/servicePrincipalSignInActivities?$filter=appId eq 'a1'", ["r1"]),
        (
            "/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'servicePrincipal')"
            " and createdDateTime ge 2026-10-01T00:00:00Z",
            ["s1"],
        ),
        (
            "/beta/deviceManagement/auditEvents?$filter=activityDateTime ge 2026-10-01T00:00:00Z"
            " and activityDateTime le 2026-10-31T00:00:00Z",
            ["e1", "e2"],
        ),
    ],
)
def test_supported_filters(emulator: Emulator, path: str, ids: list[str]) -> None:
    response = _get(emulator, path)
    assert response.status_code == 200, response.text
    assert _ids(response) == ids


@pytest.mark.parametrize(
    "path",
    [
        "/beta/servicePrincipals?$filter=displayName ne 'One'",
        "/beta/servicePrincipals?$filter=appId eq 'a1' or appId eq 'a2'",
        "/beta/servicePrincipals?$filter=startswith(appId,'a')",
        "/beta/groups?$filter=appId eq 'a1'",
        "/beta/auditLogs/signIns?$filter=createdDateTime ge yesterday",
    ],
)
def test_unsupported_filters_answer_400(emulator: Emulator, path: str) -> None:
    response = _get(emulator, path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("Request_UnsupportedQuery", "BadRequest")


def test_next_link_keeps_the_filter(emulator: Emulator) -> None:
    path = "/beta/auditLogs/signIns?$top=1&$filter=appId eq 'a1'"
    first = _get(emulator, path)
    second = _http().get(first.json()["@odata.nextLink"], headers=AUTH)
    assert (_ids(first), _ids(second)) == (["s1"], ["s2"])
    assert "@odata.nextLink" not in second.json()


# ---- entities, alternate keys, relationships --------------------------------------------------


def test_get_by_id_and_alternate_keys(emulator: Emulator) -> None:
    assert _get(emulator, "/beta/groups/g3").json()["displayName"] == "Group 3"
    by_app = _get(emulator, f"/beta/servicePrincipals(appId='{GRAPH_APP}')?$select=id")
    assert by_app.json() == {
        "@odata.context": f"{emulator.url}/beta/$metadata#servicePrincipals(id)/$entity",
        "id": "sp-graph",
    }
    assert _get(emulator, "/beta/applications(appId='a1')").json()["id"] == "app1"
    grants = _get(emulator, "/beta/servicePrincipals(appId='a1')/appRoleAssignments")
    assert _ids(grants) == ["ra1"]


def test_missing_objects_and_segments(emulator: Emulator) -> None:
    missing = _get(emulator, "/beta/servicePrincipals(appId='nope')")
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        404,
        "Request_ResourceNotFound",
    )
    assert _get(emulator, "/beta/groups/nope/members").status_code == 404
    assert _get(emulator, "/beta/deviceManagement/operationApprovalPolicies/x").status_code == 404
    unknown = _get(emulator, "/beta/nothingHere")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "BadRequest")


def test_relationships_and_casts(emulator: Emulator) -> None:
    members = _get(emulator, "/beta/groups/g0/members")
    assert members.json()["value"][0] == {"@odata.type": "#microsoft.graph.user", "id": "u1"}
    assert _ids(members) == ["u1", "g1"]
    users = _get(emulator, "/beta/groups/g0/transitiveMembers/microsoft.graph.user")
    assert _ids(users) == ["u1", "u2"]
    assert _get(emulator, "/beta/groups/g4/owners").status_code == 400  # not in the fixture
    assert _ids(_get(emulator, "/beta/groups/g4/members")) == []


# ---- enums ------------------------------------------------------------------------------------


def test_evolvable_enum_members_need_the_prefer_header(emulator: Emulator) -> None:
    path = "/beta/deviceManagement/operationApprovalPolicies"
    plain = _get(emulator, path).json()["value"]
    assert [p["policyType"] for p in plain] == ["app", "unknownFutureValue", "unknownFutureValue"]
    assert plain[1]["policySet"] == {"policyType": "unknownFutureValue"}
    full = _get(emulator, path, Prefer="include-unknown-enum-members").json()["value"]
    assert [p["policyType"] for p in full] == ["app", "tenantConfiguration", "compliancePolicy"]
    single = _get(emulator, f"{path}/p2")
    assert single.json()["policyType"] == "unknownFutureValue"


# ---- authentication and authorisation -------------------------------------------------------


def test_missing_or_unknown_token_is_401(emulator: Emulator) -> None:
    bare = _http().get(f"{emulator.url}/beta/groups")
    assert (bare.status_code, bare.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert _get(emulator, "/beta/groups", token="forged").status_code == 401


def test_token_without_the_permission_is_403(emulator: Emulator) -> None:
    denied = _get(emulator, "/beta/auditLogs/signIns", token="rbac-only")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authorization_RequestDenied"
    assert denied.json()["error"]["message"] == "Insufficient privileges to complete the operation."
    allowed = _get(emulator, "/beta/deviceManagement/operationApprovalPolicies", token="rbac-only")
    assert allowed.status_code == 200
    assert _get(emulator, "/beta/groups", token="alice").status_code == 200
    assert _get(emulator, "/beta/servicePrincipals", token="alice").status_code == 403


def test_request_log_records_calls_without_the_token(emulator: Emulator) -> None:
    _get(emulator, "/beta/groups?$top=1", Prefer="include-unknown-enum-members")
    [entry] = emulator.requests
    assert (entry.method, entry.path, entry.query, entry.status) == (
        "GET",
        "/beta/groups",
        "$top=1",
        200,
    )
    assert entry.headers["prefer"] == "include-unknown-enum-members"
    assert "authorization" not in entry.headers


# ---- $batch ------------------------------------------------------------------------------------


def _batch(emulator: Emulator, requests: list[dict[str, Any]]) -> httpx.Response:
    return _http().post(f"{emulator.url}/beta/$batch", headers=AUTH, json={"requests": requests})


def test_batch_answers_each_item_with_its_own_status(emulator: Emulator) -> None:
    response = _batch(
        emulator,
        [
            {"id": "1", "method": "GET", "url": "/groups/g1?$select=id"},
            {"id": "2", "method": "GET", "url": "/groups/nope", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/groups/g2", "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": "/auditLogs/signIns?$top=1"},
        ],
    )
    assert response.status_code == 200
    statuses = [(item["id"], item["status"]) for item in response.json()["responses"]]
    assert statuses == [("1", 200), ("2", 404), ("3", 424), ("4", 200)]
    assert response.json()["responses"][0]["body"]["id"] == "g1"
    logged = [(e.path, e.in_batch) for e in emulator.requests]
    assert logged == [
        ("/beta/groups/g1", True),
        ("/beta/groups/nope", True),
        ("/beta/auditLogs/signIns", True),
        ("/beta/$batch", False),
    ]


def test_batch_limits_and_ids(emulator: Emulator) -> None:
    many = [{"id": str(i), "method": "GET", "url": "/groups"} for i in range(21)]
    assert _batch(emulator, many).status_code == 400
    assert _batch(emulator, many[:20]).status_code == 200
    duplicate = [{"id": "1", "method": "GET", "url": "/groups"}] * 2
    assert _batch(emulator, duplicate).status_code == 400
    forward = [{"id": "1", "method": "GET", "url": "/groups", "dependsOn": ["9"]}]
    assert _batch(emulator, forward).status_code == 400


def test_batch_items_are_throttled_one_by_one() -> None:
    clock = FakeClock()
    with Emulator(_fixture(), clock=clock, fixed_tokens=True) as running:
        items = [{"id": str(i), "method": "GET", "url": "/auditLogs/signIns"} for i in range(7)]
        responses = _batch(running, items).json()["responses"]
    assert [r["status"] for r in responses] == [200] * 5 + [429, 429]
    assert responses[5]["headers"]["Retry-After"] == "10"


# ---- throttling --------------------------------------------------------------------------------


def test_reports_throttle_five_per_ten_seconds_per_app() -> None:
    clock = FakeClock()
    with Emulator(_fixture(), clock=clock, fixed_tokens=True) as running:
        path = "/beta/reports/servicePrincipalSignInActivities"
        assert [_get(running, path).status_code for _ in range(5)] == [200] * 5
        clock.now += 3
        throttled = _get(running, path)
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
        assert _get(running, path, token="rbac-only").status_code == 403
        clock.now += 7
        assert _get(running, path).status_code == 200


def test_conditional_access_one_per_second_without_retry_after() -> None:
    clock = FakeClock()
    with Emulator(_fixture(), clock=clock, fixed_tokens=True) as running:
        path = "/beta/identity/conditionalAccess/policies"
        assert _get(running, path).status_code == 200
        throttled = _get(running, path)
        assert throttled.status_code == 429
        assert "Retry-After" not in throttled.headers
        clock.now += 1
        assert _get(running, path).status_code == 200


def test_directory_resource_units_and_custom_limits() -> None:
    clock = FakeClock()
    limits = {"directory": Limit(10, 10.0)}
    with Emulator(_fixture(), clock=clock, throttle=limits, fixed_tokens=True) as running:
        costs = [_get(running, "/beta/groups/g0/transitiveMembers") for _ in range(3)]
        assert [r.status_code for r in costs] == [200, 200, 429]
        assert costs[0].headers["x-ms-resource-unit"] == "5"
        # reports are unlimited when the mapping leaves them out
        assert [_get(running, "/beta/auditLogs/signIns").status_code for _ in range(8)] == [200] * 8


# ---- faults ------------------------------------------------------------------------------------


def test_fault_rate_5xx_everywhere_or_on_chosen_routes() -> None:
    with Emulator(
        _fixture(),
        throttle=False,
        faults={"rate_5xx": 1.0, "routes_5xx": ["groups"]},
        fixed_tokens=True,
    ) as running:
        assert _get(running, "/beta/groups/g1").status_code == 503
        assert _get(running, "/beta/servicePrincipals").status_code == 200


def test_fault_script_then_normal_service() -> None:
    faults = {"script": {"groups": [429, 503]}}
    with Emulator(_fixture(), throttle=False, faults=faults, fixed_tokens=True) as running:
        statuses = [_get(running, "/beta/groups").status_code for _ in range(3)]
    assert statuses == [429, 503, 200]


def test_fault_reset_and_truncate_once_per_route() -> None:
    faults = {"reset": ["groups"], "truncate": {"servicePrincipals": 1}}
    with Emulator(_fixture(), throttle=False, faults=faults, fixed_tokens=True) as running:
        with pytest.raises(httpx.TransportError):
            _get(running, "/beta/groups")
        assert _get(running, "/beta/groups").status_code == 200
        with pytest.raises(httpx.TransportError):
            _get(running, "/beta/servicePrincipals")
        assert _get(running, "/beta/servicePrincipals").status_code == 200


def test_fault_deny_removes_a_permission_on_a_route() -> None:
    faults = {"deny": {"auditLogs/signIns": "AuditLog.Read.All"}}
    with Emulator(_fixture(), throttle=False, faults=faults, fixed_tokens=True) as running:
        assert _get(running, "/beta/auditLogs/signIns").status_code == 403
        assert _get(running, "/beta/reports/servicePrincipalSignInActivities").status_code == 200


def test_fault_expired_skip_token_then_restart_succeeds() -> None:
    with Emulator(
        _fixture(), throttle=False, faults={"expire_skiptoken": ["groups"]}, fixed_tokens=True
    ) as running:
        link = _get(running, "/beta/groups?$top=2").json()["@odata.nextLink"]
        expired = _http().get(link, headers=AUTH)
        assert (expired.status_code, expired.json()["error"]["code"]) == (
            400,
            "Directory_ExpiredPageToken",
        )
        assert _ids(_http().get(link, headers=AUTH)) == ["g2", "g3"]


def _walk(emulator: Emulator, path: str, limit: int = 6) -> list[list[str]]:
    response = _get(emulator, path)
    pages = [_ids(response)]
    while "@odata.nextLink" in response.json() and len(pages) < limit:
        response = _http().get(response.json()["@odata.nextLink"], headers=AUTH)
        pages.append(_ids(response))
    return pages


@pytest.mark.parametrize(
    ("fault", "pages"),
    [
        ("empty_page", [[], ["g0", "g1"], ["g2", "g3"], ["g4"]]),
        ("loop", [["g0", "g1"], ["g0", "g1"], ["g2", "g3"], ["g4"]]),
        ("duplicate", [["g0", "g1"], ["g1", "g2"], ["g3", "g4"]]),
    ],
)
def test_paging_edge_case_faults(fault: str, pages: list[list[str]]) -> None:
    with Emulator(
        _fixture(), throttle=False, faults={fault: ["groups"]}, fixed_tokens=True
    ) as running:
        assert _walk(running, "/beta/groups?$top=2") == pages


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds: typo"):
        Emulator(_fixture(), faults={"typo": 1})


# ---- the SDK transport and the serving entry point --------------------------------------------


def test_msgraph_core_client_pages_and_retries_a_429() -> None:
    async def fetch(url: str) -> list[list[str]]:
        http = httpx.AsyncClient(base_url=f"{url}/beta/")
        client = GraphClientFactory.create_with_default_middleware(APIVersion.beta, client=http)
        options = {"kiota_request_options": {}}
        pages, link = [], "groups?$top=3"
        while link:
            response = await client.get(link, headers=AUTH, extensions=options)
            pages.append(_ids(response))
            link = response.json().get("@odata.nextLink")
        await client.aclose()
        return pages

    with Emulator(
        _fixture(), throttle=False, faults={"script": {"groups": [429]}}, fixed_tokens=True
    ) as running:
        assert asyncio.run(fetch(running.url)) == [["g0", "g1", "g2"], ["g3", "g4"]]
        log = [(entry.status, entry.headers.get("retry-attempt")) for entry in running.requests]
    assert log == [(429, None), (200, "1"), (200, None)]


def test_serve_forever_until_stopped() -> None:
    stop, seen = threading.Event(), []

    def ready(running: Emulator) -> None:
        seen.append(_get(running, "/beta/groups/g0").status_code)
        stop.set()

    serve_forever(_fixture(), ready=ready, stop=stop, fixed_tokens=True)
    assert seen == [200]


def test_beta_only_routes_are_unknown_on_v1(emulator: Emulator) -> None:
    v1 = _get(emulator, "/v1.0/deviceManagement/operationApprovalPolicies")
    assert (v1.status_code, v1.json()["error"]["message"]) == (
        400,
        "Resource not found for the segment 'operationApprovalPolicies'.",
    )
    assert _get(emulator, "/v1.0/deviceManagement/auditEvents").status_code == 200
    assert _get(emulator, "/v2.0/groups").status_code == 400


def test_fault_options_from_the_command_line() -> None:
    options = [
        "rate_5xx=0.25",
        "seed=7",
        "reset=groups",
        "reset=auditLogs/signIns:3",
        "script=groups:429,503",
        "deny=auditLogs/signIns:AuditLog.Read.All",
    ]
    assert faults_from_options(options) == {
        "rate_5xx": 0.25,
        "seed": 7,
        "reset": {"groups": 1, "auditLogs/signIns": 3},
        "script": {"groups": [429, 503]},
        "deny": {"auditLogs/signIns": "AuditLog.Read.All"},
    }
    with pytest.raises(UsageError, match="expected KIND=VALUE"):
        faults_from_options(["bogus"])


def test_a_reset_inside_a_batch_breaks_the_batch_and_is_logged() -> None:
    with Emulator(
        _fixture(), throttle=False, faults={"reset": ["groups"]}, fixed_tokens=True
    ) as running:
        items = [{"id": "1", "method": "GET", "url": "/groups"}]
        with pytest.raises(httpx.TransportError):
            _batch(running, items)
        assert [(e.path, e.status, e.fault) for e in running.requests] == [
            ("/beta/groups", 200, "reset"),
            ("/beta/$batch", 200, "reset"),
        ]
        assert _batch(running, items).json()["responses"][0]["status"] == 200


def test_latency_is_added_to_each_reply() -> None:
    with Emulator(_fixture(), throttle=False, latency_ms=60, fixed_tokens=True) as running:
        began = time.perf_counter()
        assert _get(running, "/beta/groups/g0").status_code == 200
        assert time.perf_counter() - began >= 0.06


def test_parallel_readers_page_consistently(emulator: Emulator) -> None:
    def walk(_: int) -> list[str]:
        with httpx.Client(headers=AUTH) as client:
            ids, link = [], f"{emulator.url}/beta/groups?$top=1"
            while link:
                page = client.get(link).json()
                ids += [item["id"] for item in page["value"]]
                link = page.get("@odata.nextLink")
            return ids

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(walk, range(16)))
    assert results == [["g0", "g1", "g2", "g3", "g4"]] * 16
    assert len(emulator.requests) == 16 * 5


def test_a_broken_fixture_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "tenant.json"
    path.write_text('{"collections": {"groups": {"id": "g1"}}}', encoding="utf-8")
    with pytest.raises(
        FixtureError, match=r"collections\.groups: expected a list of objects"
    ) as caught:
        Emulator(path)
    assert caught.value.exit_code == 2
    with pytest.raises(FixtureError, match="cannot read tenant fixture"):
        Emulator(tmp_path / "missing.json")


# ---- date-range filters: bisected over a sorted index, same answer as the predicate ---------


AUDIT_TIMES = [  # deliberately out of order, with a tie, an unparsable and a missing date
    ("a", "2026-10-05T00:00:00Z"),
    ("b", "2026-10-01T00:00:00Z"),
    ("c", "2026-10-05T00:00:00Z"),
    ("d", "not a date"),
    ("e", "2026-10-03T12:00:00.1234567Z"),
    ("f", None),
    ("g", "2026-10-09T00:00:00+02:00"),
]


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("activityDateTime ge 2026-10-03T00:00:00Z", ["a", "c", "e", "g"]),
        ("activityDateTime gt 2026-10-05T00:00:00Z", ["g"]),
        ("activityDateTime lt 2026-10-05T00:00:00Z", ["b", "e"]),
        ("activityDateTime le 2026-10-05T00:00:00Z", ["a", "b", "c", "e"]),
        ("activityDateTime eq 2026-10-05T00:00:00Z", ["a", "c"]),
        (
            "activityDateTime ge 2026-10-01T00:00:00Z and activityDateTime lt 2026-10-05T00:00:00Z",
            ["b", "e"],
        ),
        (
            "activityDateTime gt 2026-10-01T00:00:00Z and activityDateTime ge 2026-10-01T00:00:00Z"
            " and activityDateTime le 2026-10-08T22:00:00Z",
            ["a", "c", "e", "g"],
        ),
        (
            "activityDateTime ge 2026-10-06T00:00:00Z and activityDateTime lt 2026-10-04T00:00:00Z",
            [],
        ),
    ],
)
def test_date_range_filter_bisects_to_the_predicates_items_in_collection_order(
    clause: str, expected: list[str]
) -> None:
    from maa_guard.emulator import odata
    from maa_guard.emulator.tenant import Tenant

    events = [{"id": i, "activityDateTime": t} if t else {"id": i} for i, t in AUDIT_TIMES]
    collection = "deviceManagement/auditEvents"
    tenant = Tenant({"collections": {collection: events}})
    span = odata.time_range(clause, collection)
    predicate = odata.parse_filter(clause, collection)
    assert span is not None and callable(predicate)
    bisected = tenant.by_time(collection, span.prop).between(
        span.low, span.low_open, span.high, span.high_open
    )
    assert [e["id"] for e in bisected] == expected
    assert [e["id"] for e in events if predicate(e)] == expected


@pytest.mark.parametrize(
    "clause",
    [
        "appId eq 'x'",
        "activityDateTime ge 2026-10-01T00:00:00Z and appId eq 'x'",
        "activityDateTime ge 'text'",
        "createdDateTime ge 2026-10-01T00:00:00Z",
    ],
)
def test_filters_that_are_not_a_date_range_use_the_predicate(clause: str) -> None:
    from maa_guard.emulator import odata

    assert odata.time_range(clause, "deviceManagement/auditEvents") is None
