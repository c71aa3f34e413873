"""What an incremental collection may build on, without Graph: the properties each delta query
tracks, the delta links a state file may name, and the baselines ``usable`` refuses."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from maa_guard.collect.apps import APP_FIELDS, SP_FIELDS
from maa_guard.collect.delta import TRACKED_PROPERTIES, names_collection
from maa_guard.collect.directory import GROUP_FIELDS, USER_FIELDS
from maa_guard.collect.incremental import AUDIT_OVERLAP, Baseline, usable
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import TenantInfo, Window
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
NOW = DEMO.collected_at + timedelta(minutes=10)
WINDOW = Window(NOW - timedelta(days=30), NOW)


@pytest.mark.parametrize(
    ("collection", "fields"),
    [
        ("users", USER_FIELDS),
        ("groups", GROUP_FIELDS),
        ("servicePrincipals", SP_FIELDS),
        ("applications", APP_FIELDS),
    ],
)
def test_each_delta_query_tracks_every_property_the_collector_reads(
    collection: str, fields: str
) -> None:
    """Graph reports a change only of a property named in the delta query's ``$select``."""
    assert set(fields.split(",")) <= set(TRACKED_PROPERTIES[collection].split(","))


@pytest.mark.parametrize(
    ("link", "collection", "expected"),
    [
        ("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x", "users", True),
        ("https://graph.microsoft.com/v1.0/users/delta()?$deltatoken=x", "users", True),
        (
            "https://graph.microsoft.com/beta/Users/microsoft.graph.delta?$deltatoken=x",
            "users",
            True,
        ),
        ("https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=x", "users", False),
        ("https://graph.microsoft.com/v1.0/users?$deltatoken=x", "users", False),
        ("https://graph.microsoft.com/v1.0/users/u1/delta?$deltatoken=x", "groups", False),
    ],
)
def test_a_delta_link_is_followed_only_for_its_own_collection(
    link: str, collection: str, expected: bool
) -> None:
    assert names_collection(link, collection) is expected


def baseline(**changes: object) -> Baseline:
    snapshot = dataclasses.replace(DEMO, **changes)  # type: ignore[arg-type]
    return Baseline(snapshot, {}, ("Role",), snapshot.collected_at)


def test_a_complete_recent_baseline_of_this_version_is_usable() -> None:
    assert usable(baseline(), NOW, WINDOW, DEMO.tool_version) is None


@pytest.mark.parametrize(
    ("earlier", "now", "window", "reason"),
    [
        (
            baseline(tool_version="0.0.1"),
            NOW,
            WINDOW,
            "the earlier snapshot was collected by maa-guard 0.0.1",
        ),
        (baseline(tenant=TenantInfo("")), NOW, WINDOW, "the earlier snapshot names no tenant"),
        (
            baseline(sources={}),
            NOW,
            WINDOW,
            "the earlier snapshot is incomplete (access_policies, approval_requests, "
            "audit_events, conditional_access, groups, rbac, service_principals, "
            "sign_in_activity, users)",
        ),
        (
            baseline(window=Window(DEMO.window.start, DEMO.collected_at + timedelta(days=1))),
            NOW,
            WINDOW,
            "the earlier snapshot's dates do not fit together",
        ),
        (
            baseline(),
            DEMO.collected_at + timedelta(days=2),
            Window(DEMO.collected_at + timedelta(days=1), DEMO.collected_at + timedelta(days=2)),
            "the earlier collection ended before this audit window begins",
        ),
    ],
)
def test_a_baseline_that_cannot_be_built_on_says_why(
    earlier: Baseline, now: object, window: Window, reason: str
) -> None:
    assert usable(earlier, now, window, DEMO.tool_version) == reason  # type: ignore[arg-type]


def test_a_full_collection_date_after_the_snapshot_is_refused() -> None:
    later = dataclasses.replace(
        baseline(), full_collected_at=DEMO.collected_at + timedelta(hours=1)
    )
    assert usable(later, NOW, WINDOW, DEMO.tool_version) == (
        "the earlier snapshot's dates do not fit together"
    )


def test_the_audit_window_may_begin_up_to_the_overlap_before_the_earlier_end() -> None:
    edge = DEMO.collected_at - AUDIT_OVERLAP
    assert usable(baseline(), NOW, Window(edge, NOW), DEMO.tool_version) is None
    later = Window(edge + timedelta(seconds=1), NOW)
    assert usable(baseline(), NOW, later, DEMO.tool_version) == (
        "the earlier collection ended before this audit window begins"
    )
