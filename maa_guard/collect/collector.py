"""Orchestrates the sources into one Snapshot, concurrently where the data allows.

At once: the sign-in report (the slowest chain, 5 requests per 10 s) in the background, and
policies, approval requests, RBAC, Conditional Access, the audit log (the window's events,
and the access-policy events before it back to the log's retention, from the audit categories
that hold them: an exclusion added long ago is known only from its event; both in parallel
time slices) and tenant facts. Each dependent source starts as soon as its own inputs are in,
not when every first source is: the groups named by policies and role assignments, then their
users, once policies and RBAC are read (they need no audit log); the service principals of
apps excluded by the policy property once policies are read, then those of audit-log
exclusions, app-only audit writers and apps declared in ``[[exclusions]]`` when the audit
reads finish, and then the holders of Intune write permissions not among them (their ids are
read at once); then sign-in activity.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from maa_guard import __version__
from maa_guard.collect.apps import (
    WriteHolders,
    app_only_writers,
    collect_service_principals,
    with_write_holders,
    write_holder_ids,
)
from maa_guard.collect.common import COMPLETE, Outcome, T, run_sync, unique
from maa_guard.collect.delta import Tracked, track_all
from maa_guard.collect.directory import collect_groups, collect_users, user_ids_of
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.incremental import (
    AUDIT_OVERLAP,
    Baseline,
    Reuse,
    audit_since,
    carried_before,
    carried_inside,
    check_same_tenant,
    earlier_sign_ins,
    moved_forward,
    reuse_from,
    usable,
)
from maa_guard.collect.intune import (
    Categories,
    PolicyOutcome,
    collect_audit_events,
    collect_exclusion_history,
    collect_policies,
    collect_rbac,
    collect_requests,
    declared_app_ids,
    exclusion_categories,
    history_span,
    merge_audit_events,
)
from maa_guard.collect.tenant import (
    REPORT_READS_PER_WINDOW,
    SignInEvidence,
    collect_conditional_access,
    collect_sign_in_evidence,
    collect_tenant,
    report_rows,
    sign_in_activity,
    sign_ins_since,
)
from maa_guard.config import Settings
from maa_guard.exclusions import exclusions_from_audit_events
from maa_guard.exclusions.provenance import (
    NO_POLICIES,
    no_property_status,
    no_property_unread_status,
    property_status,
)
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    SCHEMA_VERSION,
    AccessPolicy,
    ApprovalRequest,
    AuditEvent,
    ConditionalAccessPolicy,
    Group,
    RoleAssignment,
    RoleDefinition,
    ServicePrincipal,
    SignInActivity,
    Snapshot,
    SourceStatus,
    TenantInfo,
    User,
    Window,
)

DEFAULT_WINDOW_DAYS = 30


def collection_window(now: datetime, window_days: int) -> Window:
    return Window(now - timedelta(days=window_days), now)


Progress = Callable[[str, SourceStatus, int], None]


@dataclass(frozen=True, slots=True)
class _Parts:
    policies: Outcome[AccessPolicy]
    requests: Outcome[ApprovalRequest]
    definitions: Outcome[RoleDefinition]
    assignments: Outcome[RoleAssignment]
    conditional_access: Outcome[ConditionalAccessPolicy]
    audit: Outcome[AuditEvent]
    history: Outcome[AuditEvent]
    groups: Outcome[Group]
    users: Outcome[User]
    sps: Outcome[ServicePrincipal]
    sign_ins: Outcome[SignInActivity]


async def collect(
    client: GraphClient,
    settings: Settings,
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    now: datetime | None = None,
    tenant_id: str = "",
    progress: Progress | None = None,
) -> Snapshot:
    """Everything a scan needs, read-only; each source's completeness recorded.

    ``progress(source, status, item_count)`` is called as each source finishes.
    """
    plan = _Plan(tracking=False, baseline=None, full_reason="")
    collected = await _collect(client, settings, window_days, now, tenant_id, progress, plan)
    return collected.snapshot


@dataclass(frozen=True, slots=True)
class Collected:
    """A collection and what the next one builds on: the delta links taken (by collection),
    the audit categories of its exclusion history (None: every category), when its chain of
    incremental collections began with a full one, and why it was read in full (empty when
    it was incremental)."""

    snapshot: Snapshot
    links: dict[str, str]
    history_categories: tuple[str, ...] | None
    full_collected_at: datetime
    full_reason: str
    notes: tuple[str, ...] = ()

    @property
    def incremental(self) -> bool:
        return not self.full_reason


async def collect_tracked(
    client: GraphClient,
    settings: Settings,
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    baseline: Baseline | None = None,
    now: datetime | None = None,
    tenant_id: str = "",
    progress: Progress | None = None,
) -> Collected:
    """As :func:`collect`, and taking Graph's delta links for the next collection; with a
    usable ``baseline`` (the earlier collection) only what changed since it is read."""
    moment = now or datetime.now(timezone.utc)
    window = collection_window(moment, window_days)
    if baseline is None:
        reason: str | None = "no earlier snapshot"
    else:
        reason = usable(baseline, moment, window, __version__)
    plan = _Plan(True, baseline if reason is None else None, reason or "")
    collected = await _collect(client, settings, window_days, moment, tenant_id, progress, plan)
    check_same_tenant(baseline, collected.snapshot.tenant.id)
    if plan.baseline is None or collected.snapshot.tenant.id:
        return collected
    # What was taken forward cannot be shown to be this tenant's: read it all again.
    unknown = _Plan(True, None, "this tenant's id could not be read to match the earlier one")
    return await _collect(client, settings, window_days, moment, tenant_id, progress, unknown)


@dataclass(frozen=True, slots=True)
class _Plan:
    tracking: bool
    baseline: Baseline | None  # set only when usable
    full_reason: str


def collect_tracked_sync(
    client_factory: Callable[[], GraphClient],
    settings: Settings,
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    baseline: Baseline | None = None,
    now: datetime | None = None,
    tenant_id: str = "",
    progress: Progress | None = None,
) -> Collected:
    """:func:`collect_tracked` for callers without an event loop (see :func:`collect_sync`)."""

    async def run() -> Collected:
        async with client_factory() as client:
            return await collect_tracked(
                client,
                settings,
                window_days,
                baseline=baseline,
                now=now,
                tenant_id=tenant_id,
                progress=progress,
            )

    return run_sync(run)


async def _collect(
    client: GraphClient,
    settings: Settings,
    window_days: int,
    now: datetime | None,
    tenant_id: str,
    progress: Progress | None,
    plan: _Plan,
) -> Collected:
    moment = now or datetime.now(timezone.utc)
    window = collection_window(moment, window_days)
    tell = progress or _silent
    tasks = _Tasks()
    try:
        parts, tenant, found, extra = await _all_parts(
            client, settings, window, tenant_id, tell, tasks, plan
        )
    finally:
        tasks.cancel()
    sources = _sources(parts, settings, found)
    events = merge_audit_events(parts.audit.items, parts.history.items)
    merged = _with_exclusions(parts.policies.items, events, parts.sps.items)
    tell("exclusions", sources["exclusions"], sum(len(p.exclusions) for p in merged))
    snapshot = Snapshot(
        schema_version=SCHEMA_VERSION,
        tool_version=__version__,
        collected_at=moment,
        tenant=tenant,
        window=window,
        sources=sources,
        policies=merged,
        approval_requests=parts.requests.items,
        groups=parts.groups.items,
        users=parts.users.items,
        service_principals=parts.sps.items,
        conditional_access_policies=parts.conditional_access.items,
        role_definitions=parts.definitions.items,
        role_assignments=parts.assignments.items,
        audit_events=events,
        sign_in_activity=parts.sign_ins.items,
    )
    began = plan.baseline.full_collected_at if plan.baseline is not None else moment
    return Collected(snapshot, extra.links, extra.categories, began, plan.full_reason, extra.notes)


class _Tasks:
    """The tasks of one collection; whatever is left when it ends (an error) is cancelled."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        self._tasks.append(task)
        return task

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


