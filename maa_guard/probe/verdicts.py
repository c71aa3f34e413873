"""Each assumption of docs/assumptions.md judged from the evidence: confirmed, contradicted, or
not seen, with the observation that decided it. Pure; the observation holds only report data."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from maa_guard.collect.intune import names_maa
from maa_guard.probe.assumptions import (
    ASSUMPTIONS,
    POLICY_PLATFORMS,
    POLICY_TYPES,
    POLICY_TYPES_AFTER_SENTINEL,
    REQUEST_STATUSES,
    SENTINEL,
)
from maa_guard.probe.report import (
    EndpointRow,
    EnumCounts,
    Evidence,
    Judgement,
    Shapes,
    ValueCount,
    Verdict,
)
from maa_guard.snapshot.published import PAYLOAD_FIELDS, POLICY_PROPERTIES, REQUEST_PROPERTIES

Outcome = tuple[Verdict, str]
Rule = Callable[[Evidence], Outcome]
# Answers that say an endpoint or its query does not exist, as opposed to "not allowed".
REFUSED = frozenset({400, 404, 405, 501})
CONFIRMED, CONTRADICTED, NOT_SEEN = Verdict.CONFIRMED, Verdict.CONTRADICTED, Verdict.NOT_SEEN
REQUIRED_TYPES = "requiredOperationApprovalPolicyTypes"


def judge(evidence: Evidence) -> tuple[Judgement, ...]:
    return tuple(Judgement(a.key, a.statement, *RULES[a.key](evidence)) for a in ASSUMPTIONS)


# ---- helpers -----------------------------------------------------------------------------------


def unread(evidence: Evidence, key: str) -> str:
    """Why an endpoint gave nothing: its status and codes, or why it was not read."""
    row = evidence.endpoint(key)
    if row is None or row.status is None:
        return f"{key} not read" + (f" ({row.note})" if row and row.note else "")
    return f"{key} answered {status_text(row)}"


def status_text(row: EndpointRow) -> str:
    codes = f" {', '.join(row.codes)}" if row.codes else ""
    return f"HTTP {row.status}{codes}"


def counted(values: Iterable[ValueCount]) -> str:
    return ", ".join(f"{v.value} ({v.count})" for v in values) or "none"


def enum_of(counts: Iterable[EnumCounts], field: str) -> tuple[ValueCount, ...]:
    return next((c.values for c in counts if c.field == field), ())


def missing_properties(found: Shapes, documented: Iterable[str], kind: str) -> Outcome:
    missing = [
        f"{name} (on {found.objects - found.count(name)} of {found.objects})"
        for name in documented
        if found.count(name) < found.objects
    ]
    if missing:
        return CONTRADICTED, "missing: " + ", ".join(missing)
    return CONFIRMED, f"all present on each of {found.objects} {kind}"


def members(values: tuple[ValueCount, ...], allowed: frozenset[str], field: str) -> Outcome:
    unknown = [v for v in values if v.value not in allowed]
    if unknown:
        return CONTRADICTED, f"not documented in {field}: {counted(unknown)}"
    return CONFIRMED, f"{field} seen: {counted(values)}"


# ---- access policies ---------------------------------------------------------------------------


def policy_properties(evidence: Evidence) -> Outcome:
    policies = evidence.policies
    if not policies.read_by_id:
        return NOT_SEEN, unread(evidence, "policies.get")
    return missing_properties(policies.shapes, POLICY_PROPERTIES, "policies read by id")


def exclusion_property(evidence: Evidence) -> Outcome:
    policies = evidence.policies
    if not policies.read_by_id and not policies.listed:
        return NOT_SEEN, unread(evidence, "policies.list")
    found = policies.exclusion_property
    if found is None:
        read = policies.read_by_id or policies.listed
        return CONFIRMED, f"no property name contains 'exclu' on {read} policies"
    total = policies.shapes.objects if policies.read_by_id else policies.list_shapes.objects
    types = "|".join(found.types)
    return CONTRADICTED, f"{found.name} ({types}) on {found.count} of {total} policies"


def approver_groups_on_list(evidence: Evidence) -> Outcome:
    listed = evidence.policies.list_shapes
    if not listed.objects:
        return NOT_SEEN, unread(evidence, "policies.list")
    carried = listed.count("approverGroupIds")
    if carried == listed.objects:
        return CONTRADICTED, f"the list carried approverGroupIds on all {carried} policies"
    left_out = listed.objects - carried
    return (
        CONFIRMED,
        f"the list left approverGroupIds out on {left_out} of {listed.objects} policies",
    )


def policy_type_members(evidence: Evidence) -> Outcome:
    fields = (
        ("policyType", enum_of(evidence.policies.enums, "policyType")),
        (REQUIRED_TYPES, enum_of(evidence.requests.enums, REQUIRED_TYPES)),
    )
    outcomes = [members(seen, POLICY_TYPES, field) for field, seen in fields if seen]
    if not outcomes:
        return NOT_SEEN, "no policyType value was read"
    verdict = CONTRADICTED if any(v is CONTRADICTED for v, _ in outcomes) else CONFIRMED
    return verdict, "; ".join(text for v, text in outcomes if v is verdict)


def policy_platform_members(evidence: Evidence) -> Outcome:
    seen = enum_of(evidence.policies.enums, "policyPlatform")
    if not seen:
        return NOT_SEEN, "no policyPlatform value was read"
    policies = evidence.policies
    found = (policies.shapes if policies.read_by_id else policies.list_shapes).get("policyPlatform")
    other = [t for t in found.types if t != "string"] if found is not None else []
    if other:
        return CONTRADICTED, f"policyPlatform is {'|'.join(found.types if found else ())}"
    return members(seen, POLICY_PLATFORMS, "policyPlatform")


# ---- enums and requests ------------------------------------------------------------------------


def request_status_members(evidence: Evidence) -> Outcome:
    seen = enum_of(evidence.requests.enums, "status")
    if seen:
        return members(seen, REQUEST_STATUSES, "status")
    if evidence.requests.read:
        return NOT_SEEN, "no request carried a status"
    return NOT_SEEN, _no_requests(evidence)


def unknown_members_by_name(evidence: Evidence) -> Outcome:
    enums = (*evidence.policies.enums, *evidence.requests.enums)
    sentinel = [f"{c.field} ({v.count})" for c in enums for v in c.values if v.value == SENTINEL]
    if sentinel:
        return CONTRADICTED, f"{SENTINEL} seen in " + ", ".join(sentinel)
    late = [v for c in enums for v in c.values if v.value in POLICY_TYPES_AFTER_SENTINEL]
    if late:
        return CONFIRMED, f"returned by name: {counted(late)}"
    return NOT_SEEN, f"no member added after {SENTINEL} was seen, and no {SENTINEL}"


def request_properties(evidence: Evidence) -> Outcome:
    requests = evidence.requests
    if not requests.read:
        return NOT_SEEN, _no_requests(evidence)
    return missing_properties(requests.shapes, REQUEST_PROPERTIES, "requests")


def _no_requests(evidence: Evidence) -> str:
    row = evidence.endpoint("requests.list")
    if row is not None and row.status is not None and row.ok:
        return "the tenant listed no approval request"
    return unread(evidence, "requests.list")


def requestor_named(evidence: Evidence) -> Outcome:
    requests = evidence.requests
    if not requests.read:
        return NOT_SEEN, _no_requests(evidence)
    share = requests.null_requestor
    if share.count:
        return CONTRADICTED, (
            f"requestor null on {share.count} of {share.total} requests ({share.percent()})"
        )
    return CONFIRMED, f"requestor named on all {share.total} requests"


def approver_named(evidence: Evidence) -> Outcome:
    requests = evidence.requests
    if not requests.decided:
        reason = _no_requests(evidence) if not requests.read else "no request was decided"
        return NOT_SEEN, reason
    missing = requests.decided_without_approver
    if missing:
        return CONTRADICTED, f"approver null on {missing} of {requests.decided} decided requests"
    return CONFIRMED, f"approver named on all {requests.decided} decided requests"


def payload_fields(evidence: Evidence) -> Outcome:
    requests = evidence.requests
    if not requests.read:
        return NOT_SEEN, _no_requests(evidence)
    present = [f for f in requests.payload_fields if f.present]
    if not present:
        return CONTRADICTED, (
            f"none of the {len(PAYLOAD_FIELDS)} payload fields on {requests.read} requests"
        )
    shown = ", ".join(f"{f.name} ({f.present} of {f.total})" for f in present)
    return CONFIRMED, f"present: {shown}"


def filed_412(evidence: Evidence) -> Outcome:
    return NOT_SEEN, "the probe sends no writes, so it never files a request"


# ---- audit -------------------------------------------------------------------------------------


def audit_functions(evidence: Evidence) -> Outcome:
    audit = evidence.audit
    status = audit.categories_status
    if status in REFUSED or (status == 200 and not audit.categories_well_formed):
        return (
            CONTRADICTED,
            f"getAuditCategories: {_function_answer(status, audit.categories_well_formed)}",
        )
    if status != 200:
        return NOT_SEEN, unread(evidence, "audit.categories")
    wrong = [
        t
        for t in audit.activity_types
        if t.status in REFUSED or (t.status == 200 and not t.well_formed)
    ]
    if wrong:
        answer = _function_answer(wrong[0].status, wrong[0].well_formed)
        return CONTRADICTED, (
            f"getAuditActivityTypes: {answer} for {len(wrong)} of {len(audit.activity_types)} "
            "categories"
        )
    answered = sum(t.status == 200 for t in audit.activity_types)
    return CONFIRMED, (
        f"{len(audit.categories)} categories; activity types of {answered} of "
        f"{len(audit.activity_types)} read"
    )


def _function_answer(status: int | None, well_formed: bool) -> str:
    return "not a list of strings" if status == 200 and not well_formed else f"HTTP {status}"


def exclusion_categories(evidence: Evidence) -> dict[str, int]:
    """The categories of the exclusion events read, with their event counts."""
    found: dict[str, int] = {}
    for row in evidence.audit.maa_events:
        if "exclu" in f"{row.activity} {row.activity_type}".lower():
            found[row.category] = found.get(row.category, 0) + row.count
    return found


def maa_category(evidence: Evidence) -> Outcome:
    audit = evidence.audit
    listed = {t.category: t for t in audit.activity_types if t.status == 200}
    chosen = [name for name, row in listed.items() if names_maa(row.types)]
    found = exclusion_categories(evidence)
    if not found:
        where = f"; MAA activity types in {', '.join(chosen)}" if chosen else ""
        return NOT_SEEN, f"no exclusion event in {audit.events_read} events read{where}"
    unknown = [name for name in found if name not in listed]
    outside = {name: n for name, n in found.items() if name in listed and name not in chosen}
    if outside:
        return CONTRADICTED, (
            f"exclusion events in {_per_category(outside)}, whose activity types mention no "
            "exclusion or approval"
        )
    if unknown:
        return NOT_SEEN, f"activity types not read for {', '.join(unknown)}"
    return CONFIRMED, f"exclusion events in {_per_category(found)}, chosen by its activity types"


def _per_category(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({n} events)" for name, n in counts.items())


def exclusion_events(evidence: Evidence) -> Outcome:
    audit = evidence.audit
    if audit.exclusion_events:
        named = audit.exclusion_events_named
        if named == audit.exclusion_events:
            return CONFIRMED, (
                f"{named} exclusion events, each naming an access policy and an application"
            )
        return CONTRADICTED, (
            f"{audit.exclusion_events - named} of {audit.exclusion_events} exclusion events "
            "do not name an access policy and an application"
        )
    read = [t for t in audit.activity_types if t.status == 200]
    complete = bool(read) and len(read) == len(audit.activity_types)
    if complete and not any("exclu" in t.lower() for row in read for t in row.types):
        return CONTRADICTED, f"no activity type of the {len(read)} categories mentions exclusion"
    return NOT_SEEN, f"no exclusion event in {audit.events_read} events read"


def event_filters(evidence: Evidence) -> Outcome:
    rows = [r for k in ("audit.events", "audit.eventsByCategory") if (r := evidence.endpoint(k))]
    refused = [r for r in rows if r.status == 400]
    if refused:
        return CONTRADICTED, "; ".join(f"{r.key} answered {status_text(r)}" for r in refused)
    if not rows or rows[0].status != 200:
        return NOT_SEEN, unread(evidence, "audit.events")
    return CONFIRMED, ", ".join(f"{r.key}: {r.ok} of {r.calls} answered" for r in rows if r.calls)


def select_accepted(evidence: Evidence) -> Outcome:
    rows = [r for r in evidence.endpoints if r.selects and r.calls]
    refused = [r.key for r in rows if r.status == 400]
    if refused:
        return CONTRADICTED, "HTTP 400 from " + ", ".join(refused)
    accepted = [r for r in rows if r.ok]
    if not accepted:
        return NOT_SEEN, "no read with $select was answered"
    others = [f"{r.key} {status_text(r)}" for r in rows if not r.ok]
    rest = f"; not answered: {', '.join(others)}" if others else ""
    return CONFIRMED, f"accepted by {len(accepted)} of {len(rows)} endpoints{rest}"


def activity_report(evidence: Evidence) -> Outcome:
    row = evidence.endpoint("signIns.report")
    if row is not None and row.status == 200:
        return CONFIRMED, "the report answered"
    if row is not None and row.status in REFUSED:
        return (
            CONTRADICTED,
            f"{unread(evidence, 'signIns.report')}; {unread(evidence, 'signIns.log')}",
        )
    return NOT_SEEN, unread(evidence, "signIns.report")


RULES: dict[str, Rule] = {
    "policy.documented-properties": policy_properties,
    "policy.exclusion-property": exclusion_property,
    "policy.approverGroupIds-on-list": approver_groups_on_list,
    "enum.policyType-members": policy_type_members,
    "enum.policyPlatform-members": policy_platform_members,
    "enum.requestStatus-members": request_status_members,
    "enum.unknown-members-prefer": unknown_members_by_name,
    "request.documented-properties": request_properties,
    "request.requestor-populated": requestor_named,
    "request.approver-populated": approver_named,
    "request.payload-fields": payload_fields,
    "approval.filed-412": filed_412,
    "audit.functions": audit_functions,
    "audit.maa-category": maa_category,
    "audit.exclusion-events": exclusion_events,
    "audit.event-filters": event_filters,
    "query.select-accepted": select_accepted,
    "signin.activity-report": activity_report,
}
