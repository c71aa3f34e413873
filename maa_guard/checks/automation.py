"""MAA5xx: app-only automation that MAA blocks or will block.

A write is an app-only write event of the audit window (``workloads.is_write``): MAA's own events
(requests filed, approved, completed; exclusions added or removed) are not writes. A change to an
access policy itself is a write that MAA always gates and no exclusion exempts. An app that uses
the approval flow (it filed an app-only request that reached ``completed``, or the audit log shows
it resubmitting with an approval code) is MAA-aware: its writes pass MAA501, as the impact report
calls it ``maa-aware``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from maa_guard.checks import check, failed, passed, skipped
from maa_guard.checks.resources import app_resource
from maa_guard.evaluate.context import Context
from maa_guard.model import Outcome, Resource
from maa_guard.snapshot import AuditEvent
from maa_guard.snapshot.codec import format_datetime
from maa_guard.workloads import (
    ACCESS_POLICIES,
    classify_event,
    is_approval_failure,
    is_resubmission,
)

NO_WRITERS = "no app-only writes to Intune in the audit window"


def _tenant(ctx: Context) -> Resource:
    return Resource("tenant", ctx.snapshot.tenant.id, ctx.snapshot.tenant.display_name)


def _writer(ctx: Context, app_id: str, events: list[AuditEvent]) -> Resource:
    fallback = events[0].actor.application_display_name
    return app_resource(events[0].actor.application_id or app_id, ctx.app_name(app_id, fallback))


def _tenant_exclusions(ctx: Context, app_id: str) -> set[str]:
    """Policy ids the app is excluded from (``Context.exempts``)."""
    return {item.policy_id for item in ctx.exclusions_by_app.get(app_id, []) if ctx.exempts(item)}


def approval_flow_use(ctx: Context) -> dict[str, dict[str, int]]:
    """Per app (appId, lower case) that uses the approval flow: its completed app-only requests
    and its resubmissions with an approval code (the whole audit log, not only the window)."""
    by_object_id = {sp.id.lower(): sp.app_id.lower() for sp in ctx.snapshot.service_principals}
    used: dict[str, dict[str, int]] = defaultdict(
        lambda: {"completed_requests": 0, "resubmissions": 0}
    )
    for request in ctx.snapshot.approval_requests:
        key = ctx.app_only_requestor(request)
        if key is not None and request.status.lower() == "completed":
            used[by_object_id.get(key, key)]["completed_requests"] += 1
    for event in ctx.snapshot.audit_events:
        if event.actor.is_app_only and is_resubmission(event):
            used[(event.actor.application_id or "").lower()]["resubmissions"] += 1
    return dict(used)


def _blocked(ctx: Context, app_id: str, events: list[AuditEvent]) -> dict[str, list[AuditEvent]]:
    """The app's writes by workload that a policy gates without excluding the app; every
    change to an access policy (MAA gates those itself, and no exclusion exempts them)."""
    excluded_from = _tenant_exclusions(ctx, app_id)
    blocked: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        classified = classify_event(event)
        if classified is None:
            continue
        workload, gates = classified
        if workload is ACCESS_POLICIES or ctx.policy_ids_of_types(gates) - excluded_from:
            blocked[workload.name].append(event)
    return blocked


@check("MAA501")
def automation_blocked_by_maa(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    if not ctx.app_only_writes:
        yield skipped(_tenant(ctx), NO_WRITERS)
        return
    aware = approval_flow_use(ctx)
    for app_id, events in ctx.app_only_writes.items():
        blocked = _blocked(ctx, app_id, events)
        resource = _writer(ctx, app_id, events)
        summary = {
            name: {
                "writes": len(found),
                "last_write": format_datetime(max(e.activity_date_time for e in found)),
            }
            for name, found in sorted(blocked.items())
        }
        flow = aware.get(app_id.lower())
        if blocked and flow is not None:
            yield passed(
                resource,
                "its writes to protected workloads go through the approval flow: "
                f"{flow['completed_requests']} completed request(s), "
                f"{flow['resubmissions']} resubmission(s) with an approval code",
                blocked_workloads={},
                approval_flow={**flow, "workloads": summary},
                total_writes=len(events),
            )
        elif blocked:
            yield failed(
                resource,
                f"app-only writes to protected workloads now need approval: {', '.join(summary)}",
                blocked_workloads=summary,
                total_writes=len(events),
            )
        else:
            yield passed(
                resource,
                "its writes are to unprotected workloads or it is excluded",
                blocked_workloads={},
                total_writes=len(events),
            )


@check("MAA502")
def automation_failing_approval(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    if not ctx.app_only_writes:
        yield skipped(_tenant(ctx), NO_WRITERS)
        return
    for app_id, events in ctx.app_only_writes.items():
        failures = [e for e in events if is_approval_failure(e)]
        resource = _writer(ctx, app_id, events)
        if failures:
            last = max(failures, key=lambda e: e.activity_date_time)
            yield failed(
                resource,
                f"{len(failures)} app-only write(s) blocked or failed for want of approval",
                failures=len(failures),
                last_failure=format_datetime(last.activity_date_time),
                last_activity=last.activity,
            )
        else:
            yield passed(resource, "no approval failures in the window", failures=0)
