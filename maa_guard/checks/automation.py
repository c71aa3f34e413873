"""MAA5xx: app-only automation that MAA blocks or will block."""

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
from maa_guard.workloads import classify_event, is_approval_failure

NO_WRITERS = "no app-only writes to Intune in the audit window"


def _tenant(ctx: Context) -> Resource:
    return Resource("tenant", ctx.snapshot.tenant.id, ctx.snapshot.tenant.display_name)


def _writer(ctx: Context, app_id: str, events: list[AuditEvent]) -> Resource:
    fallback = events[0].actor.application_display_name
    return app_resource(events[0].actor.application_id or app_id, ctx.app_name(app_id, fallback))


def _tenant_exclusions(ctx: Context, app_id: str) -> set[str]:
    """Policy ids the app is excluded from in the tenant (a declaration alone exempts nothing)."""
    return {item.policy_id for item in ctx.exclusions_by_app.get(app_id, []) if item.in_tenant}


@check("MAA501")
def automation_blocked_by_maa(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    if not ctx.app_only_writes:
        yield skipped(_tenant(ctx), NO_WRITERS)
        return
    for app_id, events in ctx.app_only_writes.items():
        excluded_from = _tenant_exclusions(ctx, app_id)
        blocked: dict[str, list[AuditEvent]] = defaultdict(list)
        for event in events:
            classified = classify_event(event)
            if classified is None:
                continue
            workload, gates = classified
            if ctx.policy_ids_of_types(gates) - excluded_from:
                blocked[workload.name].append(event)
        resource = _writer(ctx, app_id, events)
        if blocked:
            summary = {
                name: {
                    "writes": len(found),
                    "last_write": format_datetime(max(e.activity_date_time for e in found)),
                }
                for name, found in sorted(blocked.items())
            }
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
