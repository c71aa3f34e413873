"""What maa-guard assumes about Graph, as data: the keys and statements of docs/assumptions.md.

The docs table adds the source of each (Microsoft's page, or a public third-party observation);
a test keeps the two lists equal. The documented schema the probe compares with is here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from maa_guard.snapshot.published import (
    DOCUMENTED_LATE_POLICY_TYPES,
)


@dataclass(frozen=True, slots=True)
class Assumption:
    key: str
    statement: str


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "policy.documented-properties",
        "An access policy read by id carries the documented properties: id, displayName, "
        "description, lastModifiedDateTime, policyType, policyPlatform, policySet, "
        "approverGroupIds.",
    ),
    Assumption(
        "policy.exclusion-property",
        "Graph publishes no access-policy property for the excluded applications: maa-guard "
        "reads exclusions from the audit log, and from a property whose name contains 'exclu' "
        "only when a tenant returns one.",
    ),
    Assumption(
        "policy.approverGroupIds-on-list",
        "The list of access policies may leave out approverGroupIds, so maa-guard reads each "
        "policy by id.",
    ),
    Assumption(
        "enum.policyType-members",
        "policyType and requiredOperationApprovalPolicyTypes hold members of "
        "operationApprovalPolicyType.",
    ),
    Assumption(
        "enum.policyPlatform-members",
        "policyPlatform is one member of operationApprovalPolicyPlatform, as a string.",
    ),
    Assumption(
        "enum.requestStatus-members",
        "An approval request's status is a member of operationApprovalRequestStatus.",
    ),
    Assumption(
        "enum.unknown-members-prefer",
        "With Prefer: include-unknown-enum-members, Graph returns enum members added after "
        "unknownFutureValue by name, never unknownFutureValue.",
    ),
    Assumption(
        "request.documented-properties",
        "An approval request carries the documented properties: id, status, requestor, approver, "
        "requestDateTime, expirationDateTime, lastModifiedDateTime, requestJustification, "
        "approvalJustification, requiredOperationApprovalPolicyTypes.",
    ),
    Assumption(
        "request.requestor-populated",
        "An approval request names its requestor (an identitySet with a user or an application).",
    ),
    Assumption(
        "request.approver-populated",
        "An approved, rejected or completed approval request names its approver.",
    ),
    Assumption(
        "request.payload-fields",
        "Approval requests carry undocumented payload fields (payload, payloadName, payloadType, "
        "payloadSubtype, payloadOperation, payloadId, displayPayload) naming the target object.",
    ),
    Assumption(
        "approval.filed-412",
        "A write that files an approval request is answered 412 Precondition Failed (code "
        "BadRequest) with the request id in x-msft-approval-code; older pages said 403 "
        "ApprovalRequired.",
    ),
    Assumption(
        "audit.functions",
        "getAuditCategories and getAuditActivityTypes(category='...') answer string collections.",
    ),
    Assumption(
        "audit.maa-category",
        "Exclusion changes are audited in the categories whose activity types "
        "(getAuditActivityTypes) mention an exclusion or an approval: the categories maa-guard "
        "reads the exclusion history from.",
    ),
    Assumption(
        "audit.exclusion-events",
        "Adding or removing an excluded application writes an audit event whose activity or "
        "activityType mentions the exclusion and whose resources name the access policy and the "
        "application (type ServicePrincipal, Application or EnterpriseApplication).",
    ),
    Assumption(
        "audit.event-filters",
        "The Intune audit log accepts $filter on activityDateTime (ge, lt) and category (eq), "
        "with $select and $top.",
    ),
    Assumption(
        "query.select-accepted",
        "Graph accepts every $select list maa-guard sends (a property it does not know is a 400).",
    ),
    Assumption(
        "signin.activity-report",
        "reports/servicePrincipalSignInActivities answers in the global cloud; elsewhere "
        "maa-guard reads auditLogs/signIns instead.",
    ),
)
ASSUMPTION_KEYS = tuple(a.key for a in ASSUMPTIONS)

# The resource page's list, with the older page's customOrganizationalMessage and scripts.
POLICY_TYPES_BEFORE_SENTINEL = frozenset(
    {
        "unknown",
        "deviceAction",
        "deviceWipe",
        "deviceRetire",
        "deviceRetireNonCompliant",
        "deviceDelete",
        "deviceLock",
        "deviceErase",
        "deviceDisableActivationLock",
        "windowsEnrollment",
        "compliancePolicy",
        "configurationPolicy",
        "appProtectionPolicy",
        "policySet",
        "filter",
        "endpointSecurityPolicy",
        "app",
        "script",
        "scripts",
        "role",
        "deviceResetPasscode",
        "customOrganizationalMessage",
    }
)
SENTINEL = "unknownFutureValue"
# Evolvable members: Graph sends them only to a caller that asks with the Prefer header.
POLICY_TYPES_AFTER_SENTINEL = frozenset(DOCUMENTED_LATE_POLICY_TYPES)
POLICY_TYPES = POLICY_TYPES_BEFORE_SENTINEL | {SENTINEL} | POLICY_TYPES_AFTER_SENTINEL
POLICY_PLATFORMS = frozenset(
    {
        "notApplicable",
        "androidDeviceAdministrator",
        "androidEnterprise",
        "iOSiPadOS",
        "macOS",
        "windows10AndLater",
        "windows81AndLater",
        "windows10X",
        SENTINEL,
    }
)
REQUEST_STATUSES = frozenset(
    {
        "unknown",
        "needsApproval",
        "approved",
        "rejected",
        "cancelled",
        "completed",
        "expired",
        SENTINEL,
    }
)
# Statuses after an approver acted: the request should name them.
DECIDED_STATUSES = frozenset({"approved", "rejected", "completed"})
APP_RESOURCE_TYPES = frozenset({"serviceprincipal", "application", "enterpriseapplication"})
