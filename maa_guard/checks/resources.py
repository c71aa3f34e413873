"""Resource descriptors for findings, one constructor per kind of object."""

from __future__ import annotations

from maa_guard.exclusions import ExcludedApp
from maa_guard.model import Resource
from maa_guard.snapshot import AccessPolicy, ApprovalRequest, Group, Identity
from maa_guard.workloads import Workload


def policy_resource(policy: AccessPolicy) -> Resource:
    return Resource("accessPolicy", policy.id, policy.display_name)


def group_resource(group_id: str, group: Group | None = None) -> Resource:
    return Resource("group", group_id, group.display_name if group else "")


def workload_resource(workload: Workload) -> Resource:
    return Resource("workload", workload.name, workload.label)


def request_resource(request: ApprovalRequest, requestor: Identity | None = None) -> Resource:
    """Named after its requestor: ``requestor`` when known elsewhere (the audit log)."""
    principal = requestor or (request.requestor.principal if request.requestor else None)
    return Resource("approvalRequest", request.id, principal.display_name if principal else "")


def app_resource(app_id: str, display_name: str) -> Resource:
    return Resource("application", app_id, display_name)


def exclusion_resource(item: ExcludedApp) -> Resource:
    name = item.display_name or item.app_id
    return Resource("exclusion", item.key, f"{name} in {item.policy_name}")


def policy_refs(policies: list[AccessPolicy]) -> list[dict[str, str]]:
    return [
        {"id": p.id, "displayName": p.display_name, "policyType": p.policy_type} for p in policies
    ]
