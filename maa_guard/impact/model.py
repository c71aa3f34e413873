"""The impact report's data: one row per app-only identity, and what MAA will do to it.

Verdicts, in the order rows are sorted (what needs action first):

- ``will-be-blocked``: in the window the app wrote, app-only, to a workload that an access
  policy protects, it is not excluded in the tenant from every policy that gates that write,
  and it shows no sign of the approval flow. Its next such write needs an approval.
- ``unprotected-workload``: it wrote in the window, and every write went to a workload no
  access policy protects (or to an Intune area no MAA policy type covers). Nothing is blocked
  today; protecting that workload would block it.
- ``excluded``: it wrote to protected workloads, and the tenant excludes it from every policy
  gating those writes (an exclusion declared only in ``maa-guard.toml`` exempts nothing).
- ``inactive``: no write in the window; it holds Intune write permissions, and its last app-only
  sign-in is before the window.
- ``read-only``: no write in the window; it holds Intune write permissions and signed in,
  app-only, within the window.
- ``maa-aware``: it would be blocked, but it already uses the approval flow: it filed an
  approval request that reached ``completed``, or the audit log shows it resubmitting with an
  approval code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from maa_guard.snapshot import SourceStatus, TenantInfo, Window

IMPACT_SCHEMA_VERSION = 1

# The snapshot sources an impact report rests on; one that is not complete makes it exit 3.
IMPACT_SOURCES = (
    "audit_events",
    "access_policies",
    "exclusions",
    "approval_requests",
    "service_principals",
    "sign_in_activity",
)


class Verdict(str, enum.Enum):
    """Declared in sort order: the first needs action first."""

    WILL_BE_BLOCKED = "will-be-blocked"
    UNPROTECTED_WORKLOAD = "unprotected-workload"
    EXCLUDED = "excluded"
    INACTIVE = "inactive"
    READ_ONLY = "read-only"
    MAA_AWARE = "maa-aware"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def from_writes(self) -> bool:
        """Decided by the app's writes (else by its permissions and sign-ins)."""
        return self not in (Verdict.INACTIVE, Verdict.READ_ONLY)

    @property
    def definition(self) -> str:
        return VERDICT_DEFINITIONS[self]

    @property
    def action(self) -> str:
        return VERDICT_ACTIONS[self]


_RANKS = {verdict: rank for rank, verdict in enumerate(Verdict)}

VERDICT_DEFINITIONS = {
    Verdict.WILL_BE_BLOCKED: "wrote app-only to a protected workload in the window, is not "
    "excluded from every policy gating that write, and shows no use of the approval flow",
    Verdict.UNPROTECTED_WORKLOAD: "wrote in the window, but only to workloads no access "
    "policy protects",
    Verdict.EXCLUDED: "wrote to protected workloads, and the tenant excludes it from every "
    "policy gating those writes",
    Verdict.INACTIVE: "wrote nothing in the window; holds Intune write permissions; last "
    "app-only sign-in before the window",
    Verdict.READ_ONLY: "wrote nothing in the window; holds Intune write permissions; signed "
    "in app-only within the window",
    Verdict.MAA_AWARE: "would be blocked, but completed approval requests or resubmitted "
    "with an approval code",
}

VERDICT_ACTIONS = {
    Verdict.WILL_BE_BLOCKED: "its next write to a protected workload needs an approval: "
    "exclude it after a review, or adopt the approval flow",
    Verdict.UNPROTECTED_WORKLOAD: "not blocked today; protecting the workloads it writes "
    "would block it: decide before adding those access policies",
    Verdict.EXCLUDED: "passes MAA through its exclusions: keep them reviewed",
    Verdict.INACTIVE: "no app-only sign-in in the window: remove its Intune write "
    "permissions, or the app",
    Verdict.READ_ONLY: "wrote nothing in the window: its Intune write permissions may be "
    "more than it needs",
    Verdict.MAA_AWARE: "already uses the approval flow: nothing to do",
}


class Coverage(str, enum.Enum):
    """What MAA does to one app's writes to one policy type."""

    PROTECTED = "protected"  # a policy gates it, and the app is not excluded from all of them
    EXCLUDED = "excluded"  # every gating policy excludes the app
    UNPROTECTED = "unprotected"  # no policy gates it

    def __str__(self) -> str:
        return self.value


class Protection(str, enum.Enum):
    """Whether an access policy gates the app's writes: all of them, some, none."""

    ALL = "yes"
    PARTLY = "partly"
    NONE = "no"
    NOTHING_WRITTEN = "n/a"

    def __str__(self) -> str:
        return self.value


