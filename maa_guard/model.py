"""Core value types shared by the engine, the gate and the reporters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that thresholds compare with ``>=``."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        # Enum's ``name`` is a descriptor and slow; reports ask for this once per finding.
        return _SEVERITY_LABELS[self._value_]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None

    def __str__(self) -> str:
        return self.label


_SEVERITY_LABELS = {1: "low", 2: "medium", 3: "high", 4: "critical"}


class Status(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


class SourceState(str, enum.Enum):
    """How completely a data source was read.

    ``declared``: only the exclusions source; Graph showed no exclusion property, and the
    configuration trusts the ``[[exclusions]]`` declaration plus the audit log instead
    (``graph.trust_declared_exclusions``). Rules may read it like a complete source.
    """

    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"
    DECLARED = "declared"

    @property
    def usable(self) -> bool:
        """Rules may read a source in this state: complete, or declared and trusted."""
        return self is SourceState.COMPLETE or self is SourceState.DECLARED


class ExclusionSource(str, enum.Enum):
    """Where an exclusion was learned from (see ``maa_guard.exclusions``)."""

    POLICY_PROPERTY = "policy-property"
    AUDIT_LOG = "audit-log"
    DECLARED = "declared"


@dataclass(frozen=True, slots=True)
class Resource:
    """What a finding is about. ``id`` is the Graph object id, or the appId for applications."""

    type: str
    id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check function says about one resource; the engine turns it into a Finding."""

    status: Status
    resource: Resource
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    rule: str
    resource: str
    reason: str
    expires: str
    expired: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    slug: str
    title: str
    severity: Severity
    status: Status
    resource: Resource
    message: str
    evidence: dict[str, Any]
    remediation: str
    fingerprint: str
    suppression: Suppression | None = None
    baselined: bool = False

    @property
    def counts_as_failure(self) -> bool:
        """A failure that is neither suppressed nor known from the baseline."""
        return (
            self.status is Status.FAIL
            and (self.suppression is None or self.suppression.expired)
            and not self.baselined
        )

    @property
    def is_suppressed(self) -> bool:
        return self.suppression is not None and not self.suppression.expired
