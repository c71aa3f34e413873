"""Tenant-level sources: tenant facts, Conditional Access and service principal sign-ins."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from maa_guard.collect.batched import Answer, Read, odata_literal, query_text, read
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
from maa_guard.collect.paging import PageGuard
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
T = TypeVar("T")

ORGANIZATION = read("organization", {"$select": "id,displayName"})
SUBSCRIBED_SKUS = read("subscribedSkus", {"$select": "skuPartNumber,servicePlans"})
UNLICENSED_ADMINS = read("deviceManagement", {"$select": "unlicensedAdminstratorsEnabled"})
TENANT_FACTS = (ORGANIZATION, SUBSCRIBED_SKUS, UNLICENSED_ADMINS)
CONDITIONAL_ACCESS = read(CA_POLICIES, {"$select": CA_FIELDS})


async def collect_tenant(client: GraphClient, fallback_id: str = "") -> TenantInfo:
    """Best effort: tenant id and name, Workload Identities Premium, the unlicensed-admin
    setting. A failure leaves a fact unknown (None); it never fails the collection."""
    orgs = await _best_effort(client.get_all(ORGANIZATION.path, ORGANIZATION.params, "v1.0"))
    skus = await _best_effort(client.get_all(SUBSCRIBED_SKUS.path, SUBSCRIBED_SKUS.params, "v1.0"))
    setting = await _best_effort(client.get(UNLICENSED_ADMINS.path, UNLICENSED_ADMINS.params))
    return _tenant_info(orgs, skus, setting, fallback_id)


async def tenant_from(
    client: GraphClient, answers: Mapping[Read, Answer], fallback_id: str = ""
) -> TenantInfo:
    """As :func:`collect_tenant`, from the answers to ``TENANT_FACTS`` read together with
    others (:func:`read_together`). A ``$batch`` runs every item under its own version root:
    in a beta batch, the organization and its licences are read from beta (the same
    properties as v1.0's)."""
    orgs = await _best_effort(answers[ORGANIZATION].items(client))
    skus = await _best_effort(answers[SUBSCRIBED_SKUS].items(client))
    setting = answers[UNLICENSED_ADMINS]
    return _tenant_info(orgs, skus, setting.raw if setting.error() is None else None, fallback_id)


async def _best_effort(work: Awaitable[T]) -> T | None:
    try:
        return await work
    except GraphError:
        return None


def _tenant_info(
    orgs: list[dict[str, Any]] | None,
    skus: list[dict[str, Any]] | None,
    setting: dict[str, Any] | None,
    fallback_id: str,
) -> TenantInfo:
    info: dict[str, Any] = {"id": fallback_id}
    if orgs:
        info = {
            "id": str(orgs[0].get("id", fallback_id)),
            "display_name": str(orgs[0].get("displayName") or ""),
        }
    return TenantInfo(
        **info,
        workload_identities_premium=None if skus is None else _workload_premium(skus),
        unlicensed_admins_allowed=None if setting is None else _unlicensed_admins(setting),
    )


def _workload_premium(skus: list[dict[str, Any]]) -> bool:
    plans = {
        str(plan.get("servicePlanName", "")).upper()
        for sku in skus
        for plan in sku.get("servicePlans") or []
        if isinstance(plan, dict)
    }
    return bool(plans & WORKLOAD_PLANS)


def _unlicensed_admins(setting: dict[str, Any]) -> bool | None:
    value = setting.get("unlicensedAdminstratorsEnabled")
    return value if isinstance(value, bool) else None


async def collect_conditional_access(
    client: GraphClient, answers: Mapping[Read, Answer] | None = None
) -> Outcome[ConditionalAccessPolicy]:
    """``answers``: holding ``CONDITIONAL_ACCESS``'s, read together with others; else a GET."""
    first = (answers or {}).get(CONDITIONAL_ACCESS)
    try:
        if first is None:
            raws = await client.get_all(CONDITIONAL_ACCESS.path, CONDITIONAL_ACCESS.params)
        else:
            raws = await first.items(client)
    except GraphError as error:
        return Outcome((), failed(error))
    problems = Problems()
    return Outcome(tuple(decode_all(ConditionalAccessPolicy, raws, problems)), problems.status())


@dataclass(frozen=True, slots=True)
class SignInEvidence:
    """Last app-only client sign-in by lower-cased appId, for every app Graph reported;
    ``every_app`` False: for the apps it names only (others are not known to have none)."""

    latest: dict[str, datetime | None]
    status: SourceStatus
    every_app: bool = True


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


# Reads of the identity reports that fit in one window of their budget (5 per 10 s): the
# sign-ins since an earlier collection, or the report's rows of apps one by one, are worth
# reading while they fit; beyond that, the whole report costs no more.
REPORT_READS_PER_WINDOW = 5


async def sign_ins_since(client: GraphClient, since: datetime) -> dict[str, datetime] | None:
    """The latest app-only sign-in of each service principal that signed in since ``since``;
    None when Graph refuses the read or it takes more than ``REPORT_READS_PER_WINDOW`` pages."""
    path = SIGN_INS
    guard = PageGuard(path)
    latest: dict[str, datetime] = {}
    try:
        page = await client.get(path, _sign_in_params(since))
        for _ in range(REPORT_READS_PER_WINDOW):
            rows, link = guard.accept(page)
            _latest_of(rows, latest)
            if link is None:
                return latest
            page = await client.get_link(path, link)
    except GraphError:
        return None
    return None


async def report_rows(client: GraphClient, app_ids: Sequence[str]) -> dict[str, datetime | None]:
    """The report's row of each app (``$filter=appId eq``), one read per app; an app without
    a row has no sign-in (None). Raises GraphError when a read fails."""
    fields = f"id,appId,{_ACTIVITY}"
    paths = [
        f"{SP_ACTIVITY}?"
        + query_text({"$select": fields, "$filter": f"appId eq {odata_literal(app_id)}"})
        for app_id in app_ids
    ]
    latest: dict[str, datetime | None] = {app_id.lower(): None for app_id in app_ids}
    for result in await client.batch_get_all(paths):
        if isinstance(result, GraphError):
            raise result
        latest.update((str(r.get("appId", "")).lower(), _last_client_sign_in(r)) for r in result)
    return latest


def _sign_in_params(since: datetime) -> dict[str, str]:
    clause = (
        "signInEventTypes/any(t: t eq 'servicePrincipal') "
        f"and createdDateTime ge {format_datetime(since)}"
    )
    return {
        "$filter": clause,
        "$select": "id,appId,createdDateTime,signInEventTypes",
        "$top": "1000",
    }


def _latest_of(rows: Sequence[dict[str, Any]], latest: dict[str, datetime]) -> None:
    for row in rows:
        app_id, when = str(row.get("appId", "")).lower(), row.get("createdDateTime")
        moment = parse_datetime(when) if isinstance(when, str) else None
        previous = latest.get(app_id)
        if moment is not None and (previous is None or moment > previous):
            latest[app_id] = moment


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
    try:
        rows = await client.get_all(SIGN_INS, _sign_in_params(window.start))
    except GraphError as error:
        return SignInEvidence({}, failed(error))
    found: dict[str, datetime] = {}
    _latest_of(rows, found)
    latest: dict[str, datetime | None] = dict(found)
    reason = f"from {SIGN_INS} of the window; {SP_ACTIVITY} unavailable ({report_error.message})"
    return SignInEvidence(latest, SourceStatus(SourceState.COMPLETE, reason=reason))
