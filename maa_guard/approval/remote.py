"""Reading approval requests from the service (``/beta`` only): one by code, or all of them.

Reads go through the collector's :class:`~maa_guard.collect.GraphClient`: paging, throttling
budgets, ``Prefer: include-unknown-enum-members``, and retries of 429 and 5xx with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from maa_guard.approval.errors import RequestNotFound
from maa_guard.approval.model import Identity, RequestState, RequestStatus
from maa_guard.collect import GraphClient, GraphError
from maa_guard.snapshot.codec import parse_datetime

REQUESTS_PATH = "/deviceManagement/operationApprovalRequests"
_IDENTITY_KINDS = ("user", "application", "device")


async def fetch_request(graph: GraphClient, code: str) -> RequestState:
    """``GET .../operationApprovalRequests/{code}``; 404 is :class:`RequestNotFound` (exit 2)."""
    try:
        raw = await graph.get(f"{REQUESTS_PATH}/{code}")
    except GraphError as error:
        if error.status == 404:
            raise RequestNotFound(
                f"the service has no approval request {code}",
                "check the code; 'maa-guard requests list' shows the ones this state file knows",
            ) from None
        raise
    return parse_request(raw)


async def fetch_requests(graph: GraphClient) -> list[RequestState]:
    """Every approval request the credential can read (all pages)."""
    return [parse_request(item) for item in await graph.get_all(REQUESTS_PATH)]


def parse_request(raw: Mapping[str, Any]) -> RequestState:
    return RequestState(
        code=str(raw.get("id", "")).lower(),
        status=RequestStatus.parse(raw.get("status")),
        requestor=parse_identity(raw.get("requestor")),
        approver=parse_identity(raw.get("approver")),
        approval_notes=_text(raw.get("approvalJustification")),
        justification=_text(raw.get("requestJustification")),
        requested_at=_moment(raw.get("requestDateTime")),
        expires_at=_moment(raw.get("expirationDateTime")),
        last_modified=_moment(raw.get("lastModifiedDateTime")),
        policy_types=_strings(raw.get("requiredOperationApprovalPolicyTypes")),
        payload_id=_text(raw.get("payloadId")),
        payload_type=_text(raw.get("payloadType")),
        payload_subtype=_text(raw.get("payloadSubtype")),
        payload_operation=_text(raw.get("payloadOperation")),
        payload_name=_text(raw.get("payloadName")),
    )


def parse_identity(value: object) -> Identity | None:
    """The first populated side of an ``identitySet`` (user, then application, then device)."""
    if not isinstance(value, Mapping):
        return None
    for kind in _IDENTITY_KINDS:
        side = value.get(kind)
        if isinstance(side, Mapping) and (side.get("id") or side.get("displayName")):
            return Identity(kind, _text(side.get("id")), _text(side.get("displayName")))
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None
