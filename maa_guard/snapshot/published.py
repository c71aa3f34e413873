"""What Microsoft publishes about the MAA resources, as the snapshot mirrors them.

One list each for the collector (what to read), the emulator's ``published`` profile (what to
serve) and the probe (what to compare a tenant's answers with). Sources: the
`operationApprovalPolicy <https://learn.microsoft.com/en-us/graph/api/resources/intune-rbac-operationapprovalpolicy?view=graph-rest-beta>`_
and `operationApprovalRequest <https://learn.microsoft.com/en-us/graph/api/resources/intune-rbac-operationapprovalrequest?view=graph-rest-beta>`_
resource pages and the beta metadata.
"""

from __future__ import annotations

from typing import Final

# operationApprovalPolicy: no exclusion property among them.
POLICY_PROPERTIES: Final = (
    "id",
    "displayName",
    "description",
    "lastModifiedDateTime",
    "policyType",
    "policyPlatform",
    "policySet",
    "approverGroupIds",
)
REQUEST_PROPERTIES: Final = (
    "id",
    "status",
    "requestor",
    "approver",
    "requestDateTime",
    "expirationDateTime",
    "lastModifiedDateTime",
    "requestJustification",
    "approvalJustification",
    "requiredOperationApprovalPolicyTypes",
)
# Undocumented request properties live answers carry, naming the object a request is for.
PAYLOAD_FIELDS: Final = (
    "payload",
    "payloadName",
    "payloadType",
    "payloadSubtype",
    "payloadOperation",
    "payloadId",
    "displayPayload",
)
# The payload fields worth keeping: ``payload`` and ``displayPayload`` hold the write's body.
PAYLOAD_REFERENCES: Final = tuple(
    f for f in PAYLOAD_FIELDS if f not in ("payload", "displayPayload")
)
# operationApprovalPolicyType as the published beta metadata lists it, in order.
PUBLISHED_POLICY_TYPES: Final = (
    "unknown",
    "deviceWipe",
    "deviceRetire",
    "deviceDelete",
    "app",
    "script",
    "role",
    "unknownFutureValue",
    "tenantConfiguration",
)
# Members the resource page documents after the sentinel: Graph sends them (and the published
# ones after it) only to a caller that asks with ``Prefer: include-unknown-enum-members``.
DOCUMENTED_LATE_POLICY_TYPES: Final = (
    "operationApprovalPolicy",
    "autopilot",
    "windows365",
    "deviceEnrollment",
    "deviceUpdate",
    "enrollmentRestriction",
    "tenantConfiguration",
    "tunnel",
    "endpointPrivilegeManagement",
    "deviceSecurityAction",
)
