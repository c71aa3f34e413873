"""``codec.encode`` writes exactly the bytes it always wrote.

The hashes were taken from the snapshot files the encoder wrote before its per-class encoders
(one ``dataclasses.fields`` walk per object then): the bundled demo, and a generated tenant
that holds every snapshot class, every optional field set and unset, fractional and whole
seconds, non-ASCII text and each enum value. ``encode`` is also called on plain values by the
reporters and the watch state, so those keep their old results too.
"""

from __future__ import annotations

import enum
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest

from maa_guard.model import ExclusionSource, SourceState
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES, Snapshot
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot, parse_snapshot, snapshot_to_json

DEMO_SHA256 = "a30319243874447e8d2c33cadfa368f9c23a167ba384ea140704c5de78224e48"
GENERATED_SHA256 = "c9a23ea50633df7d07f2d8008332702eec424f701b0801a81262d2a88d32ec83"
NOW = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def guid(kind: int, number: int) -> str:
    return f"{kind:08x}-0000-4000-8000-{number:012x}"


def when(rng: random.Random) -> str:
    """Whole seconds, microseconds, Graph's seven digits, or another zone's offset."""
    moment = NOW - timedelta(seconds=rng.randrange(90 * 86400), microseconds=rng.randrange(10**6))
    shape = rng.randrange(4)
    if shape == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if shape == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if shape == 2:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"
    return moment.astimezone(timezone(timedelta(hours=-5))).isoformat()


def maybe(rng: random.Random, value: Any) -> Any:
    return value if rng.random() < 0.5 else None


def text(rng: random.Random, stem: str) -> str:
    return rng.choice((stem, f"{stem} \u2013 ünïcödé", f'{stem} "quoted"\n', "", f"{stem} 日本"))


