"""MAA workloads: which access-policy types protect what, and which audit events write to what.

The Graph enum ``operationApprovalPolicyType`` has drifted between the docs (about 30 members)
and the published metadata (9); unknown types are kept as they are and simply protect nothing
this module knows of. The audit-event mapping is a heuristic on ``category``, ``activityType``
and resource types, because Microsoft has not published the strings; it lives here alone.

MAA's own audit events (an approval request filed, approved, rejected, cancelled, completed or
passed, and an app added to or removed from an access policy's exclusions) record the approval
flow and are not writes to any workload. A change to an access policy itself (created, edited or
deleted) is a write to :data:`ACCESS_POLICIES`: MAA protects every access policy by itself, with
no policy type to choose and no exclusion that exempts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from maa_guard.snapshot import AccessPolicy, AuditEvent

DEVICE_ACTION_TYPES = ("deviceWipe", "deviceRetire", "deviceDelete")


@dataclass(frozen=True, slots=True)
class Workload:
    """A protectable area; ``policy_types`` are the access-policy types that protect it."""

    name: str
    label: str
    policy_types: frozenset[str]


WORKLOADS: tuple[Workload, ...] = (
    Workload("app", "Apps", frozenset({"app"})),
    Workload("script", "Scripts", frozenset({"script", "scripts"})),
    Workload("role", "Role-based access control", frozenset({"role"})),
    Workload(
        "deviceActions",
        "Device actions (wipe, retire, delete)",
        frozenset({"deviceAction", *DEVICE_ACTION_TYPES}),
    ),
    Workload("compliancePolicy", "Compliance policies", frozenset({"compliancePolicy"})),
    Workload("configurationPolicy", "Configuration policies", frozenset({"configurationPolicy"})),
    Workload("tenantConfiguration", "Tenant configuration", frozenset({"tenantConfiguration"})),
)
WORKLOADS_BY_NAME = {workload.name: workload for workload in WORKLOADS}
ACCESS_POLICY_TYPE = "operationApprovalPolicy"
# Not in WORKLOADS: no access policy protects it, MAA always does (see the module docstring).
ACCESS_POLICIES = Workload(
    ACCESS_POLICY_TYPE, "MAA access policies (always protected)", frozenset({ACCESS_POLICY_TYPE})
)

# A device-action write is gated by its own type or by the umbrella deviceAction type.
_DEVICE_ACTION_GATES = {
    "wipe": frozenset({"deviceWipe", "deviceAction"}),
    "retire": frozenset({"deviceRetire", "deviceAction"}),
    "delete": frozenset({"deviceDelete", "deviceAction"}),
}
_WRITE_OPERATIONS = frozenset(
    {
        "create",
        "patch",
        "update",
        "delete",
        "action",
        "assign",
        "post",
        "put",
        "set",
        "remove",
        "add",
    }
)
_SUCCESS = frozenset({"success", "succeeded", "successful"})
_REQUEST_MARK = "operationapprovalrequest"
_RESUBMISSION_VERBS = frozenset({"complete", "completed", "resubmit", "resubmitted"})
_INTUNE_WRITE = re.compile(
    r"^DeviceManagement[A-Za-z]*\.(ReadWrite|PrivilegedOperations)\.All$", re.IGNORECASE
)
_POLICY_MARK = "operationapprovalpolicy"
# (keyword in category, activityType or resource type, workload); first match wins.
_EVENT_KEYWORDS = (
    ("devicemanagementscript", "script"),
    ("deviceshellscript", "script"),
    ("devicehealthscript", "script"),
    ("roleassignment", "role"),
    ("roledefinition", "role"),
    ("rolescopetag", "role"),
    ("devicecategory", "tenantConfiguration"),
    ("compliance", "compliancePolicy"),
    ("configurationpolicy", "configurationPolicy"),
    ("deviceconfiguration", "configurationPolicy"),
    ("mobileapp", "app"),
    ("application", "app"),
    ("role", "role"),
)


def is_intune_write_permission(permission: str) -> bool:
    """A Microsoft Graph application permission that writes to Intune: any
    ``DeviceManagement*.ReadWrite.All``, and
    ``DeviceManagementManagedDevices.PrivilegedOperations.All``."""
    return _INTUNE_WRITE.match(permission) is not None


def gating_policy_types(policy_type: str) -> frozenset[str]:
    """The access-policy types that gate an operation of ``policy_type``."""
    if policy_type in DEVICE_ACTION_TYPES:
        return frozenset({policy_type, "deviceAction"})
    for workload in WORKLOADS:
        if policy_type in workload.policy_types and workload.name != "deviceActions":
            return workload.policy_types
    return frozenset({policy_type})


def policies_protecting(workload: Workload, policies: Iterable[AccessPolicy]) -> list[AccessPolicy]:
    return [policy for policy in policies if policy.policy_type in workload.policy_types]


def unprotected_parts(workload: Workload, covering: Iterable[AccessPolicy]) -> list[str]:
    """What of a workload no policy protects: its name, or the device-action types left."""
    policies = list(covering)
    if workload.name == "deviceActions":
        return unprotected_device_actions(policies)
    return [] if policies else [workload.name]


def unprotected_device_actions(policies: Iterable[AccessPolicy]) -> list[str]:
    """Device-action types with no policy; empty when a ``deviceAction`` policy covers all."""
    types = {policy.policy_type for policy in policies}
    if "deviceAction" in types:
        return []
    return [kind for kind in DEVICE_ACTION_TYPES if kind not in types]


def is_write(event: AuditEvent) -> bool:
    """A write to a workload or to an access policy; never one of MAA's own events."""
    if is_maa_event(event):
        return False
    operation = event.activity_operation_type.strip().lower()
    if operation:
        return operation in _WRITE_OPERATIONS
    verb = event.activity.strip().split(" ", 1)[0].lower()
    return verb in _WRITE_OPERATIONS