Rbac = tuple[Outcome[RoleDefinition], Outcome[RoleAssignment]]


@dataclass(frozen=True, slots=True)
class _NextCollection:
    links: dict[str, str]
    categories: tuple[str, ...] | None
    notes: tuple[str, ...] = ()


async def _all_parts(
    client: GraphClient,
    settings: Settings,
    window: Window,
    tenant_id: str,
    tell: Progress,
    tasks: _Tasks,
    plan: _Plan,
) -> tuple[_Parts, TenantInfo, str | None, _NextCollection]:
    """Every source as a task of its own, each dependent one awaiting only its inputs."""
    baseline = plan.baseline
    # The sign-in report is the slowest chain (5 requests per 10 s): start it first.
    evidence = tasks.start(_sign_in_evidence(client, window, baseline))
    changes = (
        tasks.start(track_all(client, baseline.links if baseline else None))
        if plan.tracking
        else None
    )
    reuse = tasks.start(_reuse(changes, baseline))
    policies = tasks.start(_policies(client, settings, tell))
    rbac = tasks.start(_rbac(client, tell))
    audit = tasks.start(_told(tell, "audit_events", _window_events(client, window, baseline)))
    categories = tasks.start(exclusion_categories(client)) if plan.tracking else None
    history = tasks.start(_history(client, window, baseline, categories))
    requests = tasks.start(_told(tell, "approval_requests", collect_requests(client)))
    ca = tasks.start(_told(tell, "conditional_access", collect_conditional_access(client)))
    tenant = tasks.start(collect_tenant(client, tenant_id))
    directory = tasks.start(_groups_and_users(client, policies, rbac, tell, reuse))
    audit_log = tasks.start(_audit_log(audit, history))
    declared = tasks.start(declared_app_ids(client, [e.app for e in settings.declared_exclusions]))
    holders = tasks.start(write_holder_ids(client))
    apps = tasks.start(
        _apps_and_sign_ins(
            client, policies, audit_log, _Evidence(evidence, window), tell, declared, holders, reuse
        )
    )
    await asyncio.gather(policies, rbac, audit_log, requests, ca, tenant, directory, apps)
    (definitions, assignments), (groups, users) = rbac.result(), directory.result()
    sps, sign_ins = apps.result()
    found = policies.result()
    parts = _Parts(
        found.policies,
        requests.result(),
        definitions,
        assignments,
        ca.result(),
        audit.result(),
        history.result(),
        groups,
        users,
        sps,
        sign_ins,
    )
    extra = await _next_collection(changes, categories, baseline is not None)
    return parts, tenant.result(), found.property_name, extra


