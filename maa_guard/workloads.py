"""MAA workloads: which access-policy types protect what, and which audit events write to what.

The Graph enum ``operationApprovalPolicyType`` has drifted between the docs (about 30 members)
and the published metadata (9); unknown types are kept as they are and simply protect nothing
this module knows of. The audit-event mapping is a heuristic on ``category``, ``activityType``
and resource types, because Microsoft has not published the strings; it lives here alone.
"""

from __future__ import annotations

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


def classify_event(event: AuditEvent) -> tuple[Workload, frozenset[str]] | None:
    """The workload an audit event wrote to, and the policy types that gate that write."""
    resource_types = tuple(resource.type for resource in event.resources)
    return _classify(event.category, event.activity_type, event.activity, resource_types)


@cache
def _classify(
    category: str, activity_type: str, activity: str, resource_types: tuple[str, ...]
) -> tuple[Workload, frozenset[str]] | None:
    """Memoised: a tenant's audit log repeats a few hundred shapes of event."""
    device_action = _device_action(category, activity_type, activity)
    if device_action:
        return WORKLOADS_BY_NAME["deviceActions"], _DEVICE_ACTION_GATES[device_action]
    haystack = " ".join([category, activity_type, activity, *resource_types]).lower()
    for keyword, name in _EVENT_KEYWORDS:
        if keyword in haystack:
            workload = WORKLOADS_BY_NAME[name]
            return workload, workload.policy_types
    return None


def _device_action(category: str, activity_type: str, activity: str) -> str | None:
    text = f"{activity} {activity_type}".lower()
    if "manageddevice" not in text.replace(" ", "") and category.lower() != "device":
        return None
    for action in _DEVICE_ACTION_GATES:
        if action in text:
            return action
    return None
