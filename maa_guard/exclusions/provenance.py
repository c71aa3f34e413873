"""Where MAA exclusions live, and how what each source says merges into one list per policy.

Microsoft Graph publishes no property for the access policy's Exclusions tab: the
``operationApprovalPolicy`` resource page and the beta metadata list only ``id``,
``displayName``, ``description``, ``lastModifiedDateTime``, ``policyType``, ``policyPlatform``,
``policySet`` and ``approverGroupIds``. Exclusions are therefore learned from three sources:

- ``policy-property``: a property on the raw policy JSON, if the tenant returns one. Config
  ``graph.exclusions_property`` names it; ``auto`` (the default, also used when no policy
  carries the configured name) takes ``excludedApplicationIds`` (the name exclusion drafts
  write) when a policy carries it, else a property whose name contains "exclu" and that holds
  a list of appId GUIDs or of objects with ``appId``/``servicePrincipalId``/``id``
  (:func:`find_exclusions_property`). The exclusions source's reason names the property used.
- ``audit-log``: reconstructed from exclusion add/remove events in the Intune audit log
  (``replay``). It reaches back only as far as the audit log does.
- ``declared``: ``[[exclusions]]`` entries in ``maa-guard.toml`` (exclusions as code).

When no policy carries an exclusion property, exclusions older than the audit log cannot be
seen, so the exclusions source is ``partial`` and rules needing it cannot verify; with
``graph.trust_declared_exclusions`` the declaration plus the audit log are the inventory instead,
and the source is ``declared`` (:func:`trusted_exclusions`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from maa_guard.config import (
    AUTO_EXCLUSIONS_PROPERTY,
    WRITTEN_EXCLUSIONS_PROPERTY,
    DeclaredExclusion,
)
from maa_guard.model import ExclusionSource, SourceState
from maa_guard.snapshot import AccessPolicy, Exclusion, ServicePrincipal, Snapshot, SourceStatus

TENANT_SOURCES = frozenset({ExclusionSource.POLICY_PROPERTY, ExclusionSource.AUDIT_LOG})
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# The keys of an exclusion object that name the app, in the order they are trusted.
_REFERENCE_KEYS = ("appId", "servicePrincipalId", "id")
# A property whose lists are all empty is taken only when its name says it lists apps.
_APP_WORDS = ("app", "principal")


@dataclass(frozen=True, slots=True)
class ExcludedApp:
    """One app excluded from one policy, merged over every source that names it."""

    policy_id: str
    policy_name: str
    policy_type: str
    app_id: str
    service_principal_id: str | None
    display_name: str
    sources: frozenset[ExclusionSource]
    declared: DeclaredExclusion | None = None
    policy_exists: bool = True

    @property
    def in_tenant(self) -> bool:
        return bool(self.sources & TENANT_SOURCES)

    @property
    def key(self) -> str:
        return f"{self.policy_id}/{self.app_id}"


def read_policy_exclusions(
    raw_policy: Mapping[str, Any], property_name: str
) -> tuple[Exclusion, ...]:
    """Exclusions from a raw Graph policy object; absent or malformed property gives none.

    Items are appId strings, or objects naming the app by a GUID ``appId``, else
    ``servicePrincipalId`` or ``id`` (a service principal object id until the collector
    resolves it: ``service_principal_id`` then equals ``app_id``). Other items are dropped.
    """
    value = raw_policy.get(property_name)
    if not isinstance(value, list):
        return ()
    found: dict[str, Exclusion] = {}
    for item in value:
        exclusion = _exclusion_item(item)
        if exclusion is not None:
            found.setdefault(exclusion.app_id.lower(), exclusion)
    return tuple(found.values())


def _exclusion_item(item: Any) -> Exclusion | None:
    if isinstance(item, str):
        return Exclusion(app_id=item, source=ExclusionSource.POLICY_PROPERTY) if item else None
    if not isinstance(item, dict):
        return None
    name = item.get("displayName")
    shown = name if isinstance(name, str) else ""
    app_id, sp_id = _guid(item.get("appId")), _guid(item.get("servicePrincipalId"))
    if app_id:
        return Exclusion(app_id, ExclusionSource.POLICY_PROPERTY, sp_id or None, shown)
    reference = sp_id or _guid(item.get("id"))
    if not reference:
        return None
    return Exclusion(reference, ExclusionSource.POLICY_PROPERTY, reference, shown)


def _guid(value: Any) -> str:
    return value if isinstance(value, str) and _GUID.match(value) else ""


def is_app_reference(item: Any) -> bool:
    """An appId GUID, or an object naming an app by a GUID ``appId``/``servicePrincipalId``/
    ``id``."""
    if isinstance(item, dict):
        return any(_guid(item.get(key)) for key in _REFERENCE_KEYS)
    return bool(_guid(item))


def find_exclusions_property(
    raw_policies: Iterable[Mapping[str, Any]], configured: str = AUTO_EXCLUSIONS_PROPERTY
) -> str | None:
    """The policy property exclusions are read from; None when no policy carries one.

    A configured name is used when some policy carries it. Otherwise (and for ``auto``):
    ``excludedApplicationIds``, the name exclusion drafts write, when a policy carries it as a
    list; else the property whose name contains "exclu" (any case) and whose lists hold the
    most app references (:func:`is_app_reference`; other items do not count). A property whose
    lists are all empty qualifies only if its name also says app or principal, and one that is
    not a list (or null) on some policy never does.
    """
    policies = list(raw_policies)
    if configured != AUTO_EXCLUSIONS_PROPERTY and any(configured in raw for raw in policies):
        return configured
    if any(isinstance(raw.get(WRITTEN_EXCLUSIONS_PROPERTY), list) for raw in policies):
        return WRITTEN_EXCLUSIONS_PROPERTY
    scores = _reference_counts(policies)
    candidates = [
        (-count, name)
        for name, count in scores.items()
        if count > 0 or (count == 0 and any(word in name.lower() for word in _APP_WORDS))
    ]
    return min(candidates)[1] if candidates else None


def _reference_counts(policies: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per exclusion-like property: its app references, or -1 when it cannot be a list of
    apps (not a list somewhere, or items none of which is an app reference)."""
    counts: dict[str, int] = {}
    for raw in policies:
        for name, value in raw.items():
            if "@" in name or "exclu" not in name.lower() or counts.get(name) == -1:
                continue
            items = value if isinstance(value, list) else None
            references = sum(is_app_reference(i) for i in items) if items is not None else 0
            if items is None or (items and not references):
                counts[name] = -1
            else:
                counts[name] = counts.get(name, 0) + references
    return counts