async def _next_collection(
    changes: Awaitable[dict[str, Tracked]] | None,
    categories: Awaitable[Categories] | None,
    built_on: bool,
) -> _NextCollection:
    """The delta links and history categories taken; the collections whose earlier delta link
    Graph refused, when this one built on an earlier collection."""
    if changes is None:
        return _NextCollection({}, None)
    tracked = await changes
    links = {name: t.link for name, t in tracked.items() if t.link}
    names = (await categories).names if categories is not None else None
    refused = tuple(f"{t.collection}: {t.note}" for t in tracked.values() if t.note)
    return _NextCollection(links, names, refused if built_on else ())


async def _sign_in_evidence(
    client: GraphClient, window: Window, baseline: Baseline | None
) -> SignInEvidence:
    """The earlier rows moved forward by the sign-ins since, when the earlier snapshot read
    the report; else the report (or the sign-in log where the report fails)."""
    if baseline is not None and not baseline.snapshot.source_state("sign_in_activity").reason:
        since = await sign_ins_since(client, baseline.snapshot.collected_at - AUDIT_OVERLAP)
        if since is not None:
            latest = moved_forward(earlier_sign_ins(baseline.snapshot), since)
            return SignInEvidence(latest, COMPLETE, every_app=False)
    return await collect_sign_in_evidence(client, window)


@dataclass(frozen=True, slots=True)
class _Evidence:
    """The sign-in evidence being read, and the window a full read would cover."""

    work: Awaitable[SignInEvidence]
    window: Window

    async def for_apps(self, client: GraphClient, app_ids: Sequence[str]) -> SignInEvidence:
        """Evidence covering ``app_ids``: rows the earlier snapshot lacks are read from the
        report app by app while they fit in one budget window, else the whole report."""
        evidence = await self.work
        if evidence.every_app:
            return evidence
        missing = unique(a for a in app_ids if a.lower() not in evidence.latest)
        if not missing:
            return evidence
        if len(missing) <= REPORT_READS_PER_WINDOW:
            try:
                rows = await report_rows(client, missing)
                return dataclasses.replace(evidence, latest={**evidence.latest, **rows})
            except GraphError:
                pass
        return await collect_sign_in_evidence(client, self.window)


async def _reuse(changes: Awaitable[dict[str, Tracked]] | None, baseline: Baseline | None) -> Reuse:
    """Waited for by every directory read, even with nothing to take forward: a delta link
    taken after an object was read would never report a change made in between."""
    if changes is None:
        return Reuse()
    tracked = await changes
    return Reuse() if baseline is None else reuse_from(baseline.snapshot, tracked)


async def _window_events(
    client: GraphClient, window: Window, baseline: Baseline | None
) -> Outcome[AuditEvent]:
    """The window's events: with a baseline, its events and those since it (an hour of
    overlap, each event once)."""
    if baseline is None:
        return await collect_audit_events(client, window)
    since = max(audit_since(baseline), window.start)
    fresh = await collect_audit_events(client, Window(since, window.end))
    if fresh.status.state is not SourceState.COMPLETE:
        return await collect_audit_events(client, window)
    return Outcome(merge_audit_events(carried_inside(baseline, window), fresh.items), fresh.status)


