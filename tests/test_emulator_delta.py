"""Graph delta queries in the emulator, and changing its tenant between reads, over real HTTP."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from maa_guard.emulator import READER_TOKEN, Emulator, fixture_from_snapshot
from maa_guard.emulator.faults import faults_from_options
from maa_guard.snapshot.file import load_snapshot

TOKEN = "reader"
DEMO = Path(__file__).resolve().parent.parent / "maa_guard" / "data" / "demo" / "snapshot.json"
EXPIRED = (
    "The sync state generation is not found. The delta token is expired and data must be "
    "synchronized again."
)
UNSUPPORTED = "Delta query is not supported on this resource."
INVALID = "The state token is not valid: send the link as received."
REMOVED = {"reason": "changed"}


def _fixture() -> dict[str, Any]:
    return {
        "tenant": {"id": "t1"},
        "tokens": {
            TOKEN: {
                "kind": "application",
                "appId": "app-reader",
                "roles": [
                    "User.Read.All",
                    "GroupMember.Read.All",
                    "Application.Read.All",
                    "DeviceManagementApps.Read.All",
                ],
            },
            "groups-only": {
                "kind": "application",
                "appId": "app-groups",
                "roles": ["GroupMember.Read.All"],
            },
            "writer": {
                "kind": "application",
                "appId": "app-writer",
                "roles": ["User.ReadWrite.All"],
            },
        },
        "collections": {
            "users": [
                {"id": f"u{i}", "displayName": f"User {i}", "city": "Oslo"} for i in range(5)
            ],
            "groups": [{"id": f"g{i}", "displayName": f"Group {i}"} for i in range(3)],
            "servicePrincipals": [{"id": "sp1", "appId": "a1", "displayName": "One"}],
            "applications": [{"id": "app1", "appId": "a1", "displayName": "One"}],
            "deviceManagement/auditEvents": [
                {"id": "e1", "activityDateTime": "2026-10-01T00:00:00Z"}
            ],
        },
        "relationships": {
            "groups/{id}/members": {"g0": [{"@odata.type": "#microsoft.graph.user", "id": "u1"}]},
        },
    }


@functools.cache
def _http() -> httpx.Client:
    return httpx.Client()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(_fixture(), throttle=False, fixed_tokens=True) as running:
        yield running


def _get(emulator: Emulator, path_or_url: str, token: str = TOKEN) -> httpx.Response:
    url = path_or_url if path_or_url.startswith("http") else f"{emulator.url}{path_or_url}"
    return _http().get(url, headers={"Authorization": f"Bearer {token}"})


def _round(emulator: Emulator, path_or_url: str, token: str = TOKEN) -> tuple[list[list[Any]], str]:
    """Every page's values of one round, and the deltaLink on its last page."""
    body = _get(emulator, path_or_url, token).json()
    pages = [body["value"]]
    while "@odata.nextLink" in body:
        assert "@odata.deltaLink" not in body
        body = _get(emulator, body["@odata.nextLink"], token).json()
        pages.append(body["value"])
    return pages, body["@odata.deltaLink"]


def _ids(pages: list[list[Any]]) -> list[list[str]]:
    return [[item["id"] for item in page] for page in pages]


def _error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


# ---- the full round ------------------------------------------------------------------------


def test_full_round_pages_by_skip_token_and_ends_with_a_delta_link(emulator: Emulator) -> None:
    first = _get(emulator, "/v1.0/users/delta?$top=2")
    assert first.status_code == 200
    assert first.headers["x-ms-resource-unit"] == "1"
    body = first.json()
    assert body["@odata.context"] == f"{emulator.url}/v1.0/$metadata#users"
    assert body["@odata.nextLink"].startswith(f"{emulator.url}/v1.0/users/delta?$skiptoken=")
    assert "@odata.deltaLink" not in body
    pages, delta_link = _round(emulator, "/v1.0/users/delta?$top=2")
    assert _ids(pages) == [["u0", "u1"], ["u2", "u3"], ["u4"]]
    assert pages[0][0] == {"id": "u0", "displayName": "User 0", "city": "Oslo"}
    assert delta_link.startswith(f"{emulator.url}/v1.0/users/delta?$deltatoken=")


