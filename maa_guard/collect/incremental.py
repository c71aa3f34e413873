"""An incremental collection: the earlier snapshot, and only what changed since it.

Given an earlier complete snapshot of the same tenant and the delta links taken with it, the
next collection re-reads the Intune sources (access policies, approval requests, RBAC, small
and without change tracking) and Conditional Access in full, and for the rest:

- directory objects (groups, users, service principals and their applications): each one a
  delta query reports changed, each one not in the earlier snapshot, and each one listing (as
  member or owner) an object reported changed, is read; the others are taken from it. A group
  with a nested group is always read (a change inside the nested group does not change the
  outer one);
- the audit log: the earlier snapshot's events still inside the window (or, before it, in the
  categories the exclusion history reads), and the events from an hour before the earlier
  collection ended (late arrivals) to now;
- sign-in activity: the earlier rows, moved forward by the service principal sign-ins since
  the earlier collection, and the report for apps it has no row for.

The result equals a full collection of the tenant as it is for every change Graph's delta
reports (the property tests check this against random changes); what it does not report (an
owner or a federated credential added to an app) is caught by the full collection that a
chain of incremental ones gets at least every 7 days (``FULL_EVERY``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from maa_guard.collect.delta import DELTA_COLLECTIONS, Tracked
from maa_guard.errors import InputError
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    SOURCES,
    AuditEvent,
    DirectoryObjectRef,
    Group,
    ServicePrincipal,
    Snapshot,
    SourceStatus,
    User,
    Window,
)

T = TypeVar("T")
# Audit events reach Graph's log some minutes after they happen: read again from this long
# before the earlier collection ended, and keep each event once.
AUDIT_OVERLAP = timedelta(hours=1)
# A chain of incremental collections is read in full again after this long: anything Graph's
# delta does not report (it tracks properties and group members and owners, not every
# relationship) is then caught within a week, as Graph's delta links expire after seven days.
FULL_EVERY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Baseline:
    """The earlier collection: its snapshot, the delta links taken with it, the audit
    categories its exclusion history read (None: every category), and when the chain of
    incremental collections it belongs to began with a full one."""

    snapshot: Snapshot
    links: Mapping[str, str]
    history_categories: tuple[str, ...] | None
    full_collected_at: datetime


class OtherTenant(InputError):
    """The earlier snapshot is of another tenant than the one collected (exit 2)."""

    def __init__(self, earlier: str, collected: str) -> None:
        super().__init__(
            f"the earlier snapshot is of tenant {earlier}, not of this tenant {collected}",
            "name a snapshot of this tenant, or collect without one",
        )


def check_same_tenant(baseline: Baseline | None, collected: str) -> None:
    earlier = baseline.snapshot.tenant.id if baseline is not None else ""
    if earlier and collected and earlier.lower() != collected.lower():
        raise OtherTenant(earlier, collected)


def usable(baseline: Baseline, now: datetime, window: Window, version: str) -> str | None:
    """None when the baseline can be built on; else why the collection is read in full."""
    earlier = baseline.snapshot
    broken = [name for name in SOURCES if not _clean(name, earlier.source_state(name))]
    if broken:
        return f"the earlier snapshot is incomplete ({', '.join(sorted(broken))})"
    if earlier.tool_version != version:
        return f"the earlier snapshot was collected by maa-guard {earlier.tool_version}"
    if not earlier.tenant.id:
        return "the earlier snapshot names no tenant"
    return _dates_unusable(baseline, now, window)


def _dates_unusable(baseline: Baseline, now: datetime, window: Window) -> str | None:
    earlier = baseline.snapshot
    began, ended = earlier.window.start, earlier.window.end
    if not began <= ended == earlier.collected_at or baseline.full_collected_at > ended:
        return "the earlier snapshot's dates do not fit together"
    if now - baseline.full_collected_at > FULL_EVERY:
        return "the last full collection is more than 7 days old"
    if now < earlier.collected_at:
        return "the earlier snapshot is newer than this collection"
    if window.start < began:
        return "this audit window reaches further back than the earlier one"
    if window.start > audit_since(baseline):
        return "the earlier collection ended before this audit window begins"
    return None


# Built from the other sources, not read: partial (or declared) where Graph publishes no
# exclusion property although every input was read, and a missing input (policies, audit log,
# exclusion history, service principals) leaves a read source incomplete as well.
DERIVED_SOURCES = frozenset({"exclusions"})


def _clean(name: str, status: SourceStatus) -> bool:
    complete = name in DERIVED_SOURCES or status.state is SourceState.COMPLETE
    return complete and not status.malformed


@dataclass(slots=True)
class Reuse:
    """Directory objects of the earlier snapshot no change touched, by lower-cased key; an
    object is read instead when it is not here. ``taken``: lower-cased ids of the service
    principals taken from here (checked against the holders of Intune write permissions)."""

    groups: dict[str, Group] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    sps_by_app_id: dict[str, ServicePrincipal] = field(default_factory=dict)
    sps_by_id: dict[str, ServicePrincipal] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)


def reuse_from(snapshot: Snapshot, tracked: Mapping[str, Tracked]) -> Reuse:
    """What can be taken forward: nothing of a collection whose changes are unknown, and no
    object listing another object that changed (Graph lists members and owners as they are
    now: a renamed user shows renamed in every group, though no group is reported changed)."""
    groups, users = _changed(tracked, "groups"), _changed(tracked, "users")
    sps, apps = _changed(tracked, "servicePrincipals"), _changed(tracked, "applications")
    anywhere = _changed_anywhere(tracked)
    reuse = Reuse()
    if groups is not None:
        reuse.groups = {
            g.id.lower(): g
            for g in snapshot.groups
            if g.id.lower() not in groups
            and not _nests(g)
            and not _lists_changed((*g.members, *g.transitive_members, *g.owners), anywhere)
        }
    if users is not None:
        reuse.users = {u.id.lower(): u for u in snapshot.users if u.id.lower() not in users}
    if sps is not None and apps is not None:
        kept = [sp for sp in snapshot.service_principals if _unchanged_sp(sp, sps, apps, anywhere)]
        reuse.sps_by_app_id = {sp.app_id.lower(): sp for sp in kept}
        reuse.sps_by_id = {sp.id.lower(): sp for sp in kept}
    return reuse


def _changed(tracked: Mapping[str, Tracked], collection: str) -> frozenset[str] | None:
    found = tracked.get(collection)
    return None if found is None else found.changed


def _changed_anywhere(tracked: Mapping[str, Tracked]) -> frozenset[str] | None:
    """Every object reported changed; None when a collection's changes are unknown."""
    found = [_changed(tracked, collection) for collection in DELTA_COLLECTIONS]
    known = [changed for changed in found if changed is not None]
    return frozenset().union(*known) if len(known) == len(found) else None