async def _history(
    client: GraphClient,
    window: Window,
    baseline: Baseline | None,
    categories: Awaitable[Categories] | None,
) -> Outcome[AuditEvent]:
    """The exclusion history: with a baseline whose history read the same categories, its
    events before the window (nothing older arrives); else read."""
    found = await categories if categories is not None else None
    span = history_span(window)
    if baseline is None or found is None or found.names != baseline.history_categories:
        return await collect_exclusion_history(client, window, found)
    if span.start >= span.end:
        return Outcome(())
    events = carried_before(baseline, span, found.names)
    return Outcome(events, SourceStatus(SourceState.COMPLETE, reason=found.note))


async def _policies(client: GraphClient, settings: Settings, tell: Progress) -> PolicyOutcome:
    found = await collect_policies(client, settings.exclusions_property)
    tell("access_policies", found.policies.status, len(found.policies.items))
    return found


async def _rbac(client: GraphClient, tell: Progress) -> Rbac:
    definitions, assignments = await collect_rbac(client)
    tell("rbac", assignments.status, len(definitions.items) + len(assignments.items))
    return definitions, assignments


def _sources(
    parts: _Parts, settings: Settings, property_name: str | None
) -> dict[str, SourceStatus]:
    """Each source's status; one built from an incomplete input is at best partial."""
    policies, audit, history = parts.policies.status, parts.audit.status, parts.history.status
    exclusions = _exclusions_source(parts, settings, property_name)
    # Derived statuses feed the next step, so incompleteness travels the whole chain:
    # policies/RBAC -> groups -> users, and policies/audit -> service principals -> sign-ins.
    groups = _after(parts.groups.status, policies, parts.assignments.status)
    service_principals = _after(parts.sps.status, policies, audit, history)
    return {
        "access_policies": policies,
        "exclusions": exclusions,
        "approval_requests": parts.requests.status,
        "groups": groups,
        "users": _after(parts.users.status, groups),
        "service_principals": service_principals,
        "conditional_access": parts.conditional_access.status,
        "rbac": parts.assignments.status,
        "audit_events": audit,
        "sign_in_activity": _after(parts.sign_ins.status, service_principals),
    }


def _silent(source: str, status: SourceStatus, count: int) -> None:
    return None


async def _told(tell: Progress, name: str, work: Awaitable[Outcome[T]]) -> Outcome[T]:
    outcome = await work
    tell(name, outcome.status, len(outcome.items))
    return outcome


def collect_sync(
    client_factory: Callable[[], GraphClient],
    settings: Settings,
    window_days: int = DEFAULT_WINDOW_DAYS,
    *,
    now: datetime | None = None,
    tenant_id: str = "",
    progress: Progress | None = None,
) -> Snapshot:
    """For callers without an event loop: ``client_factory()`` builds the GraphClient inside
    the loop (an httpx client belongs to the loop that uses it) and is closed afterwards."""

    async def run() -> Snapshot:
        async with client_factory() as client:
            return await collect(
                client, settings, window_days, now=now, tenant_id=tenant_id, progress=progress
            )

    return run_sync(run)


async def _groups_and_users(
    client: GraphClient,
    policies: Awaitable[PolicyOutcome],
    rbac: Awaitable[Rbac],
    tell: Progress,
    reuse: Awaitable[Reuse],
) -> tuple[Outcome[Group], Outcome[User]]:
    """Groups named by policies and role assignments, then their users."""
    found, (_, assignments) = await policies, await rbac
    known = await reuse
    group_ids = [g for p in found.policies.items for g in p.approver_group_ids]
    group_ids += [m for a in assignments.items for m in a.members]
    groups = await _told(tell, "groups", collect_groups(client, group_ids, known.groups))
    user_ids = user_ids_of(groups.items)
    users = await _told(tell, "users", collect_users(client, user_ids, known.users))
    return groups, users


async def _audit_log(
    audit: Awaitable[Outcome[AuditEvent]], history: Awaitable[Outcome[AuditEvent]]
) -> tuple[AuditEvent, ...]:
    return merge_audit_events((await audit).items, (await history).items)


