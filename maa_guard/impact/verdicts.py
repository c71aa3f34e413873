"""From one app's facts to its verdict, its ways out and what could not be verified."""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable
from datetime import datetime

from maa_guard.impact.model import (
    COLUMN_SOURCES,
    VERDICT_SOURCES_FROM_PERMISSIONS,
    VERDICT_SOURCES_FROM_WRITES,
    Column,
    Coverage,
    ImpactRow,
    MaaEvidence,
    PolicyRef,
    Protection,
    Verdict,
    WayOut,
    WayOutKind,
    WorkloadWrites,
)
from maa_guard.snapshot import Window

APPROVAL_API = "maa_guard.approval"
APPROVAL_COMMAND = "maa-guard request submit"


def decide(
    workloads: Iterable[WorkloadWrites],
    maa: MaaEvidence,
    write_permissions: tuple[str, ...],
    last_sign_in: datetime | None,
    window: Window,
) -> Verdict | None:
    """The verdict (see :mod:`maa_guard.impact.model`); None: the app is not part of the report."""
    coverages = {w.coverage for w in workloads}
    if Coverage.PROTECTED in coverages:
        return Verdict.MAA_AWARE if maa.aware else Verdict.WILL_BE_BLOCKED
    if Coverage.EXCLUDED in coverages:
        return Verdict.EXCLUDED
    if coverages:
        return Verdict.UNPROTECTED_WORKLOAD
    if not write_permissions or last_sign_in is None:
        return None
    return Verdict.READ_ONLY if last_sign_in >= window.start else Verdict.INACTIVE


def protection(workloads: Iterable[WorkloadWrites]) -> Protection:
    gated = [w.coverage is not Coverage.UNPROTECTED for w in workloads]
    if not gated:
        return Protection.NOTHING_WRITTEN
    if all(gated):
        return Protection.ALL
    return Protection.PARTLY if any(gated) else Protection.NONE


def ways_out(
    verdict: Verdict, app_id: str, workloads: Iterable[WorkloadWrites], excluded: Iterable[str]
) -> tuple[WayOut, ...]:
    """For ``will-be-blocked``: exclude after a review, or adopt the approval flow."""
    if verdict is not Verdict.WILL_BE_BLOCKED:
        return ()
    approval_flow = WayOut(
        WayOutKind.APPROVAL_FLOW,
        "adopt the approval flow: send each write with a justification, and once "
        f"approved resubmit it with the approval code ({APPROVAL_API} in Python, or "
        f"'{APPROVAL_COMMAND}')",
        (APPROVAL_API, APPROVAL_COMMAND),
    )
    policies = blocking_policies(workloads, excluded)
    if not policies:  # only access-policy changes are blocked: no exclusion exempts those
        return (approval_flow,)
    review = f"maa-guard review {shlex.quote(app_id)}"
    names = ", ".join(p.label for p in policies)
    exclude = WayOut(
        WayOutKind.EXCLUDE, f"review it with '{review}', then exclude it from: {names}", (review,)
    )
    return (exclude, approval_flow)


def blocking_policies(
    workloads: Iterable[WorkloadWrites], excluded: Iterable[str]
) -> tuple[PolicyRef, ...]:
    """The policies that gate the app's writes and do not exclude it, once each."""
    skip = {policy_id.lower() for policy_id in excluded}
    found: dict[str, PolicyRef] = {}
    for workload in workloads:
        if workload.coverage is Coverage.PROTECTED:
            for policy in workload.gating_policies:
                if policy.id.lower() not in skip:
                    found.setdefault(policy.id.lower(), policy)
    return tuple(found.values())


def unverified_columns(verdict: Verdict, incomplete: frozenset[str]) -> frozenset[Column]:
    """Columns (and the verdict) resting on a source that could not be read completely."""
    columns = {c for c, sources in COLUMN_SOURCES.items() if incomplete.intersection(sources)}
    needed = (
        VERDICT_SOURCES_FROM_WRITES if verdict.from_writes else VERDICT_SOURCES_FROM_PERMISSIONS
    )
    if incomplete.intersection(needed):
        columns.add(Column.VERDICT)
    return frozenset(columns)


def awareness_unverified(verdict: Verdict, unknown_requestors: int) -> frozenset[Column]:
    """A completed request whose requestor is unknown may be a will-be-blocked app's, which
    would make it maa-aware; no other verdict could change by it."""
    if unknown_requestors and verdict is Verdict.WILL_BE_BLOCKED:
        return frozenset({Column.MAA_AWARE, Column.VERDICT})
    return frozenset()


def sort_key(row: ImpactRow) -> tuple[int, int, float, str, str]:
    """What needs action first; then more writes, then the latest activity, then the name."""
    latest = row.last_write or row.last_sign_in
    recency = -latest.timestamp() if latest is not None else math.inf
    return (row.verdict.rank, -row.writes, recency, row.label.casefold(), row.app_id.lower())
