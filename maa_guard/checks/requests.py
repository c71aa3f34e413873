"""MAA3xx: what the approval requests show about how approval is used."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from maa_guard.checks import check, failed, passed
from maa_guard.checks.resources import request_resource
from maa_guard.evaluate.context import Context
from maa_guard.model import Outcome
from maa_guard.snapshot import ApprovalRequest, Identity
from maa_guard.snapshot.codec import format_datetime


def _identity(identity: Identity | None) -> dict[str, str] | None:
    return None if identity is None else {"id": identity.id, "displayName": identity.display_name}


APPROVED = frozenset({"approved", "completed"})


def _decided(ctx: Context) -> Iterator[tuple[ApprovalRequest, Identity]]:
    """Requests someone approved (a rejection or a cancellation approves nothing)."""
    for request in ctx.snapshot.approval_requests:
        if request.status not in APPROVED:
            continue
        approver = request.approver.principal if request.approver else None
        if approver is not None and approver.id:
            yield request, approver


@check("MAA301")
def self_approved_request(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for request, approver in _decided(ctx):
        requestor = request.requestor.principal
        evidence: dict[str, Any] = {
            "requestor": _identity(requestor),
            "approver": _identity(approver),
            "status": request.status,
        }
        if requestor is not None and requestor.id.lower() == approver.id.lower():
            yield failed(
                request_resource(request), "the requestor approved their own request", **evidence
            )
        else:
            yield passed(
                request_resource(request),
                "approved by someone other than the requestor",
                **evidence,
            )


@check("MAA302")
def request_approved_by_application(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for request, approver in _decided(ctx):
        approver_set = request.approver
        application = approver_set.application if approver_set else None
        evidence: dict[str, Any] = {"approver": _identity(approver), "status": request.status}
        # A person approving in the admin center may carry the portal's client app as well.
        if approver_set is None or approver_set.user is None:
            what = "an application" if application is not None else "a device"
            yield failed(
                request_resource(request), f"{what} is recorded as the approver", **evidence
            )
        else:
            yield passed(request_resource(request), "the approver is a person", **evidence)


@check("MAA303")
def weak_justification(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    minimum = params["min_justification_chars"]
    for request in ctx.snapshot.approval_requests:
        if request.status not in APPROVED:
            continue
        text = request.request_justification.strip()
        evidence: dict[str, Any] = {
            "justification": request.request_justification,
            "length": len(text),
            "min_justification_chars": minimum,
        }
        if len(text) < minimum:
            problem = "empty" if not text else f"{len(text)} characters long"
            yield failed(
                request_resource(request),
                f"the request was {request.status} with a justification that is {problem}",
                **evidence,
            )
        else:
            yield passed(
                request_resource(request), "the request carries a justification", **evidence
            )


@check("MAA304")
def pending_request_expiring(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    window = timedelta(hours=params["expiry_warning_hours"])
    for request in ctx.snapshot.approval_requests:
        if request.status != "needsApproval" or request.expiration_date_time is None:
            continue
        left = request.expiration_date_time - ctx.now
        evidence: dict[str, Any] = {
            "expirationDateTime": format_datetime(request.expiration_date_time),
            "hours_left": round(left.total_seconds() / 3600, 1),
        }
        if left <= timedelta(0):
            yield failed(
                request_resource(request), "the request expired without a decision", **evidence
            )
        elif left <= window:
            yield failed(
                request_resource(request),
                f"the request expires in {evidence['hours_left']} hours and still needs approval",
                **evidence,
            )
        else:
            yield passed(
                request_resource(request),
                "the request is pending and not close to expiry",
                **evidence,
            )


@check("MAA305")
def approver_outside_approver_group(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for request, approver in _decided(ctx):
        if request.approver is None or request.approver.user is None:
            continue
        types = request.required_operation_approval_policy_types
        group_ids = ctx.approver_groups_gating(types)
        member_of = ctx.gating_groups_of(types, approver.id)
        evidence: dict[str, Any] = {
            "approver": _identity(approver),
            "policy_types": sorted(set(types)),
            "approver_groups": list(group_ids),
        }
        if member_of:
            yield passed(
                request_resource(request),
                "the approver is in an approver group",
                member_of=member_of,
                **evidence,
            )
        else:
            yield failed(
                request_resource(request),
                "the approver is not a current member of an "
                "approver group for this request's policy type",
                **evidence,
            )