def test_default_page_size_is_the_collections_and_the_full_name_is_served(
    emulator: Emulator,
) -> None:
    emulator.change.append("users", [{"id": f"x{i:03}"} for i in range(120)])
    pages, _ = _round(emulator, "/beta/users/microsoft.graph.delta")
    assert [len(page) for page in pages] == [100, 25]
    assert _ids(_round(emulator, "/beta/groups/delta()")[0]) == [["g0", "g1", "g2"]]


def test_a_delta_link_after_no_change_returns_nothing_and_a_new_link(emulator: Emulator) -> None:
    _, link = _round(emulator, "/v1.0/groups/delta")
    body = _get(emulator, link).json()
    assert body["value"] == []
    assert "@odata.nextLink" not in body
    assert body["@odata.deltaLink"].startswith(f"{emulator.url}/v1.0/groups/delta?$deltatoken=")
    assert _get(emulator, body["@odata.deltaLink"]).json()["value"] == []


def test_latest_answers_a_link_for_now_and_no_objects(emulator: Emulator) -> None:
    response = _get(emulator, "/v1.0/groups/delta?$deltatoken=latest")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"@odata.context", "value", "@odata.deltaLink"}
    assert body["value"] == []
    assert body["@odata.deltaLink"].startswith(f"{emulator.url}/v1.0/groups/delta?$deltatoken=")
    emulator.change.put("groups", {"id": "g9", "displayName": "New"})
    changed = _get(emulator, body["@odata.deltaLink"]).json()
    assert changed["value"] == [{"id": "g9", "displayName": "New"}]


# ---- changes -------------------------------------------------------------------------------


def test_delta_link_returns_exactly_the_changed_and_removed_objects(emulator: Emulator) -> None:
    _, link = _round(emulator, "/v1.0/groups/delta")
    emulator.change.put("groups", {"id": "g3", "displayName": "Group 3"})
    emulator.change.put("groups", {"id": "G0", "displayName": "Group zero"})
    emulator.change.remove("groups", "g1")
    members = [{"@odata.type": "#microsoft.graph.user", "id": "u2"}]
    emulator.change.set_relationship("groups/{id}/members", "g2", members)
    emulator.change.put("users", {"id": "u0", "displayName": "Not a group"})
    emulator.change.append("deviceManagement/auditEvents", [{"id": "e2"}])
    pages, following = _round(emulator, link)
    assert pages == [
        [
            {"id": "g3", "displayName": "Group 3"},
            {"id": "G0", "displayName": "Group zero"},
            {"id": "g1", "@removed": REMOVED},
            {"id": "g2", "displayName": "Group 2"},
        ]
    ]
    assert _round(emulator, following)[0] == [[]]
    users, _ = _round(emulator, "/v1.0/users/delta?$select=displayName")
    assert users[0][0] == {"id": "u0", "displayName": "Not a group"}


def test_relationship_changes_mark_their_parent_changed(emulator: Emulator) -> None:
    _, users = _round(emulator, "/v1.0/users/delta")
    _, principals = _round(emulator, "/v1.0/servicePrincipals/delta")
    _, apps = _round(emulator, "/v1.0/applications/delta")
    emulator.change.set_relationship("users/{id}/licenseDetails", "u3", [{"id": "l1"}])
    emulator.change.set_relationship("servicePrincipals/{id}/owners", "SP1", [{"id": "u1"}])
    emulator.change.set_relationship("applications/{id}/federatedIdentityCredentials", "app1", [])
    assert _ids(_round(emulator, users)[0]) == [["u3"]]
    assert _ids(_round(emulator, principals)[0]) == [["sp1"]]
    assert _ids(_round(emulator, apps)[0]) == [["app1"]]
    owners = _get(emulator, "/v1.0/servicePrincipals/sp1/owners").json()["value"]
    assert owners == [{"id": "u1"}]


def test_a_change_of_the_same_object_twice_is_reported_once_as_it_is_now(
    emulator: Emulator,
) -> None:
    _, link = _round(emulator, "/v1.0/users/delta")
    emulator.change.remove("users", "u1")
    emulator.change.put("users", {"id": "u2", "displayName": "Two"})
    emulator.change.put("users", {"id": "u1", "displayName": "Back"})
    emulator.change.put("users", {"id": "u2", "displayName": "Two again"})
    assert _round(emulator, link)[0] == [
        [{"id": "u1", "displayName": "Back"}, {"id": "u2", "displayName": "Two again"}]
    ]