# ---- the exclusions source's status ----------------------------------------------------------

NO_POLICIES = "no access policy exists, so nothing is excluded"
TRUSTED = (
    "the inventory is the [[exclusions]] declaration plus the audit log "
    "(graph.trust_declared_exclusions), because Microsoft Graph publishes no exclusion property "
    "and no access policy carries one; exclusions older than the audit log cannot be seen"
)
UNTRUSTED = (
    "no access policy carries an exclusion property (Microsoft Graph publishes none), so "
    "exclusions older than the audit log cannot be seen; declare every exclusion in "
    "[[exclusions]] ('maa-guard exclusions export' writes those the audit log shows; add the "
    "rest by hand from each access policy's Exclusions tab in the Intune admin center) and set "
    "graph.trust_declared_exclusions = true"
)


def property_status(property_name: str, configured: str, history_note: str) -> SourceStatus:
    """Complete: the exclusions come from this policy property and the audit log."""
    reason = f"from the access policies' property {property_name!r} and the audit log"
    if configured not in (AUTO_EXCLUSIONS_PROPERTY, property_name):
        reason += f"; no access policy carries the configured property {configured!r}"
    return SourceStatus(SourceState.COMPLETE, reason=reason + _note(history_note))


def no_property_status(trust: bool, configured: str, history_note: str) -> SourceStatus:
    """No policy carries an exclusion property: ``declared`` when trusted, else ``partial``."""
    tail = _note(history_note)
    if configured != AUTO_EXCLUSIONS_PROPERTY:
        tail = f"; no access policy carries the configured property {configured!r}{tail}"
    if trust:
        return SourceStatus(SourceState.DECLARED, reason=TRUSTED + tail)
    return SourceStatus(SourceState.PARTIAL, reason=UNTRUSTED + tail)


def no_property_unread_status(unread: SourceStatus, trust: bool, configured: str) -> SourceStatus:
    """No policy carries an exclusion property and part of what the exclusions are learned from
    could not be read (``unread``: the audit log, say): ``partial`` whatever the trust. The
    reason names what was not read first (the thing to fix), then the missing property."""
    inventory = no_property_status(trust, configured, "")
    return replace(unread, state=SourceState.PARTIAL, reason=f"{unread.reason}; {inventory.reason}")


def _note(history_note: str) -> str:
    return f"; {history_note}" if history_note else ""


def trusted_exclusions(snapshot: Snapshot, trust: bool) -> Snapshot:
    """The snapshot with its exclusions source as this configuration judges it.

    Without a policy property, the declaration is the inventory only when the configuration
    trusts it: ``partial`` becomes ``declared`` with ``trust``, ``declared`` becomes
    ``partial`` without. A source ``partial`` for another reason stays so, its note on the
    missing property following the configuration. Any other state is left as collected.
    """
    status = snapshot.source_state("exclusions")
    settled = _settled(status, trust)
    if settled == status:
        return snapshot
    return replace(snapshot, sources={**snapshot.sources, "exclusions": settled})


