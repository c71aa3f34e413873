"""MAA3xx: what the approval requests show about how approval is used.

Live tenants return a request's ``requestor`` and ``approver`` as null; the audit log then tells
who filed and who approved it (``evaluate.identities``). MAA301, MAA302 and MAA305 judge the
requests whose identities are known either way, and report each approved or completed request
whose needed identity is known neither way as one ``error``. MAA303 and MAA304 need no identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from maa_guard.checks import check, failed, passed, unverified
from maa_guard.checks.resources import request_resource
from maa_guard.evaluate.context import Context, changes_access_policy
from maa_guard.evaluate.identities import KnownIdentity, RequestIdentities
from maa_guard.model import Outcome, Resource
from maa_guard.snapshot import ApprovalRequest
from maa_guard.snapshot.codec import format_datetime

APPROVED = frozenset({"approved", "completed"})
_VERB = {"requestor": "filed", "approver": "approved"}


def _approved(ctx: Context) -> Iterator[tuple[ApprovalRequest, RequestIdentities]]:
    """Requests someone approved (a rejection or a cancellation approves nothing), with who
    filed and who approved them as far as Graph or the audit log tell."""
    for request in ctx.snapshot.approval_requests:
        if request.status in APPROVED:
            yield request, ctx.request_identities(request)


def _resource(request: ApprovalRequest, ids: RequestIdentities) -> Resource:
    return request_resource(request, ids.requestor.principal if ids.requestor else None)


def _named(ctx: Context, request: ApprovalRequest) -> Resource:
    """The request, named after its requestor as Graph or the audit log tell."""
    return _resource(request, ctx.request_identities(request))


def _evidence(known: KnownIdentity | None) -> dict[str, Any] | None:
    return known.evidence() if known else None


def _needed(
    ctx: Context, request: ApprovalRequest, ids: RequestIdentities, roles: tuple[str, ...]
) -> list[KnownIdentity] | Outcome:
    """The identities a rule needs, in the order of ``roles``; an ``error`` when one is known
    neither from Graph nor from the audit log."""
    found: list[KnownIdentity | None] = [getattr(ids, role) for role in roles]
    known = [identity for identity in found if identity is not None]
    if len(known) == len(roles):
        return known
    missing = [role for role in roles if getattr(ids, role) is None]
    subject = " and ".join(missing) + (" are" if len(missing) > 1 else " is")
    if ids.named_by_events:
        verbs = " or ".join(_VERB[role] for role in missing)
        reason = f"no MAA audit event naming this request says who {verbs} it"
    else:
        reason = "no MAA audit event names this request"
    audit = ctx.snapshot.source_state("audit_events")
    if not audit.state.usable:
        reason += f" ({audit.describe('audit_events')})"
    return unverified(
        _resource(request, ids),
        f"could not verify: {subject} null in Graph and {reason}",
        requestor=_evidence(ids.requestor),
        approver=_evidence(ids.approver),
        status=request.status,
        audit_events_naming_request=ids.named_by_events,
    )


@check("MAA301")
def self_approved_request(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for request, ids in _approved(ctx):
        found = _needed(ctx, request, ids, ("requestor", "approver"))
        if isinstance(found, Outcome):
            yield found
            continue
        requestor, approver = found
        evidence: dict[str, Any] = {
            "requestor": requestor.evidence(),
            "approver": approver.evidence(),
            "status": request.status,
        }
        resource = _resource(request, ids)
        if requestor.principal.id.lower() == approver.principal.id.lower():
            yield failed(resource, "the requestor approved their own request", **evidence)
        else:
            yield passed(resource, "approved by someone other than the requestor", **evidence)


@check("MAA302")
def request_approved_by_application(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for request, ids in _approved(ctx):
        found = _needed(ctx, request, ids, ("approver",))
        if isinstance(found, Outcome):
            yield found
            continue
        approver_set = found[0].identity
        evidence: dict[str, Any] = {"approver": found[0].evidence(), "status": request.status}
        # A person approving in the admin center may carry the portal's client app as well.
        if approver_set.user is None:
            what = "an application" if approver_set.application is not None else "a device"
            yield failed(_resource(request, ids), f"{what} is recorded as the approver", **evidence)
        else:
            yield passed(_resource(request, ids), "the approver is a person", **evidence)


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
                _named(ctx, request),
                f"the request was {request.status} with a justification that is {problem}",
                **evidence,
            )
        else:
            yield passed(_named(ctx, request), "the request carries a justification", **evidence)


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
            yield failed(_named(ctx, request), "the request expired without a decision", **evidence)
        elif left <= window:
            yield failed(
                _named(ctx, request),
                f"the request expires in {evidence['hours_left']} hours and still needs approval",
                **evidence,
            )
        else:
            yield passed(
                _named(ctx, request),
                "the request is pending and not close to expiry",
                **evidence,
            )


@check("MAA305")
def approver_outside_approver_group(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for request, ids in _approved(ctx):
        found = _needed(ctx, request, ids, ("approver",))
        if isinstance(found, Outcome):
            yield found
            continue
        approver = found[0].identity.user
        if approver is None:
            continue  # an application or a device: MAA302's business
        types = request.required_operation_approval_policy_types
        access_policy = changes_access_policy(types)
        group_ids = ctx.approver_groups_gating(types)
        member_of = ctx.gating_groups_of(types, approver.id)
        evidence: dict[str, Any] = {
            "approver": found[0].evidence(),
            "policy_types": sorted(set(types)),
            "access_policy_change": access_policy,
            "approver_groups": list(group_ids),
        }
        resource = _resource(request, ids)
        if member_of:
            message = "the approver is in an approver group"
            yield passed(resource, message, member_of=member_of, **evidence)
        elif access_policy:
            message = (
                "the approver is not a current member of any access policy's approver group "
                "(the request changes an access policy)"
            )
            yield failed(resource, message, **evidence)
        else:
            message = (
                "the approver is not a current member of an "
                "approver group for this request's policy type"
            )
            yield failed(resource, message, **evidence)