def test_changes_page_with_top_and_select_is_carried_by_the_tokens(emulator: Emulator) -> None:
    first = _get(emulator, "/v1.0/users/delta?$select=displayName&$top=2").json()
    assert first["@odata.context"] == f"{emulator.url}/v1.0/$metadata#users(displayName)"
    assert "$select" not in first["@odata.nextLink"]
    pages, link = _round(emulator, "/v1.0/users/delta?$select=displayName&$top=2")
    assert pages[2] == [{"id": "u4", "displayName": "User 4"}]
    for user in ("u0", "u1", "u4"):
        emulator.change.put("users", {"id": user, "displayName": user.upper(), "city": "Bergen"})
    changed = _get(emulator, link).json()
    assert changed["@odata.context"] == f"{emulator.url}/v1.0/$metadata#users(displayName)"
    assert changed["value"] == [
        {"id": "u0", "displayName": "U0"},
        {"id": "u1", "displayName": "U1"},
    ]
    rest = _get(emulator, changed["@odata.nextLink"]).json()
    assert rest["value"] == [{"id": "u4", "displayName": "U4"}]
    assert "@odata.deltaLink" in rest


def test_removing_an_object_drops_the_relationships_under_it(emulator: Emulator) -> None:
    emulator.change.remove("groups", "g0")
    assert _get(emulator, "/v1.0/groups/g0/members").status_code == 404
    assert _ids([_get(emulator, "/v1.0/groups").json()["value"]]) == [["g1", "g2"]]


def test_append_grows_a_collection_that_has_no_delta(emulator: Emulator) -> None:
    path = "/beta/deviceManagement/auditEvents?$filter=activityDateTime ge 2026-09-01T00:00:00Z"
    assert [e["id"] for e in _get(emulator, path).json()["value"]] == ["e1"]
    emulator.change.append(
        "deviceManagement/auditEvents", [{"id": "e2", "activityDateTime": "2026-10-02T00:00:00Z"}]
    )
    assert [e["id"] for e in _get(emulator, path).json()["value"]] == ["e1", "e2"]


def test_a_graph_write_to_a_user_is_a_change(emulator: Emulator) -> None:
    _, link = _round(emulator, "/v1.0/users/delta")
    written = _http().patch(
        f"{emulator.url}/v1.0/users/u2",
        json={"city": "Bergen"},
        headers={"Authorization": "Bearer writer"},
    )
    assert written.status_code == 204
    deleted = _http().delete(
        f"{emulator.url}/v1.0/users/u3", headers={"Authorization": "Bearer writer"}
    )
    assert deleted.status_code == 204
    assert _round(emulator, link)[0] == [
        [{"id": "u2", "displayName": "User 2", "city": "Bergen"}, {"id": "u3", "@removed": REMOVED}]
    ]


def test_the_change_api_refuses_what_the_fixture_lacks(emulator: Emulator) -> None:
    with pytest.raises(LookupError, match="the fixture has no collection 'devices'"):
        emulator.change.put("devices", {"id": "d1"})
    with pytest.raises(LookupError, match="groups has no item 'g7'"):
        emulator.change.remove("groups", "g7")
    with pytest.raises(LookupError, match="groups has no item 'g7'"):
        emulator.change.set_relationship("groups/{id}/owners", "g7", [])
    with pytest.raises(ValueError, match="an item needs a string 'id'"):
        emulator.change.put("users", {"displayName": "nobody"})
    with pytest.raises(ValueError, match="expected 'collection/"):
        emulator.change.set_relationship("groups/owners", "g0", [])


# ---- refusals ------------------------------------------------------------------------------