def _lists_changed(refs: Iterable[DirectoryObjectRef], anywhere: frozenset[str] | None) -> bool:
    """An object listed may have changed (``anywhere`` None: any may have)."""
    listed = [ref.id.lower() for ref in refs]
    return bool(listed) and (anywhere is None or any(i in anywhere for i in listed))


def _nests(group: Group) -> bool:
    return any(ref.type != "user" for ref in (*group.members, *group.transitive_members))


def _unchanged_sp(
    sp: ServicePrincipal,
    sps: frozenset[str],
    apps: frozenset[str],
    anywhere: frozenset[str] | None,
) -> bool:
    owners = (*sp.owners, *(sp.application.owners if sp.application else ()))
    if sp.id.lower() in sps or _lists_changed(owners, anywhere):
        return False
    # ``apps`` holds appIds too: an application registered since for one that had none.
    application = sp.application.id if sp.application else sp.app_id
    return application.lower() not in apps


def split(ids: Sequence[str], known: Mapping[str, T]) -> tuple[list[str], dict[str, T]]:
    """The ids to read, and the objects taken forward for the others."""
    kept = {i.lower(): known[i.lower()] for i in ids if i.lower() in known}
    return [i for i in ids if i.lower() not in kept], kept


def in_order(
    ids: Iterable[str], read: Iterable[T], kept: Mapping[str, T], key: Callable[[T], str]
) -> list[T]:
    """Read and kept objects in the order of ``ids`` (as a full read lists them)."""
    by_key = {key(item).lower(): item for item in read}
    by_key.update(kept)
    seen: set[str] = set()
    ordered = []
    for item_id in ids:
        lowered = item_id.lower()
        if lowered in by_key and lowered not in seen:
            seen.add(lowered)
            ordered.append(by_key[lowered])
    return ordered


# ---- the audit log ---------------------------------------------------------------------------


def audit_since(baseline: Baseline) -> datetime:
    """Where the new audit read starts: an hour before the earlier window ended."""
    return baseline.snapshot.window.end - AUDIT_OVERLAP


def carried_inside(baseline: Baseline, window: Window) -> tuple[AuditEvent, ...]:
    """The earlier events a full read of ``window`` would return again, up to where the new
    read starts."""
    since = audit_since(baseline)
    events = baseline.snapshot.audit_events
    return tuple(e for e in events if window.start <= e.activity_date_time < since)


def carried_before(
    baseline: Baseline, span: Window, categories: tuple[str, ...] | None
) -> tuple[AuditEvent, ...]:
    """The earlier events a full read of the exclusion history (``span``, before the window)
    would return again: those of its categories (None: every category)."""
    wanted = None if categories is None else set(categories)
    return tuple(
        e
        for e in baseline.snapshot.audit_events
        if span.start <= e.activity_date_time < span.end
        and (wanted is None or e.category in wanted)
    )


# ---- sign-in activity ------------------------------------------------------------------------


def earlier_sign_ins(snapshot: Snapshot) -> dict[str, datetime | None]:
    return {
        row.app_id.lower(): row.last_app_only_client_sign_in_date_time
        for row in snapshot.sign_in_activity
    }


def moved_forward(
    earlier: Mapping[str, datetime | None], since: Mapping[str, datetime | None]
) -> dict[str, datetime | None]:
    """Each app's latest sign-in: the earlier one, or a later one seen since."""
    latest = dict(earlier)
    for app_id, moment in since.items():
        current = latest.get(app_id)
        if moment is not None and (current is None or moment > current):
            latest[app_id] = moment
    return latest
