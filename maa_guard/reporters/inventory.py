"""``maa-guard inventory``: policy -> approver groups -> members, and policy -> exclusions."""

from __future__ import annotations

import io
import json
from typing import Any

from maa_guard.config import Settings
from maa_guard.evaluate.context import Context
from maa_guard.reporters.text import one_line
from maa_guard.snapshot import AccessPolicy, DirectoryObjectRef, Snapshot


def inventory_data(snapshot: Snapshot, settings: Settings) -> dict[str, Any]:
    context = Context(snapshot, settings.declared_exclusions)
    return {
        "tenant": {"id": snapshot.tenant.id, "display_name": snapshot.tenant.display_name},
        "policies": [_policy(context, policy) for policy in snapshot.policies],
        "declared_for_missing_policies": [
            {"policy": item.policy_id, "appId": item.app_id}
            for item in context.excluded_apps
            if not item.policy_exists
        ],
    }


def _policy(context: Context, policy: AccessPolicy) -> dict[str, Any]:
    exclusions = [item for item in context.excluded_apps if item.policy_id == policy.id]
    return {
        "id": policy.id,
        "displayName": policy.display_name,
        "policyType": policy.policy_type,
        "policyPlatform": policy.policy_platform,
        "approverGroups": [_group(context, group_id) for group_id in policy.approver_group_ids],
        "exclusions": [
            {
                "appId": item.app_id,
                "displayName": item.display_name,
                "sources": sorted(source.value for source in item.sources),
            }
            for item in exclusions
        ],
    }


def _group(context: Context, group_id: str) -> dict[str, Any]:
    group = context.groups_by_id.get(group_id)
    if group is None:
        return {"id": group_id, "exists": False, "displayName": "", "members": []}
    return {
        "id": group_id,
        "exists": True,
        "displayName": group.display_name,
        "members": [_member(context, member) for member in group.members],
    }


def _member(context: Context, member: DirectoryObjectRef) -> dict[str, Any]:
    user = context.users_by_id.get(member.id) if member.type == "user" else None
    entry: dict[str, Any] = {
        "id": member.id,
        "type": member.type,
        "displayName": member.display_name,
    }
    if user is not None:
        entry.update(
            userPrincipalName=user.user_principal_name,
            userType=user.user_type,
            accountEnabled=user.account_enabled,
        )
    return entry


def render_inventory(snapshot: Snapshot, settings: Settings, as_json: bool, color: bool) -> str:
    data = inventory_data(snapshot, settings)
    if as_json:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return _tree_text(data, color)


def _tree_text(data: dict[str, Any], color: bool) -> str:
    from rich.console import Console
    from rich.tree import Tree

    tenant = data["tenant"]
    root = Tree(_safe(f"{tenant['display_name'] or 'Tenant'} ({tenant['id']})"))
    for policy in data["policies"]:
        node = root.add(
            _safe(f"{policy['displayName']} [{policy['policyType']}, {policy['policyPlatform']}]")
        )
        _add_groups(node.add("approver groups"), policy["approverGroups"])
        _add_exclusions(node.add("exclusions"), policy["exclusions"])
    for orphan in data["declared_for_missing_policies"]:
        root.add(
            _safe(f"declared exclusion of {orphan['appId']} for missing policy {orphan['policy']}")
        )
    console = Console(
        file=io.StringIO(), force_terminal=color, no_color=not color, width=120, highlight=False
    )
    console.print(root)
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


def _add_groups(node: Any, groups: list[dict[str, Any]]) -> None:
    if not groups:
        node.add("(none)")
    for group in groups:
        label = group["displayName"] if group["exists"] else "MISSING GROUP"
        branch = node.add(_safe(f"{label} ({group['id']})"))
        for member in group["members"]:
            name = member.get("userPrincipalName") or member["displayName"] or member["id"]
            flags = [member["type"]]
            if member.get("userType") == "Guest":
                flags.append("guest")
            if member.get("accountEnabled") is False:
                flags.append("disabled")
            branch.add(_safe(f"{name} ({', '.join(flags)})"))


def _add_exclusions(node: Any, exclusions: list[dict[str, Any]]) -> None:
    if not exclusions:
        node.add("(none)")
    for item in exclusions:
        name = item["displayName"] or item["appId"]
        node.add(_safe(f"{name} ({item['appId']}) from {', '.join(item['sources'])}"))


def _safe(text: str) -> Any:
    """Tenant text as a rich Text object: never parsed as markup, control characters shown."""
    from rich.text import Text

    return Text(one_line(text))
