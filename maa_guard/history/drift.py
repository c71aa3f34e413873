"""The drift between two scans of one tenant, as data: what ``compute_drift`` returns and the
reporters render. Tenant strings are kept exactly; reporters escape them."""

from __future__ import annotations

from dataclasses import dataclass

from maa_guard.history.records import StoredFinding
from maa_guard.snapshot import Snapshot

FieldValue = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScanSide:
    """One side of a diff: a recorded scan (``scan_id``) or a snapshot file (``path``)."""

    snapshot: Snapshot
    findings: tuple[StoredFinding, ...]
    scan_id: int | None = None
    path: str | None = None
    tool_version: str = ""

    @property
    def label(self) -> str:
        return f"scan {self.scan_id}" if self.scan_id is not None else f"file {self.path or '-'}"


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: FieldValue
    after: FieldValue


@dataclass(frozen=True, slots=True)
class PolicyState:
    id: str
    display_name: str
    policy_type: str
    policy_platform: str
    description: str
    approver_group_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyChange:
    id: str
    display_name: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class ApproverMember:
    group_id: str
    group_name: str
    member_id: str
    member_type: str
    member_name: str


@dataclass(frozen=True, slots=True)
class ExclusionItem:
    policy_id: str
    policy_name: str
    policy_type: str
    app_id: str
    app_name: str


@dataclass(frozen=True, slots=True)
class CredentialState:
    """``holder`` servicePrincipal or application; ``kind`` secret, certificate or federated.
    Dates are ISO 8601 text ("" when absent); a secret's hint is never kept."""

    app_id: str
    app_name: str
    holder: str
    kind: str
    credential_id: str
    display_name: str
    starts: str = ""
    expires: str = ""
    issuer: str = ""
    subject: str = ""
    audiences: tuple[str, ...] = ()

    def compared(self) -> dict[str, FieldValue]:
        """The fields whose change is reported, by Graph name."""
        if self.kind == "federated":
            return {"issuer": self.issuer, "subject": self.subject, "audiences": self.audiences}
        return {"startDateTime": self.starts, "endDateTime": self.expires}


@dataclass(frozen=True, slots=True)
class CredentialChange:
    before: CredentialState
    after: CredentialState
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class Drift:
    before: ScanSide
    after: ScanSide
    policies_added: tuple[PolicyState, ...] = ()
    policies_removed: tuple[PolicyState, ...] = ()
    policies_changed: tuple[PolicyChange, ...] = ()
    approvers_added: tuple[ApproverMember, ...] = ()
    approvers_removed: tuple[ApproverMember, ...] = ()
    exclusions_added: tuple[ExclusionItem, ...] = ()
    exclusions_removed: tuple[ExclusionItem, ...] = ()
    credentials_added: tuple[CredentialState, ...] = ()
    credentials_removed: tuple[CredentialState, ...] = ()
    credentials_changed: tuple[CredentialChange, ...] = ()
    findings_new: tuple[StoredFinding, ...] = ()
    findings_resolved: tuple[StoredFinding, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def tenant_changed(self) -> bool:
        return any(
            (
                self.policies_added,
                self.policies_removed,
                self.policies_changed,
                self.approvers_added,
                self.approvers_removed,
                self.exclusions_added,
                self.exclusions_removed,
                self.credentials_added,
                self.credentials_removed,
                self.credentials_changed,
            )
        )

    @property
    def is_empty(self) -> bool:
        return not (self.tenant_changed or self.findings_new or self.findings_resolved)

    @property
    def fails(self) -> bool:
        """What ``--fail-on-drift`` fails on: a tenant change or a new failing finding."""
        return self.tenant_changed or bool(self.findings_new)
