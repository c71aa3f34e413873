"""Pure parts of the collector: paging guard, budgets, permissions, endpoints, credentials."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timezone
from typing import Any

import pytest

from maa_guard.collect.apps import permission_names
from maa_guard.collect.auth import (
    TOKEN_VARIABLE,
    ChainCredential,
    StaticTokenCredential,
    build_credential,
    default_chain,
)
from maa_guard.collect.budget import (
    Budgets,
    EndpointClass,
    Limit,
    SlidingWindow,
    endpoint_class,
    resource_units,
)
from maa_guard.collect.directory import has_intune_plan
from maa_guard.collect.endpoints import resolve_endpoint
from maa_guard.collect.errors import AuthenticationError, PagingError, PermissionDeniedError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.intune import time_slices
from maa_guard.collect.paging import PageGuard
from maa_guard.collect.permissions import missing_permissions, permission_for
from maa_guard.collect.wire import graph_error
from maa_guard.errors import UsageError
from maa_guard.snapshot import Window

GLOBAL = resolve_endpoint()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def page(ids: list[str], link: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": [{"id": i} for i in ids]}
    if link is not None:
        body["@odata.nextLink"] = link
    return body


# ---- paging ---------------------------------------------------------------------------


def test_page_guard_follows_links_and_drops_duplicates_across_pages() -> None:
    guard = PageGuard("users")
    assert guard.accept(page(["a", "b"], "L2")) == ([{"id": "a"}, {"id": "b"}], "L2")
    assert guard.accept(page(["b", "c"], "L3")) == ([{"id": "c"}], "L3")
    assert guard.accept(page(["d"])) == ([{"id": "d"}], None)


def test_page_guard_continues_past_an_empty_page_with_a_next_link() -> None:
    guard = PageGuard("users")
    assert guard.accept(page([], "L2")) == ([], "L2")
    assert guard.accept(page(["a"])) == ([{"id": "a"}], None)


def test_page_guard_detects_a_next_link_loop() -> None:
    guard = PageGuard("groups")
    guard.accept(page(["a"], "L2"))
    guard.accept(page(["b"], "L3"))
    with pytest.raises(PagingError, match=r"^groups: @odata.nextLink loop$"):
        guard.accept(page(["c"], "L2"))


def test_page_guard_detects_a_page_served_twice() -> None:
    guard = PageGuard("groups")
    guard.accept(page(["a", "b"], "L2"))
    with pytest.raises(PagingError, match="the same page was served twice"):
        guard.accept(page(["a", "b"], "L3"))


def test_page_guard_rejects_a_body_without_value() -> None:
    with pytest.raises(PagingError, match="no 'value' list"):
        PageGuard("x").accept({"error": {}})


# ---- budgets --------------------------------------------------------------------------


def test_window_reports_limit_is_five_per_ten_seconds() -> None:
    clock = FakeClock()
    window = SlidingWindow(Limit(5, 10.0), clock, margin=0.0)
    assert [window.reserve() for _ in range(5)] == [0.0] * 5
    assert window.reserve() == 10.0
    assert window.reserve() == 10.0
    clock.now += 4.0
    assert window.reserve() == 6.0
    clock.now += 3.0
    assert window.reserve() == 3.0
    assert window.reserve() == 3.0
    assert window.reserve() == 13.0


def test_window_never_admits_more_than_capacity_in_any_period() -> None:
    clock = FakeClock()
    window = SlidingWindow(Limit(5, 10.0), clock, margin=0.25)
    sends = []
    for step in range(40):
        clock.now = 100.0 + step * 0.7
        sends.append(clock.now + window.reserve())
    assert sends == sorted(sends)
    assert all(b - a >= 10.25 - 1e-9 for a, b in zip(sends, sends[5:], strict=False))


def test_window_cost_larger_than_capacity_takes_a_whole_window() -> None:
    clock = FakeClock()
    window = SlidingWindow(Limit(1, 1.0), clock, margin=0.0)
    assert window.reserve(5) == 0.0
    assert window.reserve(5) == 1.0


def test_budgets_charge_directory_resource_units() -> None:
    clock = FakeClock()
    budgets = Budgets({kind: Limit(10, 10.0) for kind in EndpointClass}, clock, margin=0.0)
    assert budgets.reserve("groups/g1/transitiveMembers", {}) == 0.0
    assert budgets.reserve("groups/g1/transitiveMembers", {}) == 0.0
    assert budgets.reserve("groups/g1/transitiveMembers", {}) == 10.0
    assert budgets.reserve("deviceManagement/auditEvents", {}) == 0.0


BATCH = [
    ("groups/g1/members", {}),  # 3 resource units
    ("groups/g2/members", {}),  # 3
    ("users/u1", {"$select": "id"}),  # 1
]


def test_budgets_book_a_whole_batch_at_one_moment_and_hold_it_until_the_reply() -> None:
    clock = FakeClock()
    budgets = Budgets({kind: Limit(10, 10.0) for kind in EndpointClass}, clock, margin=0.0)
    costs = budgets.costs(BATCH)
    assert costs == {EndpointClass.DIRECTORY: 7.0}
    booked = budgets.book(costs)
    assert booked is not None
    wait, first = booked
    assert wait == 0.0
    assert [(b.at, b.cost, b.end) for _, b in first] == [(100.0, 7.0, float("inf"))]
    # 7 + 7 > 10, and the first batch is still in flight: nothing can be promised yet.
    assert budgets.book(costs) is None
    assert len(first[0][0].booked) == 1
    clock.now = 100.8  # its reply: Graph admitted it at some moment up to now
    budgets.release(first)
    booked = budgets.book(costs)
    assert booked is not None
    wait, second = booked
    assert wait == 10.0  # the whole batch, 10 s after the first batch's reply
    assert [(b.at, b.cost) for _, b in second] == [(110.8, 7.0)]


def test_budgets_book_every_class_of_a_batch_at_the_latest_moment_any_class_allows() -> None:
    clock = FakeClock()
    limits = {kind: Limit(10, 10.0) for kind in EndpointClass}
    limits[EndpointClass.INTUNE] = Limit(2, 20.0)
    budgets = Budgets(limits, clock, margin=0.5)
    assert budgets.reserve("deviceManagement/auditEvents", {}) == 0.0
    assert budgets.reserve("deviceManagement/auditEvents", {}) == 0.0
    mixed = [*BATCH, ("deviceManagement/roleDefinitions/r1", {})]
    booked = budgets.book(budgets.costs(mixed))
    assert booked is not None
    wait, ticket = booked
    assert wait == 20.5
    assert {(b.at, b.cost) for _, b in ticket} == {(120.5, 7.0), (120.5, 1.0)}


def test_budget_slot_waits_once_and_releases_when_the_reply_arrives() -> None:
    clock = FakeClock()
    budgets = Budgets({kind: Limit(10, 10.0) for kind in EndpointClass}, clock, margin=0.0)
    window = budgets._windows[EndpointClass.DIRECTORY]

    async def send() -> list[float]:
        async with budgets.slot(BATCH):
            ends = [b.end for b in window.booked]
            clock.now += 0.3
        return ends + [b.end for b in window.booked]

    assert asyncio.run(send()) == [float("inf"), 100.3]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("deviceManagement/operationApprovalPolicies", EndpointClass.INTUNE),
        ("/identity/conditionalAccess/policies", EndpointClass.CONDITIONAL_ACCESS),
        ("reports/servicePrincipalSignInActivities", EndpointClass.REPORTS),
        ("auditLogs/signIns?$top=1000", EndpointClass.REPORTS),
        ("servicePrincipals(appId='x')", EndpointClass.DIRECTORY),
        ("deviceManagement", EndpointClass.INTUNE),
    ],
)
def test_endpoint_class(path: str, kind: EndpointClass) -> None:
    assert endpoint_class(path) is kind


@pytest.mark.parametrize(
    ("path", "query", "units"),
    [
        ("groups/g/transitiveMembers", {}, 5),
        ("groups/g/transitiveMembers", {"$select": "id"}, 4),
        ("groups/g/members", {"$select": "id", "$top": "999"}, 2),
        ("groups/g/members", {"$select": "id", "$top": "5"}, 1),
        ("users", {}, 2),
        ("applications(appId='a')", {"$select": "id", "$expand": "owners"}, 2),
        ("groups/g", {"$select": "id"}, 1),
    ],
)
def test_resource_units(path: str, query: dict[str, str], units: int) -> None:
    assert resource_units(path, query) == units


# ---- permissions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("deviceManagement/operationApprovalPolicies/p1", "DeviceManagementRBAC.Read.All"),
        ("/beta/deviceManagement/auditEvents?$top=1000", "DeviceManagementApps.Read.All"),
        ("groups/g1/transitiveMembers?$select=id", "GroupMember.Read.All"),
        ("users/u1/licenseDetails", "User.Read.All"),
        ("servicePrincipals(appId='a')/owners", "Application.Read.All"),
        ("identity/conditionalAccess/policies", "Policy.Read.All"),
        ("reports/servicePrincipalSignInActivities", "AuditLog.Read.All"),
    ],
)
def test_permission_for_route(path: str, permission: str) -> None:
    assert permission_for(path) == permission


def test_a_403_names_the_missing_permission() -> None:
    body = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient"}}
    error = graph_error("groups/g1/members", 403, body)
    assert isinstance(error, PermissionDeniedError)
    assert error.permission == "GroupMember.Read.All"
    assert error.message == (
        "GET groups/g1/members: HTTP 403 Authorization_RequestDenied; "
        "missing permission GroupMember.Read.All"
    )
    assert error.exit_code == 3


def test_missing_permissions_accepts_readwrite_for_read() -> None:
    granted = [
        "DeviceManagementRBAC.ReadWrite.All",
        "DeviceManagementApps.Read.All",
        "Application.Read.All",
        "GroupMember.Read.All",
        "User.Read.All",
        "Policy.Read.All",
    ]
    assert missing_permissions(granted) == {"sign_in_activity": ("AuditLog.Read.All",)}


def test_graph_permission_names_resolve_through_app_roles_in_grant_order() -> None:
    grants = [
        {"appRoleId": "r2", "resourceId": "GRAPH"},
        {"appRoleId": "r1", "resourceId": "graph"},
        {"appRoleId": "r1", "resourceId": "other-api"},
        {"appRoleId": "r9", "resourceId": "GRAPH"},
    ]
    names = {"r1": "Group.Read.All", "r2": "DeviceManagementApps.ReadWrite.All"}
    assert permission_names(grants, "graph", names) == (
        "DeviceManagementApps.ReadWrite.All",
        "Group.Read.All",
        "r9",
    )


def test_intune_licence_from_service_plans() -> None:
    assert has_intune_plan([{"servicePlans": [{"servicePlanName": "INTUNE_A"}]}]) is True
    disabled = {"servicePlanName": "INTUNE_A", "provisioningStatus": "Disabled"}
    assert has_intune_plan([{"servicePlans": [disabled]}]) is False
    assert (
        has_intune_plan([{"servicePlans": [{"servicePlanName": "EXCHANGE_S_STANDARD"}]}]) is False
    )
    assert has_intune_plan([]) is False


# ---- endpoints ------------------------------------------------------------------------


def test_clouds_set_graph_and_authority_hosts() -> None:
    dod = resolve_endpoint("usgov-dod")
    assert (dod.root, dod.authority, dod.scope) == (
        "https://dod-graph.microsoft.us",
        "login.microsoftonline.us",
        "https://dod-graph.microsoft.us/.default",
    )
    china = resolve_endpoint("china")
    assert (china.root, china.authority) == (
        "https://microsoftgraph.chinacloudapi.cn",
        "login.chinacloudapi.cn",
    )


def test_graph_endpoint_override_keeps_the_cloud_scope_and_drops_a_version() -> None:
    endpoint = resolve_endpoint("global", "http://127.0.0.1:8080/beta/")
    assert endpoint.root == "http://127.0.0.1:8080"
    assert endpoint.scope == "https://graph.microsoft.com/.default"
    assert endpoint.url("beta", "/groups/g1") == "http://127.0.0.1:8080/beta/groups/g1"


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(UsageError, match="plain http to a remote host"):
        resolve_endpoint("global", "http://proxy.example:8080")
    with pytest.raises(UsageError, match="unknown cloud 'moon'"):
        resolve_endpoint("moon")


# ---- audit slices ---------------------------------------------------------------------


def test_thirty_day_window_splits_into_thirty_adjacent_slices() -> None:
    window = Window(
        datetime(2026, 10, 2, 8, tzinfo=timezone.utc), datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
    )
    slices = time_slices(window, 30)
    assert len(slices) == 30
    assert slices[0].start == window.start
    assert slices[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(slices))
    assert slices[0].end == datetime(2026, 10, 3, 8, tzinfo=timezone.utc)


# ---- credentials ----------------------------------------------------------------------


def test_token_auth_reads_the_environment_only_and_hides_the_token() -> None:
    credential = build_credential("token", GLOBAL, {TOKEN_VARIABLE: " tok-123 "})
    assert isinstance(credential, StaticTokenCredential)
    assert credential.get_token("https://graph.microsoft.com/.default").token == "tok-123"
    assert "tok-123" not in repr(credential)


def test_token_auth_without_the_variable_is_a_configuration_error() -> None:
    with pytest.raises(AuthenticationError) as caught:
        build_credential("token", GLOBAL, {})
    assert caught.value.exit_code == 2
    assert caught.value.message == "--auth token: MAA_GUARD_ACCESS_TOKEN is not set"
    assert caught.value.hint == "export MAA_GUARD_ACCESS_TOKEN with a Graph access token"


def test_certificate_auth_names_the_missing_variables() -> None:
    with pytest.raises(
        AuthenticationError,
        match=r"^--auth certificate: "
        r"AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH not set$",
    ):
        build_credential("certificate", GLOBAL, {"AZURE_TENANT_ID": "t"})


def test_unknown_auth_method() -> None:
    with pytest.raises(AuthenticationError, match="unknown --auth 'password'"):
        build_credential("password", GLOBAL, {})


def test_default_chain_skips_what_is_not_configured() -> None:
    steps = default_chain(GLOBAL, {}, lambda name: None)
    assert [name for name, _ in steps] == [
        "env",
        "workload-identity",
        "managed-identity",
        "azure-cli",
    ]
    reasons = [step for _, step in steps if isinstance(step, str)]
    assert reasons == [
        "AZURE_TENANT_ID, AZURE_CLIENT_ID not set",
        "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE not set",
        "the 'az' command is not on PATH",
    ]
    assert callable(steps[2][1])


def test_default_chain_failure_lists_what_was_tried_and_how_to_fix_each() -> None:
    def no_imds() -> Any:
        raise RuntimeError("ManagedIdentityCredential authentication unavailable.\nmore")

    chain = ChainCredential([("env", "AZURE_TENANT_ID not set"), ("managed-identity", no_imds)])
    with pytest.raises(AuthenticationError) as caught:
        chain.get_token("scope")
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        "no credential worked (tried env: AZURE_TENANT_ID not set; "
        "managed-identity: ManagedIdentityCredential authentication unavailable.)"
    )
    assert caught.value.hint.startswith("choose one with --auth, or fix one of them - env: set ")
    assert "managed-identity: run on an Azure resource with a managed identity" in caught.value.hint


def test_chain_uses_the_first_credential_that_works() -> None:
    chain = ChainCredential(
        [("env", "not set"), ("azure-cli", lambda: StaticTokenCredential("from-cli"))]
    )
    assert chain.get_token("scope").token == "from-cli"


def test_the_client_has_no_write_methods() -> None:
    public = {name for name in dir(GraphClient) if not name.startswith("_")}
    assert public == {
        "aclose",
        "batch_get",
        "batch_get_all",
        "follow",
        "get",
        "get_all",
        "get_link",
    }


def test_env_and_workload_identity_build_the_azure_identity_classes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from azure.identity import ClientSecretCredential, WorkloadIdentityCredential

    token_file = tmp_path / "oidc.jwt"
    token_file.write_text("header.payload.signature")
    environ = {
        "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
        "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
        "AZURE_CLIENT_SECRET": "not-used",
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
    }
    # The process environment names no app: ``env`` must read the mapping it is given.
    for name in environ:
        monkeypatch.delenv(name, raising=False)
    assert isinstance(build_credential("env", GLOBAL, environ), ClientSecretCredential)
    workload = build_credential("workload-identity", GLOBAL, environ)
    assert isinstance(workload, WorkloadIdentityCredential)


def test_a_credential_failure_becomes_an_authentication_error_without_secrets() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class Broken:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")

    async def go() -> None:
        endpoint = resolve_endpoint("global", "http://127.0.0.1:9")
        async with GraphClient(Broken(), endpoint) as client:
            await client.get("groups")

    with pytest.raises(AuthenticationError) as caught:
        asyncio.run(go())
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        "could not get a Graph token: AADSTS7000215: Invalid client secret provided."
    )
