"""MAA exclusions: where they come from (policy property, audit-log replay, declaration), exclusions
as code (``export``), and exclusion change drafts (``draft``, ``draft_build``, ``draft_render``).

The package's face (provenance and replay) imports only ``snapshot``, ``config``, ``workloads`` and
``model``: collection and evaluation use it. ``export`` and the drafts are workflows over the
pipeline (the drafts build on ``review``); they are imported by their module name, never from here.
"""

from __future__ import annotations

from maa_guard.exclusions.provenance import (
    TENANT_SOURCES,
    ExcludedApp,
    ExclusionWrite,
    effective_exclusions,
    exclusion_write,
    read_policy_exclusions,
    resolve_policy,
    tenant_exclusions_of,
)
from maa_guard.exclusions.replay import (
    exclusion_change,
    exclusions_from_audit_events,
)

__all__ = [
    "TENANT_SOURCES",
    "ExcludedApp",
    "ExclusionWrite",
    "effective_exclusions",
    "exclusion_change",
    "exclusion_write",
    "exclusions_from_audit_events",
    "read_policy_exclusions",
    "resolve_policy",
    "tenant_exclusions_of",
]
