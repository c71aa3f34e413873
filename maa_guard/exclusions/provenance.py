"""Where MAA exclusions live, and how what each source says merges into one list per policy.

Microsoft has published no Graph property for the access policy's Exclusions tab: neither the
``operationApprovalPolicy`` resource page nor the beta metadata has one. Exclusions are therefore
learned from three sources:

- ``policy-property``: a property on the raw policy JSON, by default ``excludedApplicationIds``
  (a list of appId strings). The name is provisional and set by config
  ``graph.exclusions_property``.
- ``audit-log``: reconstructed from exclusion add/remove events in the Intune audit log
  (``replay``).
- ``declared``: ``[[exclusions]]`` entries in ``maa-guard.toml`` (exclusions as code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from maa_guard.config import DeclaredExclusion
from maa_guard.model import ExclusionSource
from maa_guard.snapshot import AccessPolicy, Exclusion, ServicePrincipal, Snapshot

TENANT_SOURCES = frozenset({ExclusionSource.POLICY_PROPERTY, ExclusionSource.AUDIT_LOG})


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
    """Exclusions from a raw Graph policy object; absent or malformed property gives none."""
    value = raw_policy.get(property_name)
    if not isinstance(value, list):
        return ()
    app_ids = [item for item in value if isinstance(item, str) and item]
    return tuple(
        Exclusion(app_id=app_id, source=ExclusionSource.POLICY_PROPERTY)
        for app_id in dict.fromkeys(app_ids)
    )


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
