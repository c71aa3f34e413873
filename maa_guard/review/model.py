"""The pre-exclusion review: what was learned about one app, and the verdict on excluding it.

Frozen, typed data only. ``maa_guard.review.document`` turns a :class:`Review` into the
documented JSON shape (docs/review.md) and back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from maa_guard.model import Severity, SourceState, Status

REVIEW_SCHEMA = "maa-guard.review/1"
# The exclusion rules a review evaluates, in the order they are shown.
REVIEW_RULES = ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406", "MAA407")
# The data sources a review needs complete before it can say ``ok``.
REVIEW_SOURCES = (
    "access_policies",
    "service_principals",
    "conditional_access",
    "audit_events",
    "sign_in_activity",
)


class Verdict(str, enum.Enum):
    OK = "ok"
    NEEDS_HARDENING = "needs-hardening"
    DO_NOT_EXCLUDE = "do-not-exclude"

    def __str__(self) -> str:
        return self.value


class Scope(str, enum.Enum):
    """Which access policies the app was assessed as excluded from, and why those."""

    WRITTEN_WORKLOADS = "written-workloads"
    EVERY_POLICY = "every-policy"
    REQUESTED = "requested"


@dataclass(frozen=True, slots=True)
class Credential:
    """``kind``: clientSecret, certificate (any key credential) or federated."""

    kind: str
    holder: str
    key_id: str
    display_name: str = ""
    start: datetime | None = None
    end: datetime | None = None
    issuer: str = ""
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Owner:
    holder: str
    id: str
    type: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class CoveragePolicy:
    """A Conditional Access policy that names this service principal, or all of them.

    ``restricts``: it is enabled, blocks, has a location or risk condition and does not
    exclude the app; ``note`` says why not otherwise. MAA402 alone decides the verdict.
    """

    id: str
    display_name: str
    state: str
    restricts: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class AppFacts:
    app_id: str
    service_principal_id: str
    display_name: str
    service_principal_type: str
    account_enabled: bool
    home_tenant_id: str | None
    registered_in_tenant: bool | None
    registration_visible: bool
    credentials: tuple[Credential, ...] = ()
    owners: tuple[Owner, ...] = ()
    graph_permissions: tuple[str, ...] = ()
    last_app_only_sign_in: datetime | None = None
    conditional_access: tuple[CoveragePolicy, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkloadWrites:
    """App-only Intune writes to one workload in the audit window (``unclassified``: none)."""

    workload: str
    label: str
    writes: int
    blocked: int
    last_write: datetime | None
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """``already_excluded``: None when the snapshot cannot tell (no exclusion property, and the
    declaration is not trusted as the inventory)."""

    id: str
    display_name: str
    policy_type: str
    already_excluded: bool | None = False


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    slug: str
    title: str
    severity: Severity
    status: Status
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class SourceFact:
    name: str
    state: SourceState
    reason: str = ""
    missing_permission: str | None = None


@dataclass(frozen=True, slots=True)
class Review:
    tool_version: str
    tenant_id: str
    tenant_name: str
    collected_at: datetime
    reviewed_at: datetime
    window_start: datetime
    window_end: datetime
    app: AppFacts
    writes: tuple[WorkloadWrites, ...]
    scope: Scope
    excluded_from: tuple[PolicyRef, ...]
    fail_on: Severity
    verdict: Verdict
    complete: bool
    checks: tuple[RuleResult, ...]
    sources: tuple[SourceFact, ...]
    notes: tuple[str, ...] = ()
    schema: str = REVIEW_SCHEMA

    @property
    def reasons(self) -> tuple[RuleResult, ...]:
        """The failing rules: why the verdict is not ``ok``."""
        return tuple(c for c in self.checks if c.status is Status.FAIL)

    @property
    def unverified(self) -> tuple[RuleResult, ...]:
        return tuple(c for c in self.checks if c.status is Status.ERROR)

    @property
    def incomplete_sources(self) -> tuple[SourceFact, ...]:
        return tuple(s for s in self.sources if not s.state.usable)

    @property
    def exit_code(self) -> int:
        """3 when anything could not be verified, else 0 for ``ok`` and 1 otherwise."""
        if not self.complete:
            return EXIT_INCOMPLETE
        return EXIT_OK if self.verdict is Verdict.OK else EXIT_FINDINGS
