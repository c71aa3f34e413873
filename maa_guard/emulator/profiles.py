"""What the emulator serves: the ``default`` or the ``published`` profile.

``default`` serves the provisional exclusion property (``excludedApplicationIds``) on every
access policy (``[]`` when it excludes nobody) and takes it in writes, so tests can change
exclusions through Graph. ``published`` serves what Microsoft's Graph publishes: the
access-policy properties of the published beta metadata only (unknown properties in a write
answer 400 as OData does), approval requests with ``requestor`` and ``approver`` null, the 412
answer of Microsoft's MAA Graph page (2026-08-06), and MAA audit events in their own category,
which a collector must discover through ``getAuditCategories``. In both, the exclusions of the
fixture take effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from maa_guard.emulator import audit
from maa_guard.emulator.tenant import EXCLUSIONS_PROPERTY, Tenant
from maa_guard.emulator.wire import Call, Json, Reply, error
from maa_guard.snapshot.published import PAYLOAD_FIELDS, POLICY_PROPERTIES

PROFILES: Final = ("default", "published")
POLICIES = "deviceManagement/operationApprovalPolicies"
REQUESTS = "deviceManagement/operationApprovalRequests"
AUDIT_EVENTS = "deviceManagement/auditEvents"
POLICY_TYPE = "microsoft.graph.operationApprovalPolicy"
# The operationApprovalPolicy properties of the published beta metadata, with @odata.type.
PUBLISHED_POLICY_PROPERTIES: Final = ("@odata.type", *POLICY_PROPERTIES)
DEFAULT_AUDIT_CATEGORY = "Role"
MAA_AUDIT_CATEGORY = "MultiAdminApproval"
MAA_COMPONENT = "MultiAdminApproval"
_HIDDEN_IDENTITIES = ("requestor", "approver")
_POLICY_WRITES = frozenset({"POST", "PATCH", "PUT"})


@dataclass(frozen=True, slots=True)
class Profile:
    """One of :data:`PROFILES`; build it with :func:`profile_named`."""

    name: str

    @property
    def published(self) -> bool:
        return self.name == "published"

    @property
    def audit_category(self) -> str:
        """The category of the MAA events the emulator writes."""
        return MAA_AUDIT_CATEGORY if self.published else DEFAULT_AUDIT_CATEGORY

    def prepare(self, tenant: Tenant) -> None:
        """Readies a freshly loaded tenant: every request carries the payload properties ("" when
        the fixture has none); the MAA events the emulator writes get this profile's category,
        and (``published``) so do the fixture's MAA events."""
        for request in tenant.collections.get(REQUESTS, []):
            for name in PAYLOAD_FIELDS:
                request.setdefault(name, "")
        tenant.audit_category = self.audit_category
        events = tenant.collections.get(AUDIT_EVENTS)
        if self.published and events is not None:
            events[:] = [self.audit_event(event) for event in events]
            events.extend(_request_events(tenant, events))
            tenant.touch()

    def served(
        self, collection: str, items: list[Json], exclusions: str = EXCLUSIONS_PROPERTY
    ) -> list[Json]:
        """Items as this profile shows them (copies; the tenant keeps everything). ``default``
        serves the exclusion property (named ``exclusions``) on every access policy, ``[]`` on
        one that excludes nobody, so such a tenant does not look like one without it."""
        if not self.published:
            if collection == POLICIES:
                return [_with_exclusions(item, exclusions) for item in items]
            return items
        if collection == POLICIES:
            return [_published_policy(item) for item in items]
        if collection == REQUESTS:
            return [{**item, **dict.fromkeys(_HIDDEN_IDENTITIES)} for item in items]
        return items

    def hidden_properties(self, collection: str, item: Json) -> tuple[str, ...]:
        """Properties an item keeps that this profile does not serve (a PUT keeps them)."""
        if not self.published or collection != POLICIES:
            return ()
        return tuple(key for key in item if key not in PUBLISHED_POLICY_PROPERTIES)

    def refused_write(self, call: Call, collection: str, body: object) -> Reply | None:
        """400 for an access-policy write naming a property the published type lacks."""
        if not self.published or collection != POLICIES or call.method not in _POLICY_WRITES:
            return None
        if not isinstance(body, dict):
            return None
        for name in body:
            if not name.startswith("@") and name not in PUBLISHED_POLICY_PROPERTIES:
                return unknown_property(name)
        return None

    def audit_event(self, event: Json) -> Json:
        """A fixture audit event as this profile keeps it: MAA events in their own category."""
        if self.published and is_maa_event(event):
            return {**event, "category": MAA_AUDIT_CATEGORY}
        return event


def _request_events(tenant: Tenant, events: list[Json]) -> list[Json]:
    """Graph serves the requests' people as null, but the service audits who filed and who
    decided each request: the fixture's requests get those events unless it has them, or
    says its audit log no longer holds them (``maa.requestEventsAudited: false``)."""
    if tenant.maa.get("requestEventsAudited") is False:
        return []
    named = {
        str(resource.get("resourceId", "")).lower()
        for event in events
        for resource in event.get("resources") or []
        if isinstance(resource, dict)
    }
    return [
        event
        for request in tenant.collections.get(REQUESTS, [])
        if str(request.get("id", "")).lower() not in named
        for event in audit.request_history(tenant, request)
    ]


def profile_named(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {name!r}")
    return Profile(name)


def unknown_property(name: str) -> Reply:
    return error(
        400,
        "BadRequest",
        f"The property '{name}' does not exist on type '{POLICY_TYPE}'. Make sure to only use "
        "property names that are defined by the type.",
    )


def is_maa_event(event: Json) -> bool:
    """An exclusion or approval event, or one of the MultiAdminApproval component."""
    if str(event.get("componentName", "")) == MAA_COMPONENT:
        return True
    text = f"{event.get('activity', '')} {event.get('activityType', '')}".lower()
    return "exclusion" in text or "approval" in text


def _with_exclusions(item: Json, name: str) -> Json:
    return item if name in item else {**item, name: []}


def _published_policy(item: Json) -> Json:
    return {key: value for key, value in item.items() if key in PUBLISHED_POLICY_PROPERTIES}
