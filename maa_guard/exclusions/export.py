"""`maa-guard exclusions export`: the tenant's exclusions as ``[[exclusions]]`` entries.

The output is a starting point for exclusions as code: one entry per (policy, app) found in the
tenant, with the owner taken from the app's first user owner when known, an empty reason for a
person to fill in, and a review-by date. Names appear only in comments, made inert first, because
a display name is tenant data and could otherwise end a comment and start a TOML key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from maa_guard.config import DeclaredExclusion
from maa_guard.exclusions import ExcludedApp, effective_exclusions
from maa_guard.reporters.text import one_line
from maa_guard.snapshot import ServicePrincipal, Snapshot, User

DEFAULT_REVIEW_DAYS = 90
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def export_exclusions(
    snapshot: Snapshot,
    today: date,
    declared: Iterable[DeclaredExclusion] = (),
    review_days: int = DEFAULT_REVIEW_DAYS,
) -> str:
    """TOML text: a header comment, then one ``[[exclusions]]`` table per tenant exclusion.

    An exclusion already declared in the configuration keeps its owner, reason and date.
    """
    merged = effective_exclusions(snapshot, declared)
    in_tenant = [item for item in merged if item.in_tenant]
    in_tenant.sort(key=lambda item: (item.policy_name.lower(), item.display_name.lower()))
    owners = _owner_names(snapshot)
    review_by = today + timedelta(days=review_days)
    names = _unique_policy_names(snapshot)
    header = (
        f"# Exclusions found in tenant {one_line(snapshot.tenant.display_name)} "
        f"({one_line(snapshot.tenant.id)}) on {snapshot.collected_at.date().isoformat()}.\n"
        "# Fill in each reason, check each owner, then keep this list in maa-guard.toml:\n"
        "# MAA408 reports any difference between it and the tenant.\n"
    )
    entries = [_entry(item, owners, names, review_by) for item in in_tenant]
    return header + "".join(entries)


def _entry(
    item: ExcludedApp, owners: Mapping[str, str], unique_names: set[str], review_by: date
) -> str:
    policy = item.policy_name if item.policy_name.lower() in unique_names else item.policy_id
    owner = owners.get(item.app_id.lower(), "")
    reason = ""
    if item.declared is not None:
        owner, reason = item.declared.owner or owner, item.declared.reason
        review_by = item.declared.review_by or review_by
    return (
        "\n[[exclusions]]\n"
        f"# {one_line(item.display_name) or 'unnamed app'} in {one_line(item.policy_name)}; "
        f"seen through {', '.join(sorted(s.value for s in item.sources))}\n"
        f"policy = {toml_string(policy)}\n"
        f"app = {toml_string(item.app_id)}\n"
        f"owner = {toml_string(owner)}\n"
        f"reason = {toml_string(reason)}\n"
        f"review_by = {review_by.isoformat()}\n"
    )


def toml_string(text: str) -> str:
    """A TOML basic string; control characters as ``\\uXXXX``."""
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _unique_policy_names(snapshot: Snapshot) -> set[str]:
    """Display names that name exactly one policy, so an entry can use the readable name."""
    counts: dict[str, int] = {}
    for policy in snapshot.policies:
        counts[policy.display_name.lower()] = counts.get(policy.display_name.lower(), 0) + 1
    return {name for name, count in counts.items() if count == 1 and name}


def _owner_names(snapshot: Snapshot) -> dict[str, str]:
    users = {user.id.lower(): user for user in snapshot.users}
    return {
        sp.app_id.lower(): owner
        for sp in snapshot.service_principals
        if (owner := _first_user_owner(sp, users))
    }


def _first_user_owner(sp: ServicePrincipal, users: Mapping[str, User]) -> str:
    """The first user owner's UPN when the snapshot holds the user, else the owner's name."""
    for owner in (o for o in sp.owners if o.type == "user"):
        user = users.get(owner.id.lower())
        name = user.user_principal_name if user is not None else owner.display_name
        if name:
            return name
    return ""
