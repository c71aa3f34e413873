"""MAA2xx: the approver groups behind the access policies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from maa_guard.checks import check, failed, passed, unverified
from maa_guard.checks.resources import group_resource, policy_refs
from maa_guard.evaluate.context import Context
from maa_guard.model import Outcome
from maa_guard.snapshot import Group


@check("MAA201")
def approver_group_missing(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for group_id, policies in ctx.approver_group_policies.items():
        group = ctx.groups_by_id.get(group_id)
        if group is None:
            yield failed(
                group_resource(group_id),
                "the approver group does not exist",
                policies=policy_refs(policies),
            )
        else:
            yield passed(
                group_resource(group_id, group),
                "the approver group exists",
                policies=policy_refs(policies),
            )


@check("MAA202")
def too_few_approvers(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    minimum = params["min_approvers"]
    for group in ctx.approver_groups:
        eligible = []
        for member in group.members:
            user = ctx.users_by_id.get(member.id) if member.type == "user" else None
            if user is not None and user.account_enabled and user.user_type.lower() == "member":
                eligible.append(user.user_principal_name)
        evidence: dict[str, Any] = {
            "eligible_approvers": sorted(eligible),
            "min_approvers": minimum,
        }
        if len(eligible) >= minimum:
            yield passed(
                group_resource(group.id, group),
                f"{len(eligible)} enabled member users can approve",
                **evidence,
            )
        else:
            yield failed(
                group_resource(group.id, group),
                f"only {len(eligible)} enabled member user(s) can approve; "
                f"at least {minimum} are needed",
                **evidence,
            )


@check("MAA203")
def approver_group_without_intune_role(
    ctx: Context, params: Mapping[str, Any]
) -> Iterator[Outcome]:
    for group in ctx.approver_groups:
        assignments = [a for a in ctx.snapshot.role_assignments if group.id in a.members]
        if assignments:
            yield passed(
                group_resource(group.id, group),
                "the group is a member of an Intune role assignment",
                role_assignments=[{"id": a.id, "displayName": a.display_name} for a in assignments],
            )
        else:
            yield failed(
                group_resource(group.id, group),
                "the group is not a member of any Intune role assignment",
                role_assignments=[],
            )


@check("MAA204")
def approver_group_not_security_group(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for group in ctx.approver_groups:
        reasons = []
        if "Unified" in group.group_types:
            reasons.append("Microsoft 365 group")
        if group.mail_enabled:
            reasons.append("mail-enabled")
        if not group.security_enabled:
            reasons.append("not security-enabled")
        yield _verdict(
            group,
            reasons,
            "the group is a plain security group",
            "the group is not a plain security group",
            securityEnabled=group.security_enabled,
            mailEnabled=group.mail_enabled,
            groupTypes=list(group.group_types),
        )


@check("MAA205")
def approver_membership_unprotected(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for group in ctx.approver_groups:
        reasons = []
        if not group.is_assignable_to_role:
            reasons.append("not role-assignable")
        if group.owners:
            reasons.append(f"{len(group.owners)} owner(s)")
        if group.membership_rule or "DynamicMembership" in group.group_types:
            reasons.append("dynamic membership rule")
        if group.on_premises_sync_enabled:
            reasons.append("synced from on-premises")
        yield _verdict(
            group,
            reasons,
            "membership can only be changed by privileged roles",
            "membership can be changed outside privileged roles",
            isAssignableToRole=group.is_assignable_to_role,
            owners=[o.display_name or o.id for o in group.owners],
            membershipRule=group.membership_rule,
            onPremisesSyncEnabled=group.on_premises_sync_enabled,
        )


@check("MAA206")
def approver_group_indirect_members(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for group in ctx.approver_groups:
        indirect = [
            {"id": m.id, "type": m.type, "displayName": m.display_name}
            for m in group.members
            if m.type != "user"
        ]
        kinds = sorted({item["type"] for item in indirect})
        yield _verdict(
            group,
            [f"{kind} members" for kind in kinds],
            "all members are direct user members",
            "the group has members that are not direct users",
            indirect_members=indirect,
        )


@check("MAA207")
def approver_group_guest_or_disabled(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    for group in ctx.approver_groups:
        guests, disabled, unknown = [], [], []
        for member in ctx.user_members(group):
            user = ctx.users_by_id.get(member.id)
            if user is None:
                unknown.append(ctx.user_label(member))
                continue
            if user.user_type.lower() == "guest":
                guests.append(user.user_principal_name)
            if not user.account_enabled:
                disabled.append(user.user_principal_name)
        reasons = [f"{len(guests)} guest(s)"] * bool(guests)
        reasons += [f"{len(disabled)} disabled account(s)"] * bool(disabled)
        if unknown and not reasons:
            yield unverified(
                group_resource(group.id, group),
                f"could not verify the account of {len(unknown)} approver(s)",
                unknown=sorted(unknown),
            )
            continue
        yield _verdict(
            group,
            reasons,
            "no guest or disabled approvers",
            "guest or disabled accounts are approvers",
            guests=sorted(guests),
            disabled=sorted(disabled),
        )


@check("MAA208")
def approver_without_intune_license(ctx: Context, params: Mapping[str, Any]) -> Iterator[Outcome]:
    if ctx.snapshot.tenant.unlicensed_admins_allowed:
        for group in ctx.approver_groups:
            yield passed(
                group_resource(group.id, group),
                "the tenant allows unlicensed "
                "administrators (deviceManagement.unlicensedAdminstratorsEnabled)",
            )
        return
    for group in ctx.approver_groups:
        unlicensed, unknown = [], []
        for member in ctx.user_members(group):
            user = ctx.users_by_id.get(member.id)
            if user is None or user.intune_licensed is None:
                unknown.append(ctx.user_label(member))
            elif not user.intune_licensed:
                unlicensed.append(user.user_principal_name)
        resource = group_resource(group.id, group)
        if unlicensed:
            yield failed(
                resource,
                f"{len(unlicensed)} approver(s) without an Intune licence",
                unlicensed=sorted(unlicensed),
                unknown=sorted(unknown),
            )
        elif unknown:
            yield unverified(
                resource,
                f"could not verify the Intune licence of {len(unknown)} approver(s)",
                unknown=sorted(unknown),
            )
        else:
            yield passed(resource, "every approver has an Intune licence", unlicensed=[])


def _verdict(group: Group, reasons: list[str], ok: str, problem: str, **evidence: Any) -> Outcome:
    resource = group_resource(group.id, group)
    if reasons:
        return failed(resource, f"{problem}: {', '.join(reasons)}", reasons=reasons, **evidence)
    return passed(resource, ok, reasons=[], **evidence)
