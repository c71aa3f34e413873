"""Exclusions replayed from the Intune audit log: add and remove events, in time order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from maa_guard.model import ExclusionSource
from maa_guard.snapshot import AuditEvent, Exclusion
from maa_guard.workloads import is_success

_APP_RESOURCE_TYPES = ("serviceprincipal", "application", "enterpriseapplication")


def exclusions_from_audit_events(
    events: Iterable[AuditEvent], policy_ids: Iterable[str]
) -> dict[str, tuple[Exclusion, ...]]:
    """Replay exclusion add/remove events in time order into each policy's current list."""
    known = set(policy_ids)
    current: dict[str, dict[str, Exclusion]] = {}
    for event in sorted(events, key=lambda e: e.activity_date_time):
        change = exclusion_change(event, known)
        if change is None:
            continue
        verb, policy_id, exclusion = change
        apps = current.setdefault(policy_id, {})
        if verb == "add":
            apps[exclusion.app_id] = exclusion
        else:
            apps.pop(exclusion.app_id, None)
    return {policy_id: tuple(apps.values()) for policy_id, apps in current.items() if apps}


@dataclass(frozen=True, slots=True)
class LastChange:
    """The latest exclusion event of one (policy, app) in the audit log: ``add`` or ``remove``."""

    verb: str
    at: datetime


def last_exclusion_changes(
    events: Iterable[AuditEvent], policy_ids: Iterable[str]
) -> dict[tuple[str, str], LastChange]:
    """Per ``(policy id, appId)``, both lower case, the audit log's latest add or remove."""
    known = set(policy_ids)
    latest: dict[tuple[str, str], LastChange] = {}
    for event in sorted(events, key=lambda e: e.activity_date_time):
        change = exclusion_change(event, known)
        if change is not None:
            verb, policy_id, exclusion = change
            key = (policy_id.lower(), exclusion.app_id.lower())
            latest[key] = LastChange(verb, event.activity_date_time)
    return latest


def exclusion_change(event: AuditEvent, policy_ids: set[str]) -> tuple[str, str, Exclusion] | None:
    text = f"{event.activity} {event.activity_type}".lower()
    if "exclu" not in text or not (is_success(event) or not event.activity_result.strip()):
        return None
    verb = "remove" if ("remove" in text or "delete" in text) else "add" if "add" in text else None
    policy_id = next((r.resource_id for r in event.resources if r.resource_id in policy_ids), None)
    app = next(
        (
            r
            for r in event.resources
            if r.type.lower().replace(" ", "") in _APP_RESOURCE_TYPES and r.resource_id
        ),
        None,
    )
    if verb is None or policy_id is None or app is None or app.resource_id is None:
        return None
    exclusion = Exclusion(
        app_id=app.resource_id, source=ExclusionSource.AUDIT_LOG, display_name=app.display_name
    )
    return verb, policy_id, exclusion
