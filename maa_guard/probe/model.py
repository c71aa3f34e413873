"""From raw observations to the report: pure functions, and the only ones that read tenant data.

What leaves here is schema (property names and JSON types, enum members), counts and shares,
Microsoft's audit strings made inert, and salted hashes. Values are never copied: a property's
value shows only as its JSON type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from maa_guard.probe.assumptions import APP_RESOURCE_TYPES, DECIDED_STATUSES
from maa_guard.probe.observe import Answer, Observations
from maa_guard.probe.redact import Redactor, microsoft_text
from maa_guard.probe.report import (
    AuditSection,
    AuditTuple,
    CategoryTypes,
    EndpointRow,
    EnumCounts,
    Evidence,
    FieldShare,
    PolicySection,
    ProbeReport,
    PropertyShape,
    RequestSection,
    Shapes,
    Share,
    ValueCount,
)
from maa_guard.probe.targets import Target, all_targets, is_maa_text
from maa_guard.probe.verdicts import judge
from maa_guard.snapshot.published import PAYLOAD_FIELDS, POLICY_PROPERTIES, REQUEST_PROPERTIES

JsonObject = Mapping[str, Any]
MAX_DEPTH = 3
MAX_PROPERTIES = 200
POLICY_ENUMS = ("policyType", "policyPlatform")
REQUEST_ENUMS = ("status", "requiredOperationApprovalPolicyTypes")
SKIPPED = {
    "policies.get": "no access policy was listed",
    "apps.graphAppRoleAssignedTo": "the Microsoft Graph service principal was not read",
    "audit.activityTypes": "no audit category was read",
    "audit.eventsByCategory": "no category looks like MAA's",
}
_EVENT_READS = ("audit.events", "audit.eventsByCategory")


def build_report(
    observations: Observations,
    redactor: Redactor,
    *,
    tool_version: str,
    generated_at: datetime,
    cloud: str,
    custom_endpoint: bool,
) -> ProbeReport:
    evidence = gather_evidence(observations, redactor)
    return ProbeReport(
        tool_version=tool_version,
        generated_at=generated_at,
        cloud=cloud,
        custom_endpoint=custom_endpoint,
        tenant=_tenant(observations, redactor),
        window_days=observations.days,
        evidence=evidence,
        assumptions=judge(evidence),
    )


def gather_evidence(observations: Observations, redactor: Redactor) -> Evidence:
    return Evidence(
        endpoints=endpoint_rows(observations, redactor),
        policies=policy_section(observations, redactor),
        requests=request_section(observations, redactor),
        audit=audit_section(observations, redactor),
    )


def _tenant(observations: Observations, redactor: Redactor) -> str | None:
    answer = observations.first("tenant.organization")
    organizations = answer.items() if answer is not None else []
    tenant_id = organizations[0].get("id") if organizations else None
    return redactor.hash(tenant_id) if isinstance(tenant_id, str) and tenant_id else None


# ---- endpoints ---------------------------------------------------------------------------------


def endpoint_rows(observations: Observations, redactor: Redactor) -> tuple[EndpointRow, ...]:
    targets = all_targets(observations.now, observations.days)
    return tuple(_endpoint_row(t, observations.of(t.key), redactor) for t in targets)


def _endpoint_row(target: Target, answers: list[Answer], redactor: Redactor) -> EndpointRow:
    failures = [a for a in answers if not a.ok]
    status = (failures[0].status if failures else 200) if answers else None
    listed = [len(values) for a in answers if isinstance(values := _value(a), list)]
    return EndpointRow(
        key=target.key,
        version=target.version,
        path="/" + target.path,
        query=target.shown_query(),
        permission=target.permission,
        calls=len(answers),
        ok=len(answers) - len(failures),
        status=status,
        codes=tuple(sorted({redactor.name(a.code) for a in failures if a.code})),
        items=sum(listed) if listed else None,
        more=any(a.more for a in answers),
        note="" if answers else SKIPPED.get(target.key, ""),
    )


def _value(answer: Answer) -> object:
    return (answer.body or {}).get("value") if answer.ok else None


# ---- shapes ------------------------------------------------------------------------------------


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        inner = sorted({json_type(item) for item in value})
        return f"array<{'|'.join(inner) if inner else 'empty'}>"
    return "unknown"


def shapes(objects: Sequence[JsonObject], redactor: Redactor) -> Shapes:
    """Every property path to MAX_DEPTH, its types, and on how many objects it appears."""
    types: dict[str, set[str]] = {}
    counts: Counter[str] = Counter()
    for item in objects:
        found: dict[tuple[str, ...], set[str]] = {}
        _walk(item, (), MAX_DEPTH, found)
        for segments, seen in found.items():
            name = redactor.path(segments)
            types.setdefault(name, set()).update(seen)
            counts[name] += 1
    names = sorted(types)
    properties = tuple(
        PropertyShape(name, tuple(sorted(types[name])), counts[name])
        for name in names[:MAX_PROPERTIES]
    )
    return Shapes(len(objects), properties, max(0, len(names) - MAX_PROPERTIES))


def _walk(
    item: JsonObject, prefix: tuple[str, ...], depth: int, found: dict[tuple[str, ...], set[str]]
) -> None:
    for key, value in item.items():
        segments = (*prefix, str(key))
        found.setdefault(segments, set()).add(json_type(value))
        if depth <= 1:
            continue
        if isinstance(value, Mapping):
            _walk(value, segments, depth - 1, found)
        elif isinstance(value, list):
            listed = (*prefix, f"{key}[]")
            for member in value:
                if isinstance(member, Mapping):
                    _walk(member, listed, depth - 1, found)


def undocumented(found: Shapes, documented: Iterable[str]) -> tuple[str, ...]:
    known = set(documented)
    return tuple(
        p.name
        for p in found.properties
        if p.top_level and p.name not in known and not p.name.startswith("@odata.")
    )


def enum_counts(objects: Iterable[JsonObject], field: str, redactor: Redactor) -> EnumCounts:
    """How often each member was seen; an array counts each member, a non-string its type."""
    counter: Counter[str] = Counter()
    for item in objects:
        if field not in item:
            continue
        value = item[field]
        for member in value if isinstance(value, list) else [value]:
            counter[enum_member(member, redactor)] += 1
    values = sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))
    return EnumCounts(field, tuple(ValueCount(v, n) for v, n in values))


def enum_member(member: object, redactor: Redactor) -> str:
    return redactor.name(member) if isinstance(member, str) else f"<{json_type(member)}>"


# ---- access policies ---------------------------------------------------------------------------


def policy_section(observations: Observations, redactor: Redactor) -> PolicySection:
    listed_answer = observations.first("policies.list")
    listed = listed_answer.items() if listed_answer is not None else []
    by_id = [dict(a.body) for a in observations.of("policies.get") if a.ok and a.body]
    list_shapes, id_shapes = shapes(listed, redactor), shapes(by_id, redactor)
    return PolicySection(
        listed=len(listed),
        read_by_id=len(by_id),
        list_shapes=list_shapes,
        shapes=id_shapes,
        undocumented=undocumented(id_shapes, POLICY_PROPERTIES),
        exclusion_property=exclusion_property(id_shapes) or exclusion_property(list_shapes),
        enums=tuple(enum_counts(by_id or listed, f, redactor) for f in POLICY_ENUMS),
    )


def exclusion_property(found: Shapes) -> PropertyShape | None:
    """The first top-level property whose name contains "exclu", in any case."""
    return next((p for p in found.properties if p.top_level and "exclu" in p.name.lower()), None)


# ---- approval requests -------------------------------------------------------------------------


def request_section(observations: Observations, redactor: Redactor) -> RequestSection:
    answer = observations.first("requests.list")
    requests = answer.items() if answer is not None else []
    decided = [r for r in requests if r.get("status") in DECIDED_STATUSES]
    found = shapes(requests, redactor)
    return RequestSection(
        read=len(requests),
        shapes=found,
        undocumented=undocumented(found, REQUEST_PROPERTIES),
        enums=tuple(enum_counts(requests, f, redactor) for f in REQUEST_ENUMS),
        null_requestor=Share(sum(not named(r.get("requestor")) for r in requests), len(requests)),
        null_approver=Share(sum(not named(r.get("approver")) for r in requests), len(requests)),
        decided=len(decided),
        decided_without_approver=sum(not named(r.get("approver")) for r in decided),
        payload_fields=tuple(payload_share(requests, name) for name in PAYLOAD_FIELDS),
    )


def named(identity: object) -> bool:
    """An identitySet naming someone: a member (user, application...) with a non-empty value."""
    if not isinstance(identity, Mapping):
        return False
    return any(
        isinstance(member, Mapping) and any(v for k, v in member.items() if not k.startswith("@"))
        for key, member in identity.items()
        if not key.startswith("@")
    )


def payload_share(requests: Sequence[JsonObject], name: str) -> FieldShare:
    present = [r for r in requests if name in r]
    non_null = sum(r[name] is not None for r in present)
    return FieldShare(name, len(present), non_null, len(requests))


# ---- audit -------------------------------------------------------------------------------------


def audit_section(observations: Observations, redactor: Redactor) -> AuditSection:
    categories = observations.first("audit.categories")
    events = _distinct_events(observations)
    maa = [e for e in events if _is_maa_event(e)]
    exclusions = [e for e in maa if "exclu" in _event_text(e)]
    policy_ids = _policy_ids(observations)
    return AuditSection(
        categories_status=categories.status if categories is not None else None,
        categories_well_formed=categories is not None and _string_list(categories),
        categories=_category_names(categories),
        activity_types=tuple(_category_types(a) for a in observations.of("audit.activityTypes")),
        events_read=len(events),
        more_events=any(a.more for key in _EVENT_READS for a in observations.of(key)),
        maa_events=audit_tuples(maa, redactor),
        exclusion_events=len(exclusions),
        exclusion_events_named=sum(names_policy_and_app(e, policy_ids) for e in exclusions),
    )


def _category_names(answer: Answer | None) -> tuple[str, ...]:
    return tuple(microsoft_text(c) for c in answer.strings()) if answer is not None else ()


def _string_list(answer: Answer) -> bool:
    value = _value(answer)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _category_types(answer: Answer) -> CategoryTypes:
    types = tuple(microsoft_text(t) for t in answer.strings())
    return CategoryTypes(microsoft_text(answer.fill), answer.status, types, _string_list(answer))


def _distinct_events(observations: Observations) -> list[JsonObject]:
    """The events of every audit read, each once (by id; an event without one is kept)."""
    seen: set[str] = set()
    events: list[JsonObject] = []
    for key in _EVENT_READS:
        for answer in observations.of(key):
            for event in answer.items():
                event_id = event.get("id")
                if isinstance(event_id, str) and event_id in seen:
                    continue
                if isinstance(event_id, str):
                    seen.add(event_id)
                events.append(event)
    return events


def _is_maa_event(event: JsonObject) -> bool:
    fields = ("activity", "activityType", "componentName", "category")
    return is_maa_text(*(event.get(field) for field in fields))


def _event_text(event: JsonObject) -> str:
    return f"{event.get('activity') or ''} {event.get('activityType') or ''}".lower()


def _resources(event: JsonObject) -> list[JsonObject]:
    resources = event.get("resources")
    return [r for r in resources if isinstance(r, Mapping)] if isinstance(resources, list) else []


def audit_tuples(events: Iterable[JsonObject], redactor: Redactor) -> tuple[AuditTuple, ...]:
    counter: Counter[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]] = Counter()
    for event in events:
        counter[_audit_key(event, redactor)] += 1
    ordered = sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(AuditTuple(*key, count) for key, count in ordered)


def _audit_key(
    event: JsonObject, redactor: Redactor
) -> tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]]:
    resources = _resources(event)
    types = {redactor.name(str(r["type"])) for r in resources if r.get("type")}
    changed = {
        redactor.property_name(str(p["displayName"]))
        for r in resources
        for p in r.get("modifiedProperties") or []
        if isinstance(p, Mapping) and p.get("displayName")
    }
    return (
        microsoft_text(event.get("category")),
        microsoft_text(event.get("activityType")),
        microsoft_text(event.get("activity")),
        microsoft_text(event.get("componentName")),
        tuple(sorted(types)),
        tuple(sorted(changed)),
    )


def _policy_ids(observations: Observations) -> set[str]:
    answer = observations.first("policies.list")
    listed = answer.items() if answer is not None else []
    return {str(p.get("id")) for p in listed if p.get("id")}


def names_policy_and_app(event: JsonObject, policy_ids: set[str]) -> bool:
    """An exclusion event maa-guard can replay: add or remove, an access policy, an app."""
    text = _event_text(event)
    if not any(verb in text for verb in ("add", "remove", "delete")):
        return False
    resources = _resources(event)
    kinds = [str(r.get("type") or "").lower().replace(" ", "") for r in resources]
    has_policy = any(
        r.get("resourceId") in policy_ids or kind == "operationapprovalpolicy"
        for r, kind in zip(resources, kinds, strict=True)
    )
    has_app = any(
        kind in APP_RESOURCE_TYPES and r.get("resourceId")
        for r, kind in zip(resources, kinds, strict=True)
    )
    return has_policy and has_app
