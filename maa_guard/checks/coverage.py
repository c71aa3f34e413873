"""MAA1xx: which workloads the access policies protect."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from maa_guard.checks import check, failed, passed, skipped
from maa_guard.checks.resources import policy_refs, policy_resource, workload_resource
from maa_guard.evaluate.context import Context
from maa_guard.model import Outcome, Severity
from maa_guard.workloads import (
    WORKLOADS,
    WORKLOADS_BY_NAME,
    policies_protecting,
    unprotected_parts,
)

WINDOWS_PLATFORMS = frozenset({"windows10AndLater", "windows81AndLater", "windows10X"})
ALL_PLATFORMS = "notApplicable"


@check("MAA101")
def unprotected_workload(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    high = set(params["high_severity_workloads"])
    policies = ctx.snapshot.policies
    for workload in WORKLOADS:
        severity = Severity.HIGH if workload.name in high else Severity.MEDIUM
        resource = workload_resource(workload)
        covering = policies_protecting(workload, policies)
        missing = unprotected_parts(workload, covering)
        if not missing:
            yield passed(
                resource,
                f"{workload.label}: protected by "
                f"{len(covering)} access polic{'y' if len(covering) == 1 else 'ies'}",
                policies=policy_refs(covering),
            )
        elif covering:
            yield failed(
                resource,
                f"no access policy protects {', '.join(missing)}",
                severity=severity,
                unprotected_types=missing,
                policies=policy_refs(covering),
            )
        else:
            yield failed(
                resource,
                f"no access policy protects {workload.label.lower()}",
                severity=severity,
                protected_by_types=sorted(workload.policy_types),
                policies=[],
            )


@check("MAA102")
def single_platform_app_policy(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    resource = workload_resource(WORKLOADS_BY_NAME["app"])
    app_policies = [p for p in ctx.snapshot.policies if p.policy_type == "app"]
    if not app_policies:
        yield skipped(resource, "no app access policy exists (see MAA101)")
        return
    platforms = {
        part.strip()
        for policy in app_policies
        for part in (policy.policy_platform or ALL_PLATFORMS).split(",")
        if part.strip()
    }
    windows = sorted(platforms & WINDOWS_PLATFORMS)
    others = sorted(platforms - WINDOWS_PLATFORMS - {ALL_PLATFORMS, "unknownFutureValue"})
    evidence: dict[str, Any] = {
        "platforms": sorted(platforms),
        "policies": policy_refs(app_policies),
    }
    if ALL_PLATFORMS in platforms or (windows and others):
        yield passed(
            resource, "app access policies cover Windows and non-Windows platforms", **evidence
        )
    elif windows:
        yield failed(resource, "app access policies cover only Windows platforms", **evidence)
    else:
        yield failed(resource, "app access policies cover only non-Windows platforms", **evidence)


@check("MAA103")
def policy_without_approvers(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for policy in ctx.snapshot.policies:
        resource = policy_resource(policy)
        if policy.approver_group_ids:
            yield passed(
                resource,
                f"{len(policy.approver_group_ids)} approver group(s) assigned",
                approverGroupIds=list(policy.approver_group_ids),
            )
        else:
            yield failed(resource, "the access policy has no approver group", approverGroupIds=[])
