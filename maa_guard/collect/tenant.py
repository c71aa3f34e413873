"""Tenant-level sources: tenant facts, Conditional Access and service principal sign-ins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maa_guard.collect.common import (
    COMPLETE,
    Outcome,
    Problems,
    decode_all,
    failed,
    select,
    unique,
)
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    ConditionalAccessPolicy,
    SignInActivity,
    SourceStatus,
    TenantInfo,
    Window,
)
from maa_guard.snapshot.codec import format_datetime, parse_datetime

CA_POLICIES = "identity/conditionalAccess/policies"
SP_ACTIVITY = "reports/servicePrincipalSignInActivities"
SIGN_INS = "auditLogs/signIns"
CA_FIELDS = select("id", "displayName", "state", "conditions", "grantControls")
WORKLOAD_PLANS = frozenset({"AAD_WRKLDID_P1", "AAD_WRKLDID_P2"})
_ACTIVITY = "applicationAuthenticationClientSignInActivity"


async def collect_tenant(client: GraphClient, fallback_id: str = "") -> TenantInfo:
    """Best effort: tenant id and name, Workload Identities Premium, the unlicensed-admin
    setting. A failure leaves a fact unknown (None); it never fails the collection."""
    info: dict[str, Any] = {"id": fallback_id}
    try:
        orgs = await client.get_all("organization", {"$select": "id,displayName"}, "v1.0")
        if orgs:
            info = {
                "id": str(orgs[0].get("id", fallback_id)),
                "display_name": str(orgs[0].get("displayName") or ""),
            }
    except GraphError:
        pass
    return TenantInfo(
        **info,
        workload_identities_premium=await _workload_premium(client),
        unlicensed_admins_allowed=await _unlicensed_admins(client),
    )


async def _workload_premium(client: GraphClient) -> bool | None:
    try:
        skus = await client.get_all(
            "subscribedSkus", {"$select": "skuPartNumber,servicePlans"}, "v1.0"
        )
    except GraphError:
        return None
    plans = {
        str(plan.get("servicePlanName", "")).upper()
        for sku in skus
        for plan in sku.get("servicePlans") or []
        if isinstance(plan, dict)
    }
    return bool(plans & WORKLOAD_PLANS)


async def _unlicensed_admins(client: GraphClient) -> bool | None:
    try:
        raw = await client.get("deviceManagement", {"$select": "unlicensedAdminstratorsEnabled"})
    except GraphError:
        return None
    value = raw.get("unlicensedAdminstratorsEnabled")
    return value if isinstance(value, bool) else None


async def collect_conditional_access(client: GraphClient) -> Outcome[ConditionalAccessPolicy]:
    try:
        raws = await client.get_all(CA_POLICIES, {"$select": CA_FIELDS})
    except GraphError as error:
        return Outcome((), failed(error))
    problems = Problems()
    return Outcome(tuple(decode_all(ConditionalAccessPolicy, raws, problems)), problems.status())


@dataclass(frozen=True, slots=True)
class SignInEvidence:
    """Last app-only client sign-in by lower-cased appId, for every app Graph reported."""

    latest: dict[str, datetime | None]
    status: SourceStatus


async def collect_sign_in_evidence(client: GraphClient, window: Window) -> SignInEvidence:
    """The report, else the raw sign-in log; needs no app list, so it starts at once.

    The report is one row per app and global-cloud only; where it fails (sovereign clouds,
    no licence) the service principal sign-ins of the window are scanned instead. The
    report's 5-requests-per-10-s budget makes it the slowest source of a large tenant.
    """
    try:
        rows = await client.get_all(
            SP_ACTIVITY, {"$select": f"id,appId,{_ACTIVITY}", "$top": "1000"}
        )
    except GraphError as report_error:
        return await _from_sign_ins(client, window, report_error)
    latest = {str(row.get("appId", "")).lower(): _last_client_sign_in(row) for row in rows}
    return SignInEvidence(latest, COMPLETE)


def sign_in_activity(evidence: SignInEvidence, app_ids: Sequence[str]) -> Outcome[SignInActivity]:
    """One row per wanted app; an app Graph has no sign-in for gets ``None``."""
    if evidence.status.state is SourceState.FAILED:
        return Outcome((), evidence.status)
    items = [SignInActivity(a, evidence.latest.get(a.lower())) for a in unique(app_ids)]
    return Outcome(tuple(items), evidence.status)


async def collect_sign_in_activity(
    client: GraphClient, app_ids: Sequence[str], window: Window
) -> Outcome[SignInActivity]:
    return sign_in_activity(await collect_sign_in_evidence(client, window), app_ids)


def _last_client_sign_in(row: dict[str, Any]) -> datetime | None:
    activity = row.get(_ACTIVITY) or {}
    moment = activity.get("lastSignInDateTime") if isinstance(activity, dict) else None
    return parse_datetime(moment) if isinstance(moment, str) else None


async def _from_sign_ins(
    client: GraphClient, window: Window, report_error: GraphError
) -> SignInEvidence:
    clause = (
        "signInEventTypes/any(t: t eq 'servicePrincipal') "
        f"and createdDateTime ge {format_datetime(window.start)}"
    )
    fields = "id,appId,createdDateTime,signInEventTypes"
    try:
        rows = await client.get_all(
            SIGN_INS, {"$filter": clause, "$select": fields, "$top": "1000"}
        )
    except GraphError as error:
        return SignInEvidence({}, failed(error))
    latest: dict[str, datetime | None] = {}
    for row in rows:
        app_id, when = str(row.get("appId", "")).lower(), row.get("createdDateTime")
        moment = parse_datetime(when) if isinstance(when, str) else None
        previous = latest.get(app_id)
        if moment is not None and (previous is None or moment > previous):
            latest[app_id] = moment
    reason = f"from {SIGN_INS} of the window; {SP_ACTIVITY} unavailable ({report_error.message})"
    return SignInEvidence(latest, SourceStatus(SourceState.COMPLETE, reason=reason))
