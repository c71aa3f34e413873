"""What one audit event tells the impact report, and which permissions write to Intune.

An audit log repeats a few hundred shapes of event (category, activity, operation, result,
resource types) hundreds of thousands of times, so an event is judged once per shape.

MAA's own events (approval requests filed, approved, completed; exclusions added or removed)
are not writes to a workload (``workloads.is_maa_event``); a request event whose verb is
``Complete`` or ``Resubmit`` is the requestor's resubmission with an approval code, evidence of
the approval flow (``workloads.is_resubmission``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from maa_guard.snapshot import AuditEvent
from maa_guard.workloads import (
    classify_event,
    is_approval_failure,
    is_intune_write_permission,
    is_resubmission,
    is_write,
)

OTHER = "other"
OTHER_LABEL = "Other Intune writes (no MAA policy type)"
ShapeKey = tuple[str, str, str, str, str, str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Shape:
    """What every event of one shape means for the report."""

    write: bool
    resubmission: bool
    approval_failure: bool
    policy_type: str
    label: str
    gates: frozenset[str]


def shape_key(event: AuditEvent) -> ShapeKey:
    return (
        event.category,
        event.activity,
        event.activity_type,
        event.activity_operation_type,
        event.activity_result,
        event.component_name,
        tuple([resource.type for resource in event.resources]),
    )


def judge(event: AuditEvent) -> Shape:
    """The meaning of ``event`` (and of every event with its shape)."""
    classified = classify_event(event)
    policy_type, label, gates = OTHER, OTHER_LABEL, frozenset[str]()
    if classified is not None:
        workload, gates = classified
        policy_type = _policy_type(workload.name, gates)
        label = workload.label if policy_type == workload.name else _device_action_label(gates)
    return Shape(
        write=is_write(event),
        resubmission=is_resubmission(event),
        approval_failure=is_approval_failure(event),
        policy_type=policy_type,
        label=label,
        gates=gates,
    )


def _policy_type(workload: str, gates: frozenset[str]) -> str:
    """The workload's name, or for a device action the type of that action (``deviceWipe``)."""
    if workload != "deviceActions":
        return workload
    return next(gate for gate in sorted(gates) if gate != "deviceAction")


def _device_action_label(gates: frozenset[str]) -> str:
    action = next(gate for gate in sorted(gates) if gate != "deviceAction")
    return f"Device action: {action.removeprefix('device').lower()}"


def intune_write_permissions(permissions: Iterable[str]) -> tuple[str, ...]:
    """``DeviceManagement*.ReadWrite.All`` and ``*.PrivilegedOperations.All``, in grant order."""
    return tuple(p for p in permissions if is_intune_write_permission(p))
