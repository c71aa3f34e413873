"""Snapshot loading is strict: unknown versions, missing fields, wrong types exit 2 with a path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maa_guard.errors import InputError
from maa_guard.model import ExclusionSource, SourceState
from maa_guard.snapshot import SOURCES
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot, parse_snapshot, snapshot_to_json

TENANT = "0b8f6d3e-0000-4000-8000-000000000001"


def document() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tool_version": "0.1.0",
        "collected_at": "2026-11-01T08:00:00Z",
        "tenant": {"id": TENANT, "display_name": "Fixture"},
        "window": {"start": "2026-10-02T08:00:00Z", "end": "2026-11-01T08:00:00Z"},
        "sources": {name: {"state": "complete"} for name in SOURCES},
        "policies": [
            {
                "id": "p-apps",
                "displayName": "Apps",
                "policyType": "app",
                "policyPlatform": "notApplicable",
                "approverGroupIds": ["g-1"],
                "lastModifiedDateTime": "2026-07-01T10:00:00.1234567Z",
                "exclusions": [{"appId": "app-1", "source": "policy-property"}],
            },
        ],
        "approval_requests": [
            {
                "id": "r-1",
                "status": "approved",
                "requestDateTime": "2026-10-30T08:00:00Z",
                "requestor": {"user": {"id": "u-1", "displayName": "Ann"}},
                "approver": {"user": {"id": "u-2", "displayName": "Bob"}, "application": None},
                "requestJustification": "CHG0001 rotate",
                "requiredOperationApprovalPolicyTypes": ["app"],
            },
        ],
        "groups": [
            {
                "id": "g-1",
                "displayName": "Approvers",
                "securityEnabled": True,
                "mailEnabled": False,
                "members": [{"id": "u-1", "type": "user"}],
                "owners": [],
            },
        ],
        "users": [
            {
                "id": "u-1",
                "userPrincipalName": "ann@x.example",
                "accountEnabled": True,
                "intuneLicensed": True,
            }
        ],
        "service_principals": [
            {
                "id": "sp-1",
                "appId": "app-1",
                "accountEnabled": True,
                "displayName": "Runbook",
                "appOwnerOrganizationId": TENANT,
                "appPermissions": ["DeviceManagementApps.ReadWrite.All"],
                "keyCredentials": [{"keyId": "k-1", "endDateTime": "2027-01-01T00:00:00Z"}],
                "application": {
                    "id": "a-1",
                    "appId": "app-1",
                    "federatedIdentityCredentials": [
                        {
                            "name": "gh",
                            "issuer": "https://token.actions.githubusercontent.com",
                            "subject": "repo:x/y:ref:refs/heads/main",
                        }
                    ],
                },
            },
        ],
        "conditional_access_policies": [
            {
                "id": "ca-1",
                "displayName": "Block",
                "state": "enabled",
                "conditions": {
                    "clientApplications": {"includeServicePrincipals": ["sp-1"]},
                    "locations": {"includeLocations": ["All"], "excludeLocations": ["n"]},
                },
                "grantControls": {"operator": "OR", "builtInControls": ["block"]},
            },
        ],
        "role_definitions": [{"id": "rd-1", "displayName": "MAA approvers"}],
        "role_assignments": [{"id": "ra-1", "displayName": "Approvers", "members": ["g-1"]}],
        "audit_events": [
            {
                "id": "e-1",
                "activityDateTime": "2026-10-20T08:00:00Z",
                "activity": "Create MobileApp",
                "activityOperationType": "Create",
                "activityResult": "Success",
                "category": "Application",
                "actor": {"applicationId": "app-1", "applicationDisplayName": "Runbook"},
                "resources": [{"resourceId": "m-1", "displayName": "7-Zip", "type": "MobileApp"}],
            },
        ],
        "sign_in_activity": [
            {"appId": "app-1", "lastAppOnlyClientSignInDateTime": "2026-10-31T00:00:00Z"}
        ],
    }


def problem(raw: Any) -> str:
    with pytest.raises(InputError) as caught:
        parse_snapshot(raw, "snap.json")
    assert caught.value.exit_code == 2
    return caught.value.message


def test_valid_document_loads_every_part() -> None:
    snapshot = parse_snapshot(document())
    assert snapshot.tenant.id == TENANT
    assert snapshot.policies[0].approver_group_ids == ("g-1",)
    assert snapshot.policies[0].exclusions[0].source is ExclusionSource.POLICY_PROPERTY
    assert snapshot.policies[0].last_modified_date_time.microsecond == 123456
    assert snapshot.approval_requests[0].approver.user.id == "u-2"
    assert snapshot.service_principals[0].application.federated_identity_credentials[0].name == "gh"
    assert snapshot.conditional_access_policies[0].grant_controls.built_in_controls == ("block",)
    assert snapshot.audit_events[0].actor.is_app_only
    assert snapshot.source_state("groups").state is SourceState.COMPLETE


def test_round_trip_is_lossless() -> None:
    snapshot = parse_snapshot(document())
    again = parse_snapshot(json.loads(snapshot_to_json(snapshot)))
    assert again == snapshot
    assert encode(again) == encode(snapshot)


def test_unrecorded_source_counts_as_failed() -> None:
    raw = document()
    del raw["sources"]["groups"]
    assert parse_snapshot(raw).source_state("groups").state is SourceState.FAILED


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["policies"][0].update(approverGroupIds="g-1"),
            "snap.json: policies[0].approverGroupIds: expected a list of strings, "
            "got the string 'g-1'",
        ),
        (
            lambda d: d["policies"][0].update(approverGroupIds=["g-1", 7]),
            "snap.json: policies[0].approverGroupIds: expected a list of strings",
        ),
        (
            lambda d: d["policies"][0].pop("policyType"),
            "snap.json: policies[0].policyType: required field is missing",
        ),
        (
            lambda d: d["groups"][0].update(securityEnabled="yes"),
            "snap.json: groups[0].securityEnabled: expected a boolean, got the string 'yes'",
        ),
        (
            lambda d: d["sources"].update(groups={"state": "done"}),
            "snap.json: sources.groups.state: expected one of complete, partial, failed, declared, "
            "got the string 'done'",
        ),
        (
            lambda d: d.update(collected_at="yesterday"),
            "snap.json: collected_at: expected an ISO 8601 date-time with a time zone, "
            "got the string 'yesterday'",
        ),
        (
            lambda d: d.update(collected_at="2026-11-01T08:00:00"),
            "snap.json: collected_at: expected an ISO 8601 date-time with a time zone, "
            "got the string '2026-11-01T08:00:00'",
        ),
        (
            lambda d: d["service_principals"][0]["application"]["federatedIdentityCredentials"][
                0
            ].pop("issuer"),
            "snap.json: service_principals[0].application.federatedIdentityCredentials[0].issuer: "
            "required field is missing",
        ),
        (
            lambda d: d.update(audit_events={}),
            "snap.json: audit_events: expected a list, got an object",
        ),
        (lambda d: d.pop("tenant"), "snap.json: tenant: required field is missing"),
        (
            lambda d: d["policies"][0]["exclusions"][0].update(source="rumour"),
            "snap.json: policies[0].exclusions[0].source: expected one of policy-property, "
            "audit-log, "
            "declared, got the string 'rumour'",
        ),
    ],
)
def test_malformed_documents_name_the_json_path(mutate: Any, message: str) -> None:
    raw = document()
    mutate(raw)
    assert problem(raw) == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "snap.json: expected a JSON object at the top level"),
        ({}, "snap.json: schema_version: required field is missing"),
        (
            {"schema_version": 99},
            "snap.json: schema_version: unknown version 99 (this maa-guard reads 1)",
        ),
        (
            {"schema_version": "1"},
            "snap.json: schema_version: unknown version '1' (this maa-guard reads 1)",
        ),
    ],
)
def test_envelope_problems(raw: Any, message: str) -> None:
    assert problem(raw) == message


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_snapshot(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1,')
    with pytest.raises(
        InputError,
        match="not valid JSON: Expecting property name enclosed in double quotes at line 1 "
        "column 22",
    ):
        load_snapshot(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError):
        load_snapshot(binary)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutated(raw: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    target = raw
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


ALL_PATHS = _paths(document())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(path=st.sampled_from(ALL_PATHS), value=JSON_VALUES, delete=st.booleans())
def test_any_mutation_loads_or_fails_cleanly(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    raw = _mutated(copy.deepcopy(document()), path, value, delete)
    try:
        parse_snapshot(raw, "snap.json")
    except InputError as error:
        assert error.exit_code == 2
        assert error.message.startswith("snap.json")
        assert "\n" not in error.message


def test_null_text_takes_its_default_but_a_null_list_or_flag_is_an_error() -> None:
    raw = document()
    raw["policies"][0]["description"] = None
    assert parse_snapshot(raw).policies[0].description == ""
    raw["service_principals"][0]["passwordCredentials"] = None
    assert problem(raw) == (
        "snap.json: service_principals[0].passwordCredentials: expected a list, got null"
    )
    raw = document()
    raw["groups"][0]["owners"] = None
    assert problem(raw) == "snap.json: groups[0].owners: expected a list, got null"


def _load_text(tmp_path: Path, text: str) -> str:
    path = tmp_path / "snap.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_snapshot(path)
    assert caught.value.exit_code == 2
    return caught.value.message.removeprefix(f"{path}: ")


def test_hostile_documents_are_input_errors(tmp_path: Path) -> None:
    assert _load_text(tmp_path, '{"schema_version": 1, "x": ' + "[" * 100_000) == (
        "JSON nested too deeply"
    )
    huge = '{"schema_version": 1, "tool_version": ' + "9" * 5000 + "}"
    assert _load_text(tmp_path, huge).startswith("not a valid snapshot: Exceeds the limit")
    raw = document()
    raw["collected_at"] = "0001-01-01T00:00:00+01:00"
    assert problem(raw) == (
        "snap.json: collected_at: expected an ISO 8601 date-time with a time zone, "
        "got the string '0001-01-01T00:00:00+01:00'"
    )
    raw = document()
    raw["groups"][0]["displayName"] = "\ud800"
    assert problem(raw) == (
        "snap.json: groups[0].displayName: expected text, got a string with an unpaired surrogate"
    )


def test_unknown_sources_and_unprintable_keys(tmp_path: Path) -> None:
    raw = document()
    raw["sources"]["\x1b[31mFAKE\nerror: other"] = {"state": "complete"}
    assert problem(raw) == "snap.json: sources: unknown data source '\\x1b[31mFAKE\\nerror: other'"
    raw = document()
    raw["sources"]["\x1b[2J"] = {"state": "nope"}
    message = problem(raw)
    assert message.startswith("snap.json: sources.'\\x1b[2J'.state: expected one of")
    assert "\x1b" not in message


def test_dates_are_held_in_utc() -> None:
    raw = document()
    raw["collected_at"] = "2026-11-01T10:00:00+02:00"
    collected = parse_snapshot(raw).collected_at
    assert collected.isoformat() == "2026-11-01T08:00:00+00:00"