class Column(str, enum.Enum):
    """The columns a source that could not be read leaves unverified."""

    WORKLOADS = "workloads"
    WRITES = "writes"
    LAST_WRITE = "last_write"
    LAST_SIGN_IN = "last_app_only_sign_in"
    WRITE_PERMISSIONS = "write_permissions"
    PROTECTED = "protected"
    EXCLUDED = "excluded"
    MAA_AWARE = "maa_aware"
    VERDICT = "verdict"

    def __str__(self) -> str:
        return self.value


COLUMN_SOURCES: dict[Column, tuple[str, ...]] = {
    Column.WORKLOADS: ("audit_events", "access_policies"),
    Column.WRITES: ("audit_events",),
    Column.LAST_WRITE: ("audit_events",),
    Column.LAST_SIGN_IN: ("sign_in_activity",),
    Column.WRITE_PERMISSIONS: ("service_principals",),
    Column.PROTECTED: ("access_policies",),
    Column.EXCLUDED: ("access_policies", "exclusions"),
    Column.MAA_AWARE: ("approval_requests", "audit_events"),
}
# A verdict from writes rests on the audit log, the policies, the exclusions and the requests;
# one from permissions on the audit log (no write seen), the sign-ins and the service principals.
VERDICT_SOURCES_FROM_WRITES = ("audit_events", "access_policies", "exclusions", "approval_requests")
VERDICT_SOURCES_FROM_PERMISSIONS = ("audit_events", "sign_in_activity", "service_principals")


class WayOutKind(str, enum.Enum):
    EXCLUDE = "exclude"
    APPROVAL_FLOW = "approval-flow"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class PolicyRef:
    id: str
    name: str

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class WorkloadWrites:
    """One app's writes to one MAA policy type (``other``: no policy type covers them)."""

    policy_type: str
    label: str
    writes: int
    last_write: datetime
    approval_failures: int
    coverage: Coverage
    gating_policies: tuple[PolicyRef, ...]


@dataclass(frozen=True, slots=True)
class MaaEvidence:
    """Signs that the app already uses the approval flow."""

    completed_requests: int = 0
    resubmissions: int = 0
    other_requests: int = 0

    @property
    def aware(self) -> bool:
        return bool(self.completed_requests or self.resubmissions)


@dataclass(frozen=True, slots=True)
class WayOut:
    kind: WayOutKind
    summary: str
    commands: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImpactRow:
    app_id: str
    display_name: str
    verdict: Verdict
    workloads: tuple[WorkloadWrites, ...]
    writes: int
    last_write: datetime | None
    last_sign_in: datetime | None
    write_permissions: tuple[str, ...]
    protection: Protection
    excluded_from: tuple[PolicyRef, ...]
    declared_only: tuple[PolicyRef, ...]
    maa: MaaEvidence
    ways_out: tuple[WayOut, ...]
    unverified: frozenset[Column]

    @property
    def label(self) -> str:
        return self.display_name or self.app_id

    @property
    def approval_failures(self) -> int:
        return sum(w.approval_failures for w in self.workloads)

    def is_unverified(self, column: Column) -> bool:
        return column in self.unverified


@dataclass(frozen=True, slots=True)
class ImpactReport:
    tool_version: str
    tenant: TenantInfo
    collected_at: datetime
    window: Window
    rows: tuple[ImpactRow, ...]
    sources: dict[str, SourceStatus]
    # Completed approval requests whose requestor neither Graph nor an MAA audit event names.
    unknown_requestors: int = 0
    # On a copy a display filter narrowed: the whole report, whose verdicts decide the exit code.
    unfiltered: ImpactReport | None = None

    @property
    def whole(self) -> ImpactReport:
        """The report the exit code and the summary speak of: this one, or the one filtered."""
        return self.unfiltered or self

    @property
    def incomplete_sources(self) -> dict[str, SourceStatus]:
        return {name: status for name, status in self.sources.items() if not status.state.usable}

    @property
    def unknown_requestor_reason(self) -> str:
        """Why the will-be-blocked rows' MAA-awareness is unverified; empty when it is not."""
        if not self.unknown_requestors or not self.count(Verdict.WILL_BE_BLOCKED):
            return ""
        return (
            f"{self.unknown_requestors} completed request(s) whose requestor cannot be known "
            "(neither Graph nor an MAA audit event names it): any will-be-blocked app may have "
            "filed them"
        )

    @property
    def complete(self) -> bool:
        return not self.incomplete_sources and not self.unknown_requestor_reason

    def count(self, verdict: Verdict) -> int:
        return sum(1 for row in self.rows if row.verdict is verdict)

    @property
    def by_verdict(self) -> dict[Verdict, int]:
        return {verdict: self.count(verdict) for verdict in Verdict}

    @property
    def exit_code(self) -> int:
        """1 when an app will be blocked; else 3 when a source could not be read; else 0."""
        if self.count(Verdict.WILL_BE_BLOCKED):
            return EXIT_FINDINGS
        return EXIT_OK if self.complete else EXIT_INCOMPLETE