def is_success(event: AuditEvent) -> bool:
    return event.activity_result.strip().lower() in _SUCCESS


def is_approval_failure(event: AuditEvent) -> bool:
    """A write that MAA blocked, or that failed for want of an approval."""
    if is_success(event):
        return False
    text = " ".join(
        (event.activity, event.activity_type, event.activity_result, event.component_name)
    ).lower()
    return "approval" in text


def is_maa_event(event: AuditEvent) -> bool:
    """One of MAA's own events: it names an ``OperationApprovalRequest`` (filed, approved,
    rejected, cancelled, completed, passed), or it records an exclusion added to or removed from
    an access policy. Microsoft has not published the strings; these are the emulator's and the
    demo tenant's."""
    resource_types = tuple(resource.type for resource in event.resources)
    return _is_maa_event(event.activity, event.activity_type, resource_types)


@cache
def _is_maa_event(activity: str, activity_type: str, resource_types: tuple[str, ...]) -> bool:
    text = f"{activity} {activity_type}".lower()
    if _names(_REQUEST_MARK, text, resource_types):
        return True
    return "exclusion" in text and _names(_POLICY_MARK, text, resource_types)


def is_request_event(event: AuditEvent) -> bool:
    """MAA's record of an approval request: it names an ``OperationApprovalRequest``."""
    text = f"{event.activity} {event.activity_type}".lower()
    return _names(_REQUEST_MARK, text, tuple(resource.type for resource in event.resources))


def is_resubmission(event: AuditEvent) -> bool:
    """MAA's record of an approved change resubmitted with its approval code: a request event
    whose verb is ``Complete`` or ``Resubmit`` (the emulator's ``Complete
    OperationApprovalRequest``)."""
    if not is_request_event(event):
        return False
    operation = event.activity_operation_type.strip().lower()
    words = (event.activity_type or event.activity).strip().lower().split(" ", 1)
    return (operation or words[0]) in _RESUBMISSION_VERBS


def _names(mark: str, text: str, resource_types: tuple[str, ...]) -> bool:
    """``mark`` (a type name in lower case) in the activity text or a resource type."""
    words = [text, *(kind.lower() for kind in resource_types)]
    return any(mark in word.replace(" ", "") for word in words)


def classify_event(event: AuditEvent) -> tuple[Workload, frozenset[str]] | None:
    """The workload an audit event wrote to, and the policy types that gate that write."""
    resource_types = tuple(resource.type for resource in event.resources)
    return _classify(event.category, event.activity_type, event.activity, resource_types)


@cache
def _classify(
    category: str, activity_type: str, activity: str, resource_types: tuple[str, ...]
) -> tuple[Workload, frozenset[str]] | None:
    """Memoised: a tenant's audit log repeats a few hundred shapes of event."""
    if _is_access_policy(activity_type, activity, resource_types):
        return ACCESS_POLICIES, ACCESS_POLICIES.policy_types
    device_action = _device_action(category, activity_type, activity)
    if device_action:
        return WORKLOADS_BY_NAME["deviceActions"], _DEVICE_ACTION_GATES[device_action]
    haystack = " ".join([category, activity_type, activity, *resource_types]).lower()
    for keyword, name in _EVENT_KEYWORDS:
        if keyword in haystack:
            workload = WORKLOADS_BY_NAME[name]
            return workload, workload.policy_types
    return None


def _is_access_policy(activity_type: str, activity: str, resource_types: tuple[str, ...]) -> bool:
    """A change to an access policy itself: its activity or a resource names one."""
    return _names(_POLICY_MARK, f"{activity_type} {activity}".lower(), resource_types)


def _device_action(category: str, activity_type: str, activity: str) -> str | None:
    text = f"{activity} {activity_type}".lower()
    if "manageddevice" not in text.replace(" ", "") and category.lower() != "device":
        return None
    for action in _DEVICE_ACTION_GATES:
        if action in text:
            return action
    return None
