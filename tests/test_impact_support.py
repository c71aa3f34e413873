"""Fixture tenants for the impact tests (no tests here).

``verdict_tenant()`` holds every verdict, two apps of each of two verdicts to show sorting, and
apps that must stay out of the report. ``hostile_tenant()`` puts hostile strings everywhere a
tenant can put one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from builders import (
    Json,
    add_event,
    add_policy,
    add_request,
    add_sign_in,
    add_sp,
    app_id_set,
    approver_group,
    new_snapshot,
    set_source,
)

from maa_guard.config import DeclaredExclusion
from maa_guard.impact.compute import compute_impact
from maa_guard.impact.model import ImpactReport
from maa_guard.snapshot.file import parse_snapshot

APPS_WRITE = "DeviceManagementApps.ReadWrite.All"
DEVICES_WRITE = "DeviceManagementManagedDevices.ReadWrite.All"
WIPE = "DeviceManagementManagedDevices.PrivilegedOperations.All"

# appIds in the order the report must list them
EXPECTED_ORDER = (
    ("app-store", "will-be-blocked"),
    ("app-helpdesk", "will-be-blocked"),
    ("app-compliance", "unprotected-workload"),
    ("app-vendor", "excluded"),
    ("app-dormant", "inactive"),
    ("app-reader", "read-only"),
    ("app-orchestrator", "maa-aware"),
    ("app-scripts", "maa-aware"),
)


def report_of(
    snap: Json, declared: Iterable[DeclaredExclusion] = (), tool_version: str = "0.1.0"
) -> ImpactReport:
    """The real computation on a copy of ``snap`` (parse_snapshot consumes its input)."""
    return compute_impact(parse_snapshot(copy.deepcopy(snap)), declared, tool_version)


def request_resource(code: str) -> Json:
    return {"resourceId": code, "displayName": "", "type": "OperationApprovalRequest"}


def wipe(snap: Json, app_id: str, when: str, **fields: Any) -> Json:
    return add_event(
        snap,
        app_id,
        "Wipe ManagedDevice",
        category="Device",
        operation="Action",
        when=when,
        **fields,
    )


def resubmission(snap: Json, app_id: str, code: str, when: str) -> Json:
    """What the emulator records when an approved change is applied on resubmission."""
    return add_event(
        snap,
        app_id,
        "Complete OperationApprovalRequest",
        category="Role",
        activity="MAA: approved change applied",
        when=when,
        resources=[request_resource(code)],
    )


def policies(snap: Json) -> None:
    approver_group(snap)
    add_policy(snap, "p-app", "app", name="Apps", exclusions=["app-vendor"])
    add_policy(snap, "p-script", "script", name="Scripts")
    add_policy(snap, "p-wipe", "deviceWipe", name="Device wipe")


def verdict_tenant() -> Json:
    snap = new_snapshot()
    policies(snap)
    _blocked(snap)
    _writers(snap)
    _aware(snap)
    _quiet(snap)
    _left_out(snap)
    return snap


def _blocked(snap: Json) -> None:
    add_sp(snap, "app-store", name="Store Publisher", permissions=(APPS_WRITE,))
    for day in ("05", "12", "19"):
        add_event(snap, "app-store", "Create MobileApp", when=f"2026-10-{day}T02:00:00Z")
    add_sign_in(snap, "app-store", "2026-10-31T02:00:00Z")
    add_sp(snap, "app-helpdesk", name="Helpdesk Wipe", permissions=(DEVICES_WRITE, WIPE))
    wipe(snap, "app-helpdesk", "2026-10-21T15:00:00Z")


def _writers(snap: Json) -> None:
    add_sp(snap, "app-compliance", name="Compliance Sync", permissions=(APPS_WRITE,))
    add_event(snap, "app-compliance", "Patch DeviceCompliancePolicy", category="Compliance")
    add_sp(snap, "app-vendor", name="Patch Vendor", permissions=(APPS_WRITE,))
    add_event(snap, "app-vendor", "Patch MobileApp", when="2026-10-22T03:00:00Z")
    add_event(snap, "app-vendor", "Patch MobileApp", when="2026-10-29T03:00:00Z")
    add_sign_in(snap, "app-vendor", "2026-10-29T02:59:00Z")


def _aware(snap: Json) -> None:
    add_sp(snap, "app-scripts", name="Script Pipeline", permissions=())
    add_event(
        snap,
        "app-scripts",
        "Create DeviceManagementScript",
        category="DeviceConfiguration",
        when="2026-10-10T06:00:00Z",
    )
    add_request(
        snap, "req-scripts", "completed", requestor=app_id_set("app-scripts"), types=("script",)
    )
    add_request(
        snap, "req-pending", "needsApproval", requestor=app_id_set("app-scripts"), types=("script",)
    )
    add_sp(snap, "app-orchestrator", name="Wipe Orchestrator", permissions=(WIPE,))
    wipe(snap, "app-orchestrator", "2026-10-28T09:00:00Z")
    resubmission(
        snap, "app-orchestrator", "6f1c0b7e-0000-4000-8000-000000000001", "2026-10-28T09:00:00Z"
    )


def _quiet(snap: Json) -> None:
    add_sp(snap, "app-reader", name="Inventory Reader", permissions=(DEVICES_WRITE,))
    add_sign_in(snap, "app-reader", "2026-10-25T00:00:00Z")
    add_sp(
        snap,
        "app-dormant",
        name="Old Migration Tool",
        permissions=("DeviceManagementRBAC.ReadWrite.All",),
    )
    add_sign_in(snap, "app-dormant", "2026-06-01T00:00:00Z")


def _left_out(snap: Json) -> None:
    """Apps the report must not list."""
    add_sp(
        snap, "app-read-perms", name="Report Reader", permissions=("DeviceManagementApps.Read.All",)
    )
    add_sign_in(snap, "app-read-perms", "2026-10-30T00:00:00Z")
    add_sp(snap, "app-never", name="Never Signed In", permissions=(APPS_WRITE,))
    add_sign_in(snap, "app-never", None)
    add_event(snap, "portal-app", "Create MobileApp", upn="admin@contoso-test.example")
    add_event(snap, "app-old", "Create MobileApp", when="2026-09-01T00:00:00Z")
    add_event(snap, "app-reads", "Get MobileApp", operation="Get")


SCRIPT = "<script>alert(1)</script>"
IMG = '<img src="https://evil.example/x.png">'
MARKUP = "[bold red]owned[/]"
ANSI = "\x1b[2J\x1b]0;title\x07"
FORMULA = "=cmd|' /C calc'!A0"
NEWLINE = "line one\nverdict: excluded"
HOSTILE_NAME = f"{SCRIPT}{IMG}{MARKUP}{ANSI}{NEWLINE}"


def hostile_tenant() -> Json:
    """Hostile strings in names, ids and reasons; every source complete but one."""
    snap = new_snapshot()
    snap["tenant"]["display_name"] = f"{SCRIPT} {MARKUP}"
    approver_group(snap)
    add_policy(snap, "p-app", "app", name=f"{FORMULA} {SCRIPT}")
    add_sp(snap, "app-hostile", name=HOSTILE_NAME, permissions=(APPS_WRITE,))
    add_event(snap, "app-hostile", "Create MobileApp")
    add_event(snap, FORMULA, "Create MobileApp")  # an appId no service principal explains
    snap["audit_events"][-1]["actor"]["applicationDisplayName"] = f"{ANSI}{MARKUP}"
    set_source(snap, "approval_requests", "partial", reason=f"{ANSI}{SCRIPT}{FORMULA}")
    return snap
