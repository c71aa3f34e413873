"""maa_guard.exclusions: where MAA exclusions are learned from, and how sources merge."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from builders import (
    Json,
    add_policy,
    add_sp,
    declared,
    exclusion,
    new_snapshot,
)

from maa_guard.config import DEFAULT_EXCLUSIONS_PROPERTY, WRITTEN_EXCLUSIONS_PROPERTY
from maa_guard.exclusions import (
    ExcludedApp,
    effective_exclusions,
    exclusions_from_audit_events,
    read_policy_exclusions,
    resolve_policy,
)
from maa_guard.model import ExclusionSource
from maa_guard.snapshot import AuditActor, AuditEvent, AuditResource, Exclusion, Snapshot
from maa_guard.snapshot.file import parse_snapshot

POLICY = AuditResource(
    resource_id="p-1", display_name="Apps - Windows", type="OperationApprovalPolicy"
)


def change(
    verb: str,
    app_id: str,
    day: int,
    *,
    policy: AuditResource = POLICY,
    app_type: str = "ServicePrincipal",
    result: str = "Success",
    name: str = "",
) -> AuditEvent:
    return AuditEvent(
        id=f"evt-{verb}-{app_id}-{day}",
        activity_date_time=datetime(2026, 10, day, 12, tzinfo=timezone.utc),
        actor=AuditActor(application_id="portal", user_principal_name="admin@contoso.example"),
        activity=f"{verb} exclusion",
        activity_type=f"{verb} OperationApprovalPolicyExclusion",
        activity_result=result,
        category="Role",
        resources=(
            policy,
            AuditResource(resource_id=app_id, display_name=name or app_id, type=app_type),
        ),
    )


# ---- read_policy_exclusions ----------------------------------------------------------------


def test_reads_app_ids_from_the_property_drafts_write() -> None:
    raw = {"id": "p-1", WRITTEN_EXCLUSIONS_PROPERTY: ["app-1", "app-2"]}

    assert (DEFAULT_EXCLUSIONS_PROPERTY, WRITTEN_EXCLUSIONS_PROPERTY) == (
        "auto",
        "excludedApplicationIds",
    )
    assert read_policy_exclusions(raw, WRITTEN_EXCLUSIONS_PROPERTY) == (
        Exclusion(app_id="app-1", source=ExclusionSource.POLICY_PROPERTY),
        Exclusion(app_id="app-2", source=ExclusionSource.POLICY_PROPERTY),
    )


def test_property_name_is_configurable() -> None:
    raw = {"excludedApplicationIds": ["app-default"], "exemptServicePrincipals": ["app-other"]}

    assert [e.app_id for e in read_policy_exclusions(raw, "exemptServicePrincipals")] == [
        "app-other"
    ]


@pytest.mark.parametrize("value", [None, "app-1", {"appId": "app-1"}, 42, True])
def test_malformed_property_values_give_no_exclusions(value: Any) -> None:
    assert read_policy_exclusions({"excludedApplicationIds": value}, "excludedApplicationIds") == ()


def test_absent_property_gives_no_exclusions() -> None:
    assert read_policy_exclusions({"id": "p-1"}, "excludedApplicationIds") == ()


def test_malformed_items_are_dropped_and_duplicates_kept_once() -> None:
    raw = {"excludedApplicationIds": ["app-1", "", None, 7, {"appId": "x"}, "app-2", "app-1"]}

    assert [e.app_id for e in read_policy_exclusions(raw, "excludedApplicationIds")] == [
        "app-1",
        "app-2",
    ]


# ---- exclusions_from_audit_events ----------------------------------------------------------


def test_add_then_remove_in_time_order_leaves_nothing() -> None:
    events = [change("Remove", "app-1", 5), change("Add", "app-1", 3)]  # listed out of order

    assert exclusions_from_audit_events(events, ["p-1"]) == {}


def test_remove_then_add_leaves_the_exclusion() -> None:
    events = [
        change("Add", "app-1", 9, name="Patch My PC Cloud"),
        change("Remove", "app-1", 5),
        change("Add", "app-1", 3),
    ]

    assert exclusions_from_audit_events(events, ["p-1"]) == {
        "p-1": (
            Exclusion(
                app_id="app-1", source=ExclusionSource.AUDIT_LOG, display_name="Patch My PC Cloud"
            ),
        )
    }


def test_replays_each_policy_separately() -> None:
    other = AuditResource(resource_id="p-2", display_name="Scripts", type="OperationApprovalPolicy")
    events = [
        change("Add", "app-1", 1),
        change("Add", "app-2", 2),
        change("Add", "app-1", 3, policy=other),
        change("Delete", "app-2", 4),
    ]

    result = exclusions_from_audit_events(events, ["p-1", "p-2"])

    assert {policy: [e.app_id for e in found] for policy, found in result.items()} == {
        "p-1": ["app-1"],
        "p-2": ["app-1"],
    }


@pytest.mark.parametrize(
    "app_type", ["ServicePrincipal", "Application", "Enterprise Application", "servicePrincipal"]
)
def test_app_resource_type_variants(app_type: str) -> None:
    events = [change("Add", "app-1", 1, app_type=app_type)]

    assert list(exclusions_from_audit_events(events, ["p-1"])) == ["p-1"]


def test_events_that_are_not_successful_exclusion_changes_are_ignored() -> None:
    unknown_policy = AuditResource(resource_id="p-gone", type="OperationApprovalPolicy")
    not_exclusion = AuditEvent(
        id="evt-patch",
        activity_date_time=datetime(2026, 10, 2, tzinfo=timezone.utc),
        actor=AuditActor(application_id="portal", user_principal_name="admin@contoso.example"),
        activity="Add MobileApp assignment",
        activity_type="Add MobileApp",
        activity_result="Success",
        resources=(POLICY, AuditResource("app-4", "", "Application")),
    )
    events = [
        change("Add", "app-1", 1, result="Failure"),
        change("Add", "app-2", 2, policy=unknown_policy),
        change("Add", "app-3", 3, app_type="User"),
        change("Modify", "app-5", 4),
        not_exclusion,
    ]

    assert exclusions_from_audit_events(events, ["p-1"]) == {}


def test_a_failed_remove_does_not_remove() -> None:
    events = [change("Add", "app-1", 1), change("Remove", "app-1", 2, result="Failure")]

    assert [e.app_id for e in exclusions_from_audit_events(events, ["p-1"])["p-1"]] == ["app-1"]


# ---- effective_exclusions and resolve_policy -----------------------------------------------


def parsed(snap: Json) -> Snapshot:
    return parse_snapshot(snap)


def by_key(items: tuple[ExcludedApp, ...]) -> dict[str, ExcludedApp]:
    return {item.key: item for item in items}


def test_merges_sources_per_policy_and_app() -> None:
    snap = new_snapshot()
    add_policy(
        snap,
        "p-1",
        "app",
        name="Apps - Windows",
        exclusions=[exclusion("app-1", "policy-property"), exclusion("app-1", "audit-log")],
    )
    add_policy(snap, "p-2", "script", exclusions=[exclusion("app-1", "audit-log")])
    add_sp(snap, "app-1", name="Patch My PC Cloud")

    items = by_key(effective_exclusions(parsed(snap), [declared("Apps - Windows", "app-1")]))

    assert set(items) == {"p-1/app-1", "p-2/app-1"}
    first = items["p-1/app-1"]
    assert first.sources == {
        ExclusionSource.POLICY_PROPERTY,
        ExclusionSource.AUDIT_LOG,
        ExclusionSource.DECLARED,
    }
    assert first.declared == declared("Apps - Windows", "app-1")
    assert (
        first.policy_name,
        first.policy_type,
        first.display_name,
        first.service_principal_id,
    ) == ("Apps - Windows", "app", "Patch My PC Cloud", "sp-app-1")
    assert first.in_tenant and first.policy_exists
    assert items["p-2/app-1"].declared is None


def test_service_principal_object_ids_map_to_app_ids_in_any_case() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-1", "app", exclusions=["SP-APP-1"])
    add_sp(snap, "app-1")

    items = effective_exclusions(
        parsed(snap), [declared("p-1", "sp-app-1"), declared("P-1", "APP-1")]
    )

    assert len(items) == 1
    assert items[0].key == "p-1/app-1"
    assert items[0].sources == {ExclusionSource.POLICY_PROPERTY, ExclusionSource.DECLARED}


def test_declared_only_and_missing_policy_entries() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-1", "app")

    items = by_key(
        effective_exclusions(
            parsed(snap), [declared("p-1", "app-1"), declared("Apps - macOS", "app-2")]
        )
    )

    declared_only = items["p-1/app-1"]
    assert declared_only.sources == {ExclusionSource.DECLARED}
    assert not declared_only.in_tenant
    assert declared_only.policy_exists
    missing = items["Apps - macOS/app-2"]
    assert (missing.policy_exists, missing.policy_type, missing.policy_name) == (
        False,
        "unknown",
        "Apps - macOS",
    )


def test_exclusion_display_name_is_kept_when_no_service_principal_exists() -> None:
    snap = new_snapshot()
    add_policy(
        snap,
        "p-1",
        "app",
        exclusions=[
            exclusion(
                "app-gone", "audit-log", display_name="Old packager", service_principal_id="sp-x"
            )
        ],
    )

    (item,) = effective_exclusions(parsed(snap), [])

    assert (item.display_name, item.service_principal_id) == ("Old packager", "sp-x")


def test_resolve_policy_by_id_or_unique_display_name() -> None:
    snap = new_snapshot()
    add_policy(snap, "p-1", "app", name="Apps")
    add_policy(snap, "p-2", "script", name="Twin")
    add_policy(snap, "p-3", "role", name="Twin")
    policies = parsed(snap).policies

    assert resolve_policy("P-1", policies).id == "p-1"  # type: ignore[union-attr]
    assert resolve_policy("apps", policies).id == "p-1"  # type: ignore[union-attr]
    assert resolve_policy("Twin", policies) is None
    assert resolve_policy("nothing", policies) is None
