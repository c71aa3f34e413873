"""The impact report from one snapshot: a single pass over the audit log, then one row per app.

The pass keeps, per app, one counter per MAA policy type written; an event is judged once per
shape (``evidence.judge``), so an event costs a shape key and a dictionary lookup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta

from maa_guard import __version__
from maa_guard.config import DeclaredExclusion
from maa_guard.errors import UsageError
from maa_guard.evaluate.context import Context
from maa_guard.exclusions import ExcludedApp
from maa_guard.impact.evidence import Shape, ShapeKey, intune_write_permissions, judge, shape_key
from maa_guard.impact.model import (
    IMPACT_SOURCES,
    Coverage,
    ImpactReport,
    ImpactRow,
    MaaEvidence,
    PolicyRef,
    Verdict,
    WorkloadWrites,
)
from maa_guard.impact.verdicts import (
    awareness_unverified,
    decide,
    protection,
    sort_key,
    unverified_columns,
    ways_out,
)
from maa_guard.snapshot import ApprovalRequest, Snapshot, Window
from maa_guard.snapshot.gcpause import paused_gc
from maa_guard.workloads import ACCESS_POLICY_TYPE


class _Bucket:
    """Writes of one app to one policy type (mutable while the pass runs, one per pair)."""

    __slots__ = ("failures", "last", "shape", "writes")

    def __init__(self, shape: Shape, when: datetime) -> None:
        self.shape, self.writes, self.last, self.failures = shape, 0, when, 0


class _Tally:
    """Everything the pass learns about one app (one object per app, not per event)."""

    __slots__ = ("app_id", "buckets", "name", "resubmissions")

    def __init__(self, app_id: str = "") -> None:
        self.app_id = app_id  # as the audit log first spells it
        self.buckets: dict[str, _Bucket] = {}
        self.name = ""
        self.resubmissions = 0


def compute_impact(
    snapshot: Snapshot,
    declared: Iterable[DeclaredExclusion] = (),
    tool_version: str = __version__,
) -> ImpactReport:
    with paused_gc():  # thousands of acyclic rows next to a large snapshot
        builder = _RowBuilder(snapshot, declared)
        tallies = tally_events(snapshot)
        rows = [
            row
            for key in _candidates(snapshot, tallies, builder.sign_ins)
            if (row := builder.row(key, tallies.get(key) or _Tally(key))) is not None
        ]
        rows.sort(key=sort_key)
    return ImpactReport(
        tool_version=tool_version,
        tenant=snapshot.tenant,
        collected_at=snapshot.collected_at,
        window=snapshot.window,
        rows=tuple(rows),
        sources=builder.sources,
        unknown_requestors=builder.unknown_requestors,
    )


def tally_events(snapshot: Snapshot) -> dict[str, _Tally]:
    """One pass: app-only writes in the window and resubmissions, by appId (lower case)."""
    start, end = snapshot.window.start, snapshot.window.end
    shapes: dict[ShapeKey, Shape] = {}
    tallies: dict[str, _Tally] = {}  # keyed by the appId as written; folded below
    for event in snapshot.audit_events:
        actor = event.actor
        app_id = actor.application_id
        if not app_id or actor.user_principal_name:
            continue
        key = shape_key(event)
        shape = shapes.get(key)
        if shape is None:
            shape = shapes[key] = judge(event)
        if shape.resubmission:
            _tally_of(tallies, app_id).resubmissions += 1
        elif shape.write and start <= event.activity_date_time <= end:
            tally = _tally_of(tallies, app_id)
            tally.name = tally.name or actor.application_display_name
            _count(tally, shape, event.activity_date_time)
    return _fold_case(tallies)


def _tally_of(tallies: dict[str, _Tally], app_id: str) -> _Tally:
    tally = tallies.get(app_id)
    if tally is None:
        tally = tallies[app_id] = _Tally(app_id)
    return tally


def _count(tally: _Tally, shape: Shape, when: datetime) -> None:
    bucket = tally.buckets.get(shape.policy_type)
    if bucket is None:
        bucket = tally.buckets[shape.policy_type] = _Bucket(shape, when)
    bucket.writes += 1
    bucket.failures += shape.approval_failure
    if when > bucket.last:
        bucket.last = when


def _fold_case(tallies: dict[str, _Tally]) -> dict[str, _Tally]:
    """Graph may spell one appId in two cases; merge them (rare, so done after the pass)."""
    folded: dict[str, _Tally] = {}
    for app_id, tally in tallies.items():
        key = app_id.lower()
        into = folded.get(key)
        if into is None:
            folded[key] = tally
            continue
        into.name = into.name or tally.name
        into.resubmissions += tally.resubmissions
        for policy_type, bucket in tally.buckets.items():
            _merge_bucket(into, policy_type, bucket)
    return folded


def _merge_bucket(into: _Tally, policy_type: str, bucket: _Bucket) -> None:
    existing = into.buckets.get(policy_type)
    if existing is None:
        into.buckets[policy_type] = bucket
        return
    existing.writes += bucket.writes
    existing.failures += bucket.failures
    existing.last = max(existing.last, bucket.last)


def request_evidence(ctx: Context) -> tuple[dict[str, MaaEvidence], int]:
    """Approval requests each app filed app-only: how many completed, how many did not; and how
    many completed requests name no requestor (neither Graph nor an MAA audit event does)."""
    snapshot = ctx.snapshot
    by_object_id = {sp.id.lower(): sp.app_id.lower() for sp in snapshot.service_principals}
    counts: dict[str, tuple[int, int]] = {}
    unknown = 0
    for request in snapshot.approval_requests:
        requestor = ctx.app_only_requestor(request)
        if requestor is None:
            if _completed(request) and ctx.request_identities(request).requestor is None:
                unknown += 1
            continue
        key = by_object_id.get(requestor, requestor)
        completed, other = counts.get(key, (0, 0))
        done = _completed(request)
        counts[key] = (completed + done, other + (not done))
    evidence = {key: MaaEvidence(completed, 0, other) for key, (completed, other) in counts.items()}
    return evidence, unknown


def _completed(request: ApprovalRequest) -> bool:
    return request.status.lower() == "completed"


def _candidates(
    snapshot: Snapshot, tallies: dict[str, _Tally], sign_ins: dict[str, datetime | None]
) -> list[str]:
    """Apps that wrote in the window, then apps holding Intune write permissions that signed in."""
    keys = dict.fromkeys(key for key, tally in tallies.items() if tally.buckets)
    for sp in snapshot.service_principals:
        key = sp.app_id.lower()
        if sign_ins.get(key) is not None and intune_write_permissions(sp.app_permissions):
            keys.setdefault(key)
    return list(keys)


class _RowBuilder:
    """Indexes over the snapshot, built once, and one app's row from its tally."""

    def __init__(self, snapshot: Snapshot, declared: Iterable[DeclaredExclusion]) -> None:
        self.ctx = Context(snapshot, declared)
        self.window = snapshot.window
        self.requests, self.unknown_requestors = request_evidence(self.ctx)
        self.sign_ins = {
            item.app_id.lower(): item.last_app_only_client_sign_in_date_time
            for item in snapshot.sign_in_activity
        }
        self.sources = {name: snapshot.source_state(name) for name in IMPACT_SOURCES}
        incomplete = frozenset(name for name, s in self.sources.items() if not s.state.usable)
        self.unverified = {
            v: unverified_columns(v, incomplete) | awareness_unverified(v, self.unknown_requestors)
            for v in Verdict
        }
        self.names = {policy.id: policy.display_name for policy in snapshot.policies}
        self.gating: dict[frozenset[str], tuple[frozenset[str], tuple[PolicyRef, ...]]] = {}

    def row(self, key: str, tally: _Tally) -> ImpactRow | None:
        sp = self.ctx.service_principal(key)
        permissions = intune_write_permissions(sp.app_permissions) if sp is not None else ()
        exclusions = self.ctx.exclusions_by_app.get(key, ())
        excluded = [e for e in exclusions if self.ctx.exempts(e)]
        excluded_ids = {e.policy_id for e in excluded}
        workloads = self._workloads(tally, excluded_ids)
        maa = self.requests.get(key, _NO_REQUESTS)
        maa = MaaEvidence(maa.completed_requests, tally.resubmissions, maa.other_requests)
        last_sign_in = self.sign_ins.get(key)
        verdict = decide(workloads, maa, permissions, last_sign_in, self.window)
        if verdict is None:
            return None
        app_id = sp.app_id if sp is not None else tally.app_id
        return ImpactRow(
            app_id=app_id,
            display_name=(sp.display_name if sp is not None else "") or tally.name,
            verdict=verdict,
            workloads=workloads,
            writes=sum(w.writes for w in workloads),
            last_write=max((w.last_write for w in workloads), default=None),
            last_sign_in=last_sign_in,
            write_permissions=permissions,
            protection=protection(workloads),
            excluded_from=_policy_refs(excluded),
            declared_only=_policy_refs(e for e in exclusions if not self.ctx.exempts(e)),
            maa=maa,
            ways_out=ways_out(verdict, app_id, workloads, excluded_ids),
            unverified=self.unverified[verdict],
        )

    def _workloads(self, tally: _Tally, excluded: set[str]) -> tuple[WorkloadWrites, ...]:
        result = []
        for policy_type, bucket in sorted(tally.buckets.items()):
            gating_ids, gating = self._gating(bucket.shape.gates)
            coverage = (
                Coverage.PROTECTED  # MAA gates every access-policy change, and nothing excludes
                if policy_type == ACCESS_POLICY_TYPE
                else Coverage.UNPROTECTED
                if not gating_ids
                else Coverage.EXCLUDED
                if gating_ids <= excluded
                else Coverage.PROTECTED
            )
            result.append(
                WorkloadWrites(
                    policy_type=policy_type,
                    label=bucket.shape.label,
                    writes=bucket.writes,
                    last_write=bucket.last,
                    approval_failures=bucket.failures,
                    coverage=coverage,
                    gating_policies=gating,
                )
            )
        return tuple(result)

    def _gating(self, gates: frozenset[str]) -> tuple[frozenset[str], tuple[PolicyRef, ...]]:
        """The ids of the policies gating a write, and the policies themselves, by id."""
        if gates not in self.gating:
            ids = self.ctx.policy_ids_of_types(gates)
            refs = tuple(PolicyRef(i, self.names[i]) for i in sorted(ids))
            self.gating[gates] = (ids, refs)
        return self.gating[gates]


_NO_REQUESTS = MaaEvidence()


def _policy_refs(items: Iterable[ExcludedApp]) -> tuple[PolicyRef, ...]:
    refs = {item.policy_id.lower(): PolicyRef(item.policy_id, item.policy_name) for item in items}
    return tuple(sorted(refs.values(), key=lambda ref: (ref.label.casefold(), ref.id)))


def narrow_window(snapshot: Snapshot, days: int | None) -> Snapshot:
    """The snapshot judged over its last ``days`` days; it cannot be widened past what it holds."""
    if days is None:
        return snapshot
    if days < 1:
        raise UsageError("--days must be at least 1", "the audit window, in days (default 30)")
    held = (snapshot.window.end - snapshot.window.start) / timedelta(days=1)
    if days > held:
        raise UsageError(
            f"--days {days} is longer than the snapshot's audit window ({held:g} days)",
            "collect a new snapshot with a longer --days, or ask for fewer days",
        )
    start = snapshot.window.end - timedelta(days=days)
    return dataclasses.replace(snapshot, window=Window(start, snapshot.window.end))