async def _apps_and_sign_ins(
    client: GraphClient,
    policies: Awaitable[PolicyOutcome],
    audit_log: Awaitable[tuple[AuditEvent, ...]],
    evidence: _Evidence,
    tell: Progress,
    declared: Awaitable[list[str]],
    holders: Awaitable[WriteHolders],
    reuse: Awaitable[Reuse],
) -> tuple[Outcome[ServicePrincipal], Outcome[SignInActivity]]:
    """Service principals of excluded apps at once, of audit-log exclusions, app-only writers
    and declared apps when the audit log (window and exclusion history) is in, then the holders
    of Intune write permissions not among them; then their sign-in activity."""
    found = (await policies).policies.items
    excluded = unique(e.app_id for p in found for e in p.exclusions)
    known = await reuse

    async def from_audit() -> list[str]:
        events = await audit_log
        return _excluded_app_ids(found, events) + app_only_writers(events) + await declared

    work = collect_service_principals(client, excluded, from_audit(), known)
    sps = await _told(tell, "service_principals", with_write_holders(client, work, holders, known))
    app_ids = [sp.app_id for sp in sps.items]
    sign_ins = sign_in_activity(await evidence.for_apps(client, app_ids), app_ids)
    tell("sign_in_activity", sign_ins.status, len(sign_ins.items))
    return sps, sign_ins


def _excluded_app_ids(
    policies: tuple[AccessPolicy, ...], events: tuple[AuditEvent, ...]
) -> list[str]:
    from_property = [e.app_id for p in policies for e in p.exclusions]
    from_audit = exclusions_from_audit_events(events, [p.id for p in policies])
    return unique(from_property + [e.app_id for items in from_audit.values() for e in items])


def _with_exclusions(
    policies: tuple[AccessPolicy, ...],
    events: tuple[AuditEvent, ...],
    sps: tuple[ServicePrincipal, ...],
) -> tuple[AccessPolicy, ...]:
    """Policy-property exclusions, then audit-log ones, each tied to its service principal."""
    from_audit = exclusions_from_audit_events(events, [p.id for p in policies])
    by_app = {sp.app_id.lower(): sp for sp in sps}
    result = []
    for policy in policies:
        exclusions = []
        for exclusion in (*policy.exclusions, *from_audit.get(policy.id, ())):
            sp = by_app.get(exclusion.app_id.lower())
            if sp is not None:
                exclusion = dataclasses.replace(
                    exclusion,
                    service_principal_id=sp.id,
                    display_name=exclusion.display_name or sp.display_name,
                )
            exclusions.append(exclusion)
        result.append(dataclasses.replace(policy, exclusions=tuple(exclusions)))
    return tuple(result)


def _exclusions_source(
    parts: _Parts, settings: Settings, property_name: str | None
) -> SourceStatus:
    """What was not read comes first; on a tenant whose policies carry no exclusion property the
    reason still says so, and what ``graph.trust_declared_exclusions`` does about it."""
    policies = parts.policies.status
    exclusions = _exclusions_status(
        policies, parts.audit.status, parts.history.status, parts.sps.status
    )
    if exclusions.state is SourceState.COMPLETE:
        return _exclusions_inventory(parts, settings, property_name)
    if policies.state is SourceState.COMPLETE and parts.policies.items and property_name is None:
        trust, configured = settings.trust_declared_exclusions, settings.exclusions_property
        return no_property_unread_status(exclusions, trust, configured)
    return exclusions


def _exclusions_status(
    policies: SourceStatus, audit: SourceStatus, history: SourceStatus, sps: SourceStatus
) -> SourceStatus:
    if policies.state is not SourceState.COMPLETE:
        return policies
    for events, what in ((audit, "audit-log exclusions"), (history, "exclusion history")):
        if events.state is not SourceState.COMPLETE:
            return dataclasses.replace(
                events, state=SourceState.PARTIAL, reason=f"{what}: {events.reason}"
            )
    if sps.state is SourceState.COMPLETE:
        return SourceStatus(SourceState.COMPLETE)
    return dataclasses.replace(
        sps, state=SourceState.PARTIAL, reason=f"excluded apps' service principals: {sps.reason}"
    )


def _exclusions_inventory(
    parts: _Parts, settings: Settings, property_name: str | None
) -> SourceStatus:
    """Every input read: where the exclusions came from, and whether that is all of them."""
    history_note = parts.history.status.reason
    configured = settings.exclusions_property
    if property_name is not None:
        return property_status(property_name, configured, history_note)
    if not parts.policies.items:
        return SourceStatus(SourceState.COMPLETE, reason=NO_POLICIES)
    return no_property_status(settings.trust_declared_exclusions, configured, history_note)


def _after(own: SourceStatus, *inputs: SourceStatus) -> SourceStatus:
    """A source whose input list was incomplete is itself at best partial."""
    if own.state is not SourceState.COMPLETE:
        return own
    broken = next((s for s in inputs if s.state is not SourceState.COMPLETE), None)
    if broken is None:
        return own
    return SourceStatus(
        SourceState.PARTIAL,
        reason=f"its input was incomplete: {broken.reason}",
        missing_permission=broken.missing_permission,
    )
