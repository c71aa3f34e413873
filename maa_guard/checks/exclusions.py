"""MAA4xx: the apps excluded from MAA, whatever told us they are excluded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

from maa_guard.checks import check, failed, passed, skipped, unverified
from maa_guard.checks.resources import app_resource, exclusion_resource
from maa_guard.config import DeclaredExclusion
from maa_guard.evaluate.context import Context
from maa_guard.exclusions import ExcludedApp
from maa_guard.exclusions.replay import LastChange, last_exclusion_changes
from maa_guard.model import Outcome, Resource, SourceState
from maa_guard.snapshot import (
    ConditionalAccessPolicy,
    KeyCredential,
    PasswordCredential,
    ServicePrincipal,
)
from maa_guard.snapshot.codec import format_datetime

ALL_IN_TENANT = "ServicePrincipalsInMyTenant"
NOT_FOUND = "the app has no service principal in the tenant (see MAA407)"


ExcludedEntry = tuple[Resource, ServicePrincipal | None, list[ExcludedApp]]


def _excluded(ctx: Context) -> Iterator[ExcludedEntry]:
    for app_id, items in ctx.exclusions_by_app.items():
        name = ctx.app_name(app_id, items[0].display_name)
        yield app_resource(items[0].app_id, name), ctx.service_principal(app_id), items


UNKNOWN_TENANT = (
    "could not verify: the tenant's own id is unknown (its organization could not be read), "
    "so whether the app is registered here cannot be told"
)


def _unseen_registration(ctx: Context, resource: Resource, sp: ServicePrincipal) -> Outcome | None:
    """What to say when the app registration's credentials and owners cannot be seen.

    A managed identity has no registration; a multi-tenant app's registration lives in the
    publisher's tenant (MAA406 reports that); anything else missing means the snapshot is short.
    """
    if sp.application is not None or sp.service_principal_type == "ManagedIdentity":
        return None
    owner = sp.app_owner_organization_id
    if owner and not ctx.snapshot.tenant.id:
        return unverified(resource, UNKNOWN_TENANT)
    if owner and owner.lower() != ctx.snapshot.tenant.id.lower():
        return skipped(
            resource,
            "the app registration lives in the publisher's tenant "
            f"({owner}); only its service principal here was checked (see MAA406)",
        )
    return unverified(resource, "could not verify: the app registration is not in the snapshot")


def _policies(items: list[ExcludedApp]) -> list[dict[str, str]]:
    return [
        {"id": i.policy_id, "displayName": i.policy_name, "policyType": i.policy_type}
        for i in items
    ]


def _credentials(sp: ServicePrincipal) -> Iterator[tuple[str, PasswordCredential | KeyCredential]]:
    yield from _held("servicePrincipal", sp.password_credentials, sp.key_credentials)
    if sp.application is not None:
        app = sp.application
        yield from _held("application", app.password_credentials, app.key_credentials)


def _held(
    holder: str, passwords: tuple[PasswordCredential, ...], keys: tuple[KeyCredential, ...]
) -> list[tuple[str, PasswordCredential | KeyCredential]]:
    held: list[tuple[str, PasswordCredential | KeyCredential]] = [(holder, c) for c in passwords]
    return held + [(holder, c) for c in keys]


def _describe(holder: str, credential: PasswordCredential | KeyCredential) -> dict[str, Any]:
    kind = "clientSecret" if isinstance(credential, PasswordCredential) else credential.type
    end = credential.end_date_time
    return {
        "object": holder,
        "kind": kind,
        "keyId": credential.key_id,
        "displayName": credential.display_name,
        "endDateTime": format_datetime(end) if end else None,
    }


@check("MAA401")
def excluded_app_client_secret(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for resource, sp, items in _excluded(ctx):
        if sp is None:
            yield skipped(resource, NOT_FOUND)
            continue
        secrets = [
            _describe(holder, c)
            for holder, c in _credentials(sp)
            if isinstance(c, PasswordCredential)
        ]
        gap = _unseen_registration(ctx, resource, sp)
        if secrets:
            yield failed(
                resource,
                f"the excluded app holds {len(secrets)} client secret(s)",
                secrets=secrets,
                policies=_policies(items),
            )
        elif gap is not None:
            yield gap
        else:
            yield passed(
                resource,
                "no client secrets; certificates or federated credentials only",
                secrets=[],
                policies=_policies(items),
            )


@check("MAA402")
def excluded_app_without_workload_ca(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for resource, sp, _items in _excluded(ctx):
        if sp is None:
            yield skipped(resource, NOT_FOUND)
            continue
        covering = [p for p in ctx.snapshot.conditional_access_policies if _covers(p, sp.id)]
        reason = _not_coverable_reason(ctx, sp)
        evidence: dict[str, Any] = {
            "coverage": "not-coverable" if reason else "covered" if covering else "not-covered",
            "policies": [{"id": p.id, "displayName": p.display_name} for p in covering],
        }
        if reason:
            yield failed(
                resource,
                f"Conditional Access cannot cover this app: {reason}",
                reason=reason,
                **evidence,
            )
        elif covering:
            yield passed(
                resource,
                "an enabled workload-identity Conditional Access policy "
                "blocks it outside its conditions",
                **evidence,
            )
        else:
            yield failed(
                resource,
                "no enabled Conditional Access policy with a block grant and a "
                "location or risk condition covers this service principal",
                **evidence,
            )


def _covers(policy: ConditionalAccessPolicy, sp_id: str) -> bool:
    clients = policy.conditions.client_applications
    if policy.state != "enabled" or clients is None or policy.grant_controls is None:
        return False
    included = sp_id in clients.include_service_principals or (
        ALL_IN_TENANT in clients.include_service_principals
    )
    locations = policy.conditions.locations
    conditioned = bool(policy.conditions.service_principal_risk_levels) or bool(
        locations and locations.include_locations
    )
    return (
        included
        and sp_id not in clients.exclude_service_principals
        and conditioned
        and "block" in policy.grant_controls.built_in_controls
    )


def _not_coverable_reason(ctx: Context, sp: ServicePrincipal) -> str:
    if sp.service_principal_type == "ManagedIdentity":
        return "managed identities are out of scope for Conditional Access"
    owner = sp.app_owner_organization_id
    tenant = ctx.snapshot.tenant.id
    # With the tenant's own id unknown, nothing says the app is foreign: judge its coverage.
    if owner and tenant and owner.lower() != tenant.lower():
        return f"multi-tenant app registered in tenant {owner}"
    if ctx.snapshot.tenant.workload_identities_premium is False:
        return "the tenant has no Workload Identities Premium licence"
    return ""


@check("MAA403")
def excluded_app_credential_lifetime(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    limit = timedelta(days=params["max_credential_days"])
    for resource, sp, _items in _excluded(ctx):
        if sp is None:
            yield skipped(resource, NOT_FOUND)
            continue
        expired, too_long = [], []
        for holder, credential in _credentials(sp):
            start, end = credential.start_date_time, credential.end_date_time
            if end is not None and end < ctx.now:
                expired.append(_describe(holder, credential))
            elif end is not None and start is not None and end - start > limit:
                too_long.append({**_describe(holder, credential), "days": (end - start).days})
        problems = [f"{len(expired)} expired"] * bool(expired)
        problems += [f"{len(too_long)} valid longer than {limit.days} days"] * bool(too_long)
        evidence: dict[str, Any] = {
            "expired": expired,
            "too_long": too_long,
            "max_credential_days": limit.days,
        }
        gap = _unseen_registration(ctx, resource, sp)
        if problems:
            yield failed(resource, f"credentials: {', '.join(problems)}", **evidence)
        elif gap is not None:
            yield gap
        else:
            yield passed(resource, "no expired or long-lived credentials", **evidence)


@check("MAA404")
def excluded_app_privileged_permissions(
    ctx: Context, params: Mapping[str, Any]
) -> Iterator[Outcome]:
    privileged = {name.lower(): name for name in params["privileged_permissions"]}
    for resource, sp, items in _excluded(ctx):
        if sp is None:
            yield skipped(resource, NOT_FOUND)
            continue
        held = sorted(p for p in sp.app_permissions if p.lower() in privileged)
        if held:
            yield failed(
                resource,
                f"the excluded app holds privileged Graph permissions: {', '.join(held)}",
                privileged_permissions=held,
                policies=_policies(items),
            )
        else:
            yield passed(
                resource,
                "no permissions that can undo MAA",
                privileged_permissions=[],
                policies=_policies(items),
            )


@check("MAA405")
def excluded_app_user_owners(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for resource, sp, _items in _excluded(ctx):
        if sp is None:
            yield skipped(resource, NOT_FOUND)
            continue
        owners = [*sp.owners, *(sp.application.owners if sp.application else ())]
        users = sorted({o.display_name or o.id for o in owners if o.type == "user"})
        gap = _unseen_registration(ctx, resource, sp)
        if users:
            yield failed(
                resource,
                f"{len(users)} user(s) own the app and can add credentials to it",
                user_owners=users,
            )
        elif gap is not None:
            yield gap
        else:
            yield passed(resource, "no user owns the app or its service principal", user_owners=[])


@check("MAA406")
def excluded_app_third_party(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    tenant = ctx.snapshot.tenant.id.lower()
    for resource, sp, _items in _excluded(ctx):
        if sp is None:
            yield skipped(resource, NOT_FOUND)
            continue
        owner = sp.app_owner_organization_id
        evidence: dict[str, Any] = {
            "appOwnerOrganizationId": owner,
            "tenantId": ctx.snapshot.tenant.id,
        }
        if sp.service_principal_type == "ManagedIdentity":
            yield passed(
                resource, "a managed identity of this tenant's Azure resources", **evidence
            )
        elif not tenant:
            yield unverified(resource, UNKNOWN_TENANT, **evidence)
        elif owner and owner.lower() != tenant:
            yield failed(resource, f"the app is registered in another tenant ({owner})", **evidence)
        elif not owner:
            yield unverified(
                resource, "could not verify: the app's owner tenant is unknown", **evidence
            )
        else:
            yield passed(resource, "the app is registered in this tenant", **evidence)


@check("MAA407")
def stale_exclusion(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    stale_after = timedelta(days=params["stale_days"])
    last_seen = {
        a.app_id.lower(): a.last_app_only_client_sign_in_date_time
        for a in ctx.snapshot.sign_in_activity
    }
    for resource, sp, items in _excluded(ctx):
        policies = _policies(items)
        if sp is None:
            yield failed(
                resource, "the excluded app no longer exists in the tenant", policies=policies
            )
            continue
        if not sp.account_enabled:
            yield failed(
                resource, "the excluded app's service principal is disabled", policies=policies
            )
            continue
        last = last_seen.get(sp.app_id.lower())
        shown = format_datetime(last) if last else None
        if last is None or ctx.now - last > stale_after:
            when = f"since {shown}" if shown else "on record"
            yield failed(
                resource,
                f"no app-only sign-in {when}; stale after {stale_after.days} days",
                last_app_only_sign_in=shown,
                policies=policies,
            )
        else:
            yield passed(
                resource,
                "the excluded app is enabled and in use",
                last_app_only_sign_in=shown,
                policies=policies,
            )


@check("MAA408")
def undeclared_exclusion(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    from_declaration = ctx.snapshot.source_state("exclusions").state is SourceState.DECLARED
    if not ctx.declared and not from_declaration:
        yield skipped(
            Resource("tenant", ctx.snapshot.tenant.id, ctx.snapshot.tenant.display_name),
            "no [[exclusions]] are declared in the configuration",
        )
        return
    policy_ids = [p.id for p in ctx.snapshot.policies]
    changes = (
        last_exclusion_changes(ctx.snapshot.audit_events, policy_ids) if from_declaration else {}
    )
    today = ctx.now.date()
    for item in ctx.excluded_apps:
        evidence: dict[str, Any] = {
            "sources": sorted(s.value for s in item.sources),
            "policy": {"id": item.policy_id, "displayName": item.policy_name},
        }
        if from_declaration:
            change = _last_change(changes, item)
            yield _against_audit_log(item, change, today, evidence)
        else:
            yield _against_tenant(item, today, evidence)


def _against_tenant(item: ExcludedApp, today: date, evidence: dict[str, Any]) -> Outcome:
    resource = exclusion_resource(item)
    declared = item.declared
    if declared is None:
        return failed(
            resource, "excluded in the tenant but not declared in the configuration", **evidence
        )
    if not item.policy_exists:
        return failed(
            resource, f"declared for policy {declared.policy!r}, which does not exist", **evidence
        )
    if not item.in_tenant:
        return failed(
            resource, "declared in the configuration but not excluded in the tenant", **evidence
        )
    overdue = _overdue(declared, today)
    if overdue is not None:
        return failed(resource, overdue, owner=declared.owner, **evidence)
    return passed(resource, "declared and present", owner=declared.owner, **evidence)


UNSEEN = (
    "Microsoft Graph publishes no exclusion property, so exclusions older than the audit log "
    "cannot be seen"
)


def _against_audit_log(
    item: ExcludedApp, change: LastChange | None, today: date, evidence: dict[str, Any]
) -> Outcome:
    """The declaration is the inventory: only the audit log's adds and removes can contradict
    it, and a declared exclusion it does not mention cannot be confirmed."""
    resource = exclusion_resource(item)
    when = change.at.date().isoformat() if change else None
    evidence = {
        **evidence,
        "audit_log": {"change": change.verb, "date": when} if change else None,
        "limitation": UNSEEN,
    }
    declared = item.declared
    if declared is None:
        return failed(
            resource,
            f"the audit log shows this exclusion added on {when}, but it is not declared in the "
            "configuration",
            **evidence,
        )
    if not item.policy_exists:
        return failed(
            resource, f"declared for policy {declared.policy!r}, which does not exist", **evidence
        )
    if change is not None and change.verb == "remove":
        return failed(
            resource,
            f"declared in the configuration, but the audit log shows the exclusion removed on "
            f"{when}",
            owner=declared.owner,
            **evidence,
        )
    overdue = _overdue(declared, today)
    if overdue is not None:
        return failed(resource, overdue, owner=declared.owner, **evidence)
    if change is not None:
        return passed(
            resource,
            f"declared, and the audit log shows it added on {when}",
            owner=declared.owner,
            **evidence,
        )
    return passed(
        resource,
        "declared; the audit log does not mention it, so it cannot be confirmed from Graph "
        f"({UNSEEN})",
        owner=declared.owner,
        **evidence,
    )


def _overdue(declared: DeclaredExclusion, today: date) -> str | None:
    if declared.review_by is not None and declared.review_by < today:
        return f"the declared exclusion was due for review on {declared.review_by.isoformat()}"
    return None


def _last_change(
    changes: Mapping[tuple[str, str], LastChange], item: ExcludedApp
) -> LastChange | None:
    """The audit log names an app by its appId or by its service principal's object id."""
    policy = item.policy_id.lower()
    by_app = changes.get((policy, item.app_id.lower()))
    sp_id = (item.service_principal_id or "").lower()
    return by_app or (changes.get((policy, sp_id)) if sp_id else None)


@check("MAA409")
def exclusion_on_high_impact_workload(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    high_impact = set(params["high_impact_policy_types"])
    for item in ctx.excluded_apps:
        if not item.policy_exists:
            continue
        resource = exclusion_resource(item)
        if item.policy_type in high_impact:
            yield failed(
                resource,
                f"exclusion on an access policy of type {item.policy_type}: review it",
                policyType=item.policy_type,
            )
        else:
            yield passed(
                resource,
                f"exclusion on an access policy of type {item.policy_type}",
                policyType=item.policy_type,
            )