def test_expired_tokens_answer_410_and_a_new_round_works(emulator: Emulator) -> None:
    _, link = _round(emulator, "/v1.0/users/delta")
    skip = _get(emulator, "/v1.0/users/delta?$top=2").json()["@odata.nextLink"]
    emulator.expire_delta_tokens()
    assert _error(_get(emulator, link)) == (410, "syncStateNotFound", EXPIRED)
    assert _error(_get(emulator, skip)) == (410, "syncStateNotFound", EXPIRED)
    assert _ids(_round(emulator, "/v1.0/users/delta")[0]) == [["u0", "u1", "u2", "u3", "u4"]]


def test_delta_switched_off_answers_400_unsupported() -> None:
    with Emulator(_fixture(), throttle=False, fixed_tokens=True, delta=False) as running:
        assert running.delta is False
        response = _get(running, "/v1.0/users/delta")
        assert _error(response) == (400, "Request_UnsupportedQuery", UNSUPPORTED)
        assert _get(running, "/v1.0/users").status_code == 200
        running.delta = True
        _, link = _round(running, "/v1.0/users/delta")
        running.delta = False
        assert _error(_get(running, link)) == (400, "Request_UnsupportedQuery", UNSUPPORTED)


def test_faults_expire_a_delta_token_once_and_switch_delta_off_on_a_route() -> None:
    faults = faults_from_options(["expire_deltatoken=users", "no_delta=groups"])
    assert faults == {"expire_deltatoken": {"users": 1}, "no_delta": ["groups"]}
    with Emulator(_fixture(), throttle=False, faults=faults, fixed_tokens=True) as running:
        _, link = _round(running, "/v1.0/users/delta")
        assert _error(_get(running, link)) == (410, "syncStateNotFound", EXPIRED)
        assert _get(running, link).json()["value"] == []
        groups = _get(running, "/v1.0/groups/delta")
        assert _error(groups) == (400, "Request_UnsupportedQuery", UNSUPPORTED)


def test_a_garbled_or_misused_token_answers_400(emulator: Emulator) -> None:
    _, link = _round(emulator, "/v1.0/users/delta")
    token = link.split("$deltatoken=", 1)[1]
    garbled = token[:-1] + ("0" if token[-1] != "0" else "1")
    invalid = (400, "BadRequest", INVALID)
    assert _error(_get(emulator, f"/v1.0/users/delta?$deltatoken={garbled}")) == invalid
    assert _error(_get(emulator, "/v1.0/users/delta?$deltatoken=é%00")) == invalid
    assert _error(_get(emulator, f"/v1.0/groups/delta?$deltatoken={token}")) == invalid
    assert _error(_get(emulator, f"/v1.0/users/delta?$skiptoken={token}")) == invalid
    both = f"/v1.0/users/delta?$deltatoken={token}&$skiptoken={token}"
    assert _error(_get(emulator, both)) == invalid


def test_delta_needs_the_permissions_of_its_collection(emulator: Emulator) -> None:
    denied = _get(emulator, "/v1.0/users/delta", token="groups-only")
    assert _error(denied) == (
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
    assert _get(emulator, "/v1.0/users", token="groups-only").status_code == 403
    assert _get(emulator, "/v1.0/groups/delta", token="groups-only").status_code == 200


def test_query_options_delta_does_not_take_are_refused(emulator: Emulator) -> None:
    response = _get(emulator, "/v1.0/users/delta?$filter=id eq 'u1'")
    assert _error(response) == (
        400,
        "Request_UnsupportedQuery",
        "The emulator's delta query takes $select and $top.",
    )
    assert _get(emulator, "/v1.0/users/delta?$top=1000").status_code == 400
    post = _http().post(
        f"{emulator.url}/v1.0/users/delta", json={}, headers={"Authorization": "Bearer writer"}
    )
    assert post.status_code == 405


def test_delta_is_served_on_a_fixture_built_from_a_snapshot() -> None:
    fixture = fixture_from_snapshot(load_snapshot(DEMO))
    with Emulator(fixture, throttle=False, fixed_tokens=True) as running:
        for collection in ("users", "groups", "servicePrincipals", "applications"):
            pages, link = _round(running, f"/v1.0/{collection}/delta?$select=id", READER_TOKEN)
            served = [item["id"] for item in running.tenant.collections[collection]]
            assert [item_id for page in _ids(pages) for item_id in page] == served
            assert served
            assert _get(running, link, READER_TOKEN).json()["value"] == []