def _settled(status: SourceStatus, trust: bool) -> SourceStatus:
    reason = status.reason
    if trust and status.state is SourceState.PARTIAL and reason.startswith(UNTRUSTED):
        return replace(
            status, state=SourceState.DECLARED, reason=TRUSTED + reason[len(UNTRUSTED) :]
        )
    if not trust and status.state is SourceState.DECLARED:
        tail = reason[len(TRUSTED) :] if reason.startswith(TRUSTED) else ""
        return replace(status, state=SourceState.PARTIAL, reason=UNTRUSTED + tail)
    if status.state is SourceState.PARTIAL:
        stale, current = (UNTRUSTED, TRUSTED) if trust else (TRUSTED, UNTRUSTED)
        return replace(status, reason=reason.replace(stale, current))
    return status


def effective_exclusions(
    snapshot: Snapshot, declared: Iterable[DeclaredExclusion]
) -> tuple[ExcludedApp, ...]:
    """Every (policy, app) exclusion from the snapshot and from config, merged by source."""
    sps_by_app = {sp.app_id.lower(): sp for sp in snapshot.service_principals}
    sps_by_id = {sp.id.lower(): sp for sp in snapshot.service_principals}
    merged: dict[tuple[str, str], ExcludedApp] = {}
    for policy in snapshot.policies:
        for exclusion in policy.exclusions:
            app_id = _app_id(exclusion.app_id, sps_by_id)
            _merge(
                merged,
                _excluded(
                    policy,
                    app_id,
                    exclusion.source,
                    sps_by_app,
                    exclusion.service_principal_id,
                    exclusion.display_name,
                ),
            )
    for entry in declared:
        target = resolve_policy(entry.policy, snapshot.policies)
        app_id = _app_id(entry.app, sps_by_id)
        if target is None:
            placeholder = AccessPolicy(
                id=entry.policy,
                display_name=entry.policy,
                policy_type="unknown",
                approver_group_ids=(),
            )
            item = _excluded(placeholder, app_id, ExclusionSource.DECLARED, sps_by_app, None, "")
            item = _with(item, declared=entry, policy_exists=False)
        else:
            item = _with(
                _excluded(target, app_id, ExclusionSource.DECLARED, sps_by_app, None, ""),
                declared=entry,
            )
        _merge(merged, item)
    return tuple(merged.values())


def resolve_policy(reference: str, policies: Iterable[AccessPolicy]) -> AccessPolicy | None:
    """A policy by id, or by exact display name (case-insensitive)."""
    candidates = list(policies)
    by_id = [p for p in candidates if p.id.lower() == reference.lower()]
    if by_id:
        return by_id[0]
    by_name = [p for p in candidates if p.display_name.lower() == reference.lower()]
    return by_name[0] if len(by_name) == 1 else None


def _app_id(reference: str, sps_by_id: Mapping[str, ServicePrincipal]) -> str:
    """Config and policies may name an app by its service principal object id, in any case."""
    sp = sps_by_id.get(reference.lower())
    return sp.app_id if sp is not None else reference


def _excluded(
    policy: AccessPolicy,
    app_id: str,
    source: ExclusionSource,
    sps_by_app: Mapping[str, ServicePrincipal],
    sp_id: str | None,
    name: str,
) -> ExcludedApp:
    sp = sps_by_app.get(app_id.lower())
    return ExcludedApp(
        policy_id=policy.id,
        policy_name=policy.display_name,
        policy_type=policy.policy_type,
        app_id=sp.app_id if sp else app_id,
        service_principal_id=sp.id if sp else sp_id,
        display_name=sp.display_name if sp and sp.display_name else name,
        sources=frozenset({source}),
    )


def _with(item: ExcludedApp, **changes: Any) -> ExcludedApp:
    return replace(item, **changes)


def _merge(merged: dict[tuple[str, str], ExcludedApp], item: ExcludedApp) -> None:
    key = (item.policy_id.lower(), item.app_id.lower())
    existing = merged.get(key)
    if existing is None:
        merged[key] = item
        return
    merged[key] = _with(
        existing,
        sources=existing.sources | item.sources,
        declared=existing.declared or item.declared,
        display_name=existing.display_name or item.display_name,
        service_principal_id=existing.service_principal_id or item.service_principal_id,
    )


POLICIES_PATH = "/deviceManagement/operationApprovalPolicies"


@dataclass(frozen=True, slots=True)
class ExclusionWrite:
    """The Graph write that sets one policy's exclusions; it goes through MAA approval itself."""

    method: str
    path: str
    body: dict[str, list[str]]


def exclusion_write(policy_id: str, app_ids: Iterable[str], property_name: str) -> ExclusionWrite:
    """PATCH the whole list: the provisional property holds every excluded appId of the policy."""
    listed = list(dict.fromkeys(app_ids))
    return ExclusionWrite("PATCH", f"{POLICIES_PATH}/{policy_id}", {property_name: listed})


def tenant_exclusions_of(policy: AccessPolicy) -> tuple[Exclusion, ...]:
    """A policy's exclusions as the tenant holds them (not the ones only declared in config)."""
    return tuple(e for e in policy.exclusions if e.source in TENANT_SOURCES)
