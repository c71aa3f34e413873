"""Directory sources: the approver and admin groups, and the users they name."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from maa_guard.collect.common import (
    Outcome,
    Problems,
    decode_all,
    fetch_present,
    references,
    select,
    unique,
)
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.collect.incremental import in_order, split
from maa_guard.snapshot import Group, User

DIRECTORY_TOP = "999"
GROUP_FIELDS = select(
    "id",
    "displayName",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
    "isAssignableToRole",
    "membershipRule",
    "onPremisesSyncEnabled",
)
USER_FIELDS = select("id", "userPrincipalName", "displayName", "accountEnabled", "userType")
MEMBER_QUERY = f"?$select=id,displayName&$top={DIRECTORY_TOP}"
RELATIONS = (
    ("members", "members"),
    ("transitiveMembers", "transitive_members"),
    ("owners", "owners"),
)
# Service plans that carry an Intune licence (Intune Plan 1 and its bundles' variants).
INTUNE_PLANS = frozenset({"INTUNE_A", "INTUNE_A_VL", "INTUNE_EDU", "INTUNE_SMBIZ", "INTUNE_P2"})


async def collect_groups(
    client: GraphClient, group_ids: Sequence[str], known: Mapping[str, Group] | None = None
) -> Outcome[Group]:
    """Properties, direct and transitive members, owners; a group that does not exist is
    left out (a rule reports a policy naming a missing group), not a collection failure.
    ``known``: groups taken as they are (by lower-cased id) instead of read."""
    ids = unique(group_ids)
    to_read, kept = split(ids, known or {})
    problems = Problems()
    paths = [f"groups/{i}?$select={GROUP_FIELDS}" for i in to_read]
    groups = decode_all(Group, await fetch_present(client, paths, problems), problems)
    groups = await _with_relations(client, groups, problems)
    found = in_order(ids, groups, kept, lambda group: group.id)
    return Outcome(tuple(found), problems.status(bool(found) or not ids))


async def _with_relations(
    client: GraphClient, groups: list[Group], problems: Problems
) -> list[Group]:
    paths = [f"groups/{g.id}/{rel}{MEMBER_QUERY}" for g in groups for rel, _ in RELATIONS]
    results = iter(await client.batch_get_all(paths))
    filled = []
    for group in groups:
        changes: dict[str, Any] = {}
        for _, attribute in RELATIONS:
            result = next(results)
            if isinstance(result, GraphError):
                problems.add(result)
            else:
                changes[attribute] = references(result)
        filled.append(dataclasses.replace(group, **changes))
    return filled


def user_ids_of(groups: Iterable[Group]) -> list[str]:
    """Every user a group names as member, transitive member or owner, first-seen order."""
    refs = (
        ref
        for group in groups
        for ref in (*group.members, *group.transitive_members, *group.owners)
    )
    return unique(ref.id for ref in refs if ref.type == "user")


async def collect_users(
    client: GraphClient, user_ids: Sequence[str], known: Mapping[str, User] | None = None
) -> Outcome[User]:
    """Type, enabled state and Intune licence (from licenseDetails service plans).
    ``known``: users taken as they are (by lower-cased id) instead of read."""
    ids = unique(user_ids)
    to_read, kept = split(ids, known or {})
    problems = Problems()
    paths = [f"users/{i}?$select={USER_FIELDS}" for i in to_read]
    users = decode_all(User, await fetch_present(client, paths, problems), problems)
    users = await _with_licences(client, users, problems)
    found = in_order(ids, users, kept, lambda user: user.id)
    return Outcome(tuple(found), problems.status(bool(found) or not ids))


async def _with_licences(client: GraphClient, users: list[User], problems: Problems) -> list[User]:
    paths = [f"users/{u.id}/licenseDetails?$select=servicePlans" for u in users]
    results = await client.batch_get_all(paths)
    filled = []
    for user, result in zip(users, results, strict=True):
        if isinstance(result, GraphError):
            problems.add(result)
            filled.append(user)
        else:
            filled.append(dataclasses.replace(user, intune_licensed=has_intune_plan(result)))
    return filled


def has_intune_plan(licence_details: Iterable[dict[str, Any]]) -> bool:
    for detail in licence_details:
        for plan in detail.get("servicePlans") or []:
            if not isinstance(plan, dict):
                continue
            name = str(plan.get("servicePlanName", "")).upper()
            if name in INTUNE_PLANS and plan.get("provisioningStatus", "Success") != "Disabled":
                return True
    return False