def generated(seed: int = 5, size: int = 1500) -> Snapshot:
    rng = random.Random(seed)
    sources: dict[str, Any] = {name: {"state": "complete"} for name in SOURCES}
    sources["groups"] = {
        "state": "partial",
        "reason": "HTTP 403",
        "missing_permission": "GroupMember.Read.All",
        "missing_licence": None,
        "malformed": [{"kind": "group", "id": "#3", "path": "members[0]", "problem": "bad"}],
    }
    sources["exclusions"] = {"state": "declared", "reason": "declared"}
    sources["rbac"] = {"state": "failed", "missing_licence": "Intune"}
    return parse_snapshot(
        {
            "schema_version": 1,
            "tool_version": "0.0.0-test",
            "collected_at": "2026-11-01T08:00:00Z",
            "tenant": {
                "id": guid(0, 1),
                "display_name": "Tëst",
                "unlicensed_admins_allowed": False,
            },
            "window": {"start": "2026-10-02T08:00:00.250000Z", "end": "2026-11-01T08:00:00Z"},
            "sources": sources,
            "policies": [_policy(rng, i) for i in range(size // 10)],
            "approval_requests": [_request(rng, i) for i in range(size)],
            "groups": [_group(rng, i) for i in range(size // 5)],
            "users": [_user(rng, i) for i in range(size)],
            "service_principals": [_service_principal(rng, i) for i in range(size)],
            "conditional_access_policies": [_ca_policy(rng, i) for i in range(size // 10)],
            "role_definitions": [
                {"id": guid(6, i), "displayName": f"Role {i}", "isBuiltIn": i % 2 == 0}
                for i in range(10)
            ],
            "role_assignments": [_assignment(rng, i) for i in range(20)],
            "audit_events": [_event(rng, i) for i in range(size * 3)],
            "sign_in_activity": [
                {"appId": guid(3, i), "lastAppOnlyClientSignInDateTime": maybe(rng, when(rng))}
                for i in range(size)
            ],
        }
    )


def _policy(rng: random.Random, i: int) -> dict[str, Any]:
    exclusions = [
        {
            "appId": guid(3, rng.randrange(1000)),
            "source": rng.choice([s.value for s in ExclusionSource]),
            "servicePrincipalId": maybe(rng, guid(4, i)),
            "displayName": text(rng, "App"),
        }
        for _ in range(rng.randrange(4))
    ]
    return {
        "id": guid(10, i),
        "displayName": text(rng, f"Policy {i}"),
        "policyType": rng.choice(("app", "script", "role")),
        "approverGroupIds": [guid(2, rng.randrange(60)) for _ in range(rng.randrange(3))],
        "description": text(rng, "description"),
        "lastModifiedDateTime": maybe(rng, when(rng)),
        "exclusions": exclusions,
    }


def _identity_set(rng: random.Random) -> dict[str, Any] | None:
    kind = rng.choice(("user", "application", "device", None))
    if kind is None:
        return None
    return {kind: {"id": guid(1, rng.randrange(500)), "displayName": text(rng, "Someone")}}


def _request(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": guid(11, i),
        "status": rng.choice(("approved", "completed", "needsApproval", "rejected", "expired")),
        "requestDateTime": when(rng),
        "requestor": _identity_set(rng),
        "approver": _identity_set(rng),
        "requestJustification": text(rng, "CHG0001234"),
        "approvalJustification": text(rng, "ok"),
        "expirationDateTime": maybe(rng, when(rng)),
        "lastModifiedDateTime": maybe(rng, when(rng)),
        "requiredOperationApprovalPolicyTypes": rng.sample(["app", "script", "role"], 2),
        "payloadId": guid(12, i),
        "payloadType": "Microsoft.Management.Services.Api.MobileApp",
        "payloadOperation": rng.choice(("Create", "Update", "")),
    }


def _refs(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": guid(1, rng.randrange(500)),
            "type": rng.choice(("user", "group", "servicePrincipal")),
            "displayName": text(rng, "Member"),
        }
        for _ in range(count)
    ]


def _group(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": guid(2, i),
        "displayName": text(rng, f"Group {i}"),
        "securityEnabled": rng.random() < 0.5,
        "mailEnabled": rng.random() < 0.5,
        "groupTypes": rng.choice(([], ["Unified"], ["DynamicMembership"])),
        "isAssignableToRole": maybe(rng, rng.random() < 0.5),
        "membershipRule": maybe(rng, '(user.department -eq "IT")'),
        "onPremisesSyncEnabled": maybe(rng, True),
        "members": _refs(rng, rng.randrange(5)),
        "transitiveMembers": _refs(rng, rng.randrange(5)),
        "owners": _refs(rng, rng.randrange(2)),
    }


def _user(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": guid(1, i),
        "userPrincipalName": f"user{i}@example.test",
        "accountEnabled": rng.random() < 0.9,
        "displayName": text(rng, f"User {i}"),
        "userType": rng.choice(("Member", "Guest")),
        "intuneLicensed": maybe(rng, rng.random() < 0.5),
    }


def _credentials(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "passwordCredentials": [
            {"keyId": guid(5, i), "displayName": text(rng, "secret"), "endDateTime": when(rng)}
        ]
        * rng.randrange(2),
        "keyCredentials": [
            {
                "keyId": guid(8, i),
                "startDateTime": maybe(rng, when(rng)),
                "endDateTime": maybe(rng, when(rng)),
            }
        ]
        * rng.randrange(2),
    }


def _service_principal(rng: random.Random, i: int) -> dict[str, Any]:
    application = {
        "id": guid(15, i),
        "appId": guid(3, i),
        "displayName": text(rng, f"App {i}"),
        **_credentials(rng, i),
        "federatedIdentityCredentials": [
            {
                "name": f"github-{i}",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": maybe(rng, f"repo:o/r{i}:ref:refs/heads/main"),
                "audiences": ["api://AzureADTokenExchange"],
            }
        ]
        * rng.randrange(2),
        "owners": _refs(rng, rng.randrange(2)),
    }
    return {
        "id": guid(4, i),
        "appId": guid(3, i),
        "accountEnabled": rng.random() < 0.9,
        "displayName": text(rng, f"App {i}"),
        "appOwnerOrganizationId": maybe(rng, guid(0, 1)),
        **_credentials(rng, i),
        "owners": _refs(rng, rng.randrange(2)),
        "appPermissions": rng.sample(["Device.Read.All", "DeviceManagementApps.ReadWrite.All"], 1),
        "application": maybe(rng, application),
    }


def _ca_policy(rng: random.Random, i: int) -> dict[str, Any]:
    conditions = {
        "clientApplications": maybe(
            rng, {"includeServicePrincipals": [guid(4, rng.randrange(300)) for _ in range(3)]}
        ),
        "locations": maybe(rng, {"includeLocations": ["All"], "excludeLocations": ["Trusted"]}),
        "servicePrincipalRiskLevels": rng.choice(([], ["high"])),
    }
    return {
        "id": guid(12, i),
        "displayName": text(rng, f"CA {i}"),
        "state": rng.choice(("enabled", "disabled", "enabledForReportingButNotEnforced")),
        "conditions": conditions,
        "grantControls": maybe(rng, {"operator": "AND", "builtInControls": ["block"]}),
    }


def _assignment(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": guid(7, i),
        "displayName": f"Assignment {i}",
        "members": [guid(2, rng.randrange(60)) for _ in range(rng.randrange(4))],
        "roleDefinitionId": maybe(rng, guid(6, i % 10)),
        "scopeMembers": ["0"],
        "resourceScopes": ["/"],
        "scopeType": maybe(rng, "allDevicesAndLicensedUsers"),
    }


def _event(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": guid(13, i),
        "activityDateTime": when(rng),
        "actor": {
            "applicationId": maybe(rng, guid(3, rng.randrange(300))),
            "applicationDisplayName": text(rng, "Automation"),
            "userPrincipalName": maybe(rng, "admin@example.test"),
            "auditActorType": maybe(rng, "ItPro"),
            "userId": maybe(rng, guid(1, 3)),
        },
        "activity": "Patch DeviceConfiguration",
        "activityType": "Patch DeviceConfiguration",
        "activityOperationType": "Patch",
        "activityResult": rng.choice(("Success", "Failure")),
        "category": rng.choice(("Role", "Application", "Device")),
        "componentName": rng.choice(("", "MultiAdminApproval")),
        "resources": [{"resourceId": maybe(rng, guid(14, i)), "displayName": text(rng, "Object")}]
        * rng.randrange(3),
    }


def test_the_demo_snapshot_encodes_to_the_bytes_it_always_had() -> None:
    assert sha256(snapshot_to_json(load_snapshot(demo_path("snapshot.json")))) == DEMO_SHA256


def test_a_generated_tenant_of_every_class_encodes_to_the_bytes_it_always_had() -> None:
    assert sha256(snapshot_to_json(generated())) == GENERATED_SHA256


class Colour(enum.Enum):
    RED = "red"


class Level(int, enum.Enum):
    HIGH = 3


class Point(NamedTuple):
    x: int
    y: datetime


@dataclass(frozen=True)
class Plain:
    """Not slotted, not Graph-shaped; holds every kind of value the reporters pass."""

    some_name: str
    nested: Any = None


@dataclass(frozen=True, slots=True)
class Awkward:
    """Field names that are also names inside a per-class encoder."""

    instance: int
    v0: str
    encode: Any
    plain: Any = None


@dataclass
class Empty:
    pass


@dataclass
class Single:
    only: tuple[Empty, ...]


class Text(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (3, 3),
        (2.5, 2.5),
        ("x", "x"),
        (Text("sub"), Text("sub")),
        (SourceState.PARTIAL, "partial"),
        (Colour.RED, "red"),
        (Level.HIGH, 3),
        (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "2026-01-02T03:04:05.000006Z"),
        (
            datetime(2026, 1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T01:00:00Z",
        ),
        ((1, [2, (3,)]), [1, [2, [3]]]),
        (Point(1, NOW), [1, "2026-11-01T08:00:00Z"]),
        (
            {"k": (SourceState.FAILED,), 5: {"n": NOW}},
            {"k": ["failed"], 5: {"n": "2026-11-01T08:00:00Z"}},
        ),
        (
            Plain("a", {"list": [Plain("b")], "when": NOW}),
            {
                "some_name": "a",
                "nested": {
                    "list": [{"some_name": "b", "nested": None}],
                    "when": "2026-11-01T08:00:00Z",
                },
            },
        ),
        (
            Awkward(1, "x", Colour.RED, [NOW]),
            {"instance": 1, "v0": "x", "encode": "red", "plain": ["2026-11-01T08:00:00Z"]},
        ),
        (Single((Empty(),)), {"only": [{}]}),
        (Plain, Plain),
        (frozenset({1}), frozenset({1})),
    ],
)
def test_encode_of_plain_values(value: Any, expected: Any) -> None:
    result = encode(value)
    assert result == expected
    assert type(result) is type(expected)
    assert json.dumps(result, default=repr) == json.dumps(expected, default=repr)
