"""Intune sources: MAA access policies, approval requests, RBAC and the audit log."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from maa_guard.collect.batched import odata_literal
from maa_guard.collect.common import (
    Decoded,
    Outcome,
    Problems,
    decode_all,
    failed,
    fetch_present,
    malformed_item,
    select,
    unique,
)
from maa_guard.collect.errors import GraphError
from maa_guard.collect.graph import GraphClient
from maa_guard.exclusions.provenance import (
    find_exclusions_property,
    is_app_reference,
    read_policy_exclusions,
)
from maa_guard.model import SourceState
from maa_guard.snapshot import (
    AccessPolicy,
    ApprovalRequest,
    AuditActor,
    AuditEvent,
    AuditResource,
    Exclusion,
    Identity,
    IdentitySet,
    RoleAssignment,
    RoleDefinition,
    SourceStatus,
    Window,
)
from maa_guard.snapshot.codec import (
    DecodeError,
    SharedValues,
    decode,
    format_datetime,
    string_pool,
)
from maa_guard.snapshot.published import PAYLOAD_REFERENCES, REQUEST_PROPERTIES

POLICIES = "deviceManagement/operationApprovalPolicies"
REQUESTS = "deviceManagement/operationApprovalRequests"
ROLE_DEFINITIONS = "deviceManagement/roleDefinitions"
ROLE_ASSIGNMENTS = "deviceManagement/roleAssignments"
AUDIT_EVENTS = "deviceManagement/auditEvents"
INTUNE_TOP = "1000"
# Graph keeps two years of Intune audit events (Microsoft's docs; some sources say one):
# reading further back than the log holds costs one empty page per slice.
AUDIT_RETENTION_DAYS = 730
# The audit log is read in time slices, each its own nextLink chain (a chain is sequential).
# A read starts as one slice; when its first page has a nextLink, the span is read again as one
# slice per day (AUDIT_MAX_SLICES at most, none shorter than MIN_SLICE), side by side: a quiet
# tenant costs a request per read, a busy one one request more than reading by day at once.
# (Halving as the slices page costs a wasted first page per split: 66 requests instead of 40
# for 20,000 events over 30 days.)
AUDIT_MAX_SLICES = 32
MIN_SLICE = timedelta(seconds=1)
AUDIT_CATEGORIES = f"{AUDIT_EVENTS}/getAuditCategories"
# Microsoft has not published the category of MAA's audit events (exclusion changes among them):
# the exclusion history is read from every category with an activity type naming these.
CATEGORY_WORDS = ("exclu", "approval")
EVERY_CATEGORY = "exclusion history read from every audit category"
SP_APP_ID_FIELDS = "id,appId"

REQUEST_FIELDS = select(*REQUEST_PROPERTIES, *PAYLOAD_REFERENCES)
AUDIT_FIELDS = select(
    "id",
    "activityDateTime",
    "actor",
    "activity",
    "activityType",
    "activityOperationType",
    "activityResult",
    "category",
    "componentName",
    "resources",
)
ASSIGNMENT_FIELDS = select(
    "id", "displayName", "members", "scopeMembers", "resourceScopes", "scopeType"
)


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """``property_name``: the policy property the exclusions were read from; None when no
    policy carries one (``find_exclusions_property``)."""

    policies: Outcome[AccessPolicy]
    property_name: str | None

    @property
    def property_seen(self) -> bool:
        """Some policy carried an exclusions property (even empty)."""
        return self.property_name is not None


async def collect_policies(client: GraphClient, exclusions_property: str) -> PolicyOutcome:
    """List, then GET each policy: the list can omit ``approverGroupIds``.

    The per-policy GET carries no ``$select``: Graph publishes no exclusions property, and
    answers 400 to a ``$select`` naming a property it does not know. ``exclusions_property``
    is the configured name or ``auto``; the outcome names the property actually read.
    """
    try:
        listed = await client.get_all(POLICIES, {"$select": "id", "$top": INTUNE_TOP})
    except GraphError as error:
        return PolicyOutcome(Outcome((), failed(error)), None)
    ids = [str(item["id"]) for item in listed if item.get("id")]
    problems = Problems()
    # deleted between the list and the GET: a 404, left out
    found = await fetch_present(client, [f"{POLICIES}/{policy_id}" for policy_id in ids], problems)
    name = find_exclusions_property(found, exclusions_property)
    policies = [p for raw in found for p in _policy(raw, name, problems)]
    policies = await _with_app_ids(client, policies, problems)
    status = problems.status(bool(policies) or not ids)
    return PolicyOutcome(Outcome(tuple(policies), status), name)


def _policy(
    raw: dict[str, Any], property_name: str | None, problems: Problems
) -> list[AccessPolicy]:
    shaped = {key: value for key, value in raw.items() if key != "exclusions"}
    decoded = decode_all(AccessPolicy, [shaped], problems)
    exclusions = read_policy_exclusions(raw, property_name) if property_name else ()
    return [dataclasses.replace(policy, exclusions=exclusions) for policy in decoded]


async def _with_app_ids(
    client: GraphClient, policies: list[AccessPolicy], problems: Problems
) -> list[AccessPolicy]:
    """Exclusions named by a service principal object id get the app's appId (by ``$batch``).

    An id no service principal has (a 404) is kept as it is: an appId, or a deleted app.
    """
    ids = unique(e.app_id for p in policies for e in p.exclusions if _by_object_id(e))
    if not ids:
        return policies
    app_ids = await _app_ids_of_objects(client, ids, problems)
    return [dataclasses.replace(p, exclusions=_resolved(p.exclusions, app_ids)) for p in policies]


async def declared_app_ids(client: GraphClient, references: Sequence[str]) -> list[str]:
    """The appIds of declared apps, each named by its appId or its service principal's object
    id: a GUID that is a service principal's object id becomes its appId, anything else stays.
    A failed lookup leaves the reference as it is (its app then shows as not found)."""
    guids = unique(r for r in references if is_app_reference(r))
    found = await _app_ids_of_objects(client, guids, Problems()) if guids else {}
    return unique(found.get(reference, reference) for reference in references)


async def _app_ids_of_objects(
    client: GraphClient, ids: list[str], problems: Problems
) -> dict[str, str]:
    """Service principal object id -> appId; a 404 (no such object) is left out."""
    paths = [f"servicePrincipals/{sp_id}?$select={SP_APP_ID_FIELDS}" for sp_id in ids]
    app_ids: dict[str, str] = {}
    for sp_id, answer in zip(ids, await client.batch_get(paths), strict=True):
        if answer.status >= 300 and answer.status != 404:
            problems.add(answer.error())
        elif answer.status < 300 and isinstance(answer.body.get("appId"), str):
            app_ids[sp_id] = answer.body["appId"]
    return app_ids


def _by_object_id(exclusion: Exclusion) -> bool:
    return exclusion.service_principal_id == exclusion.app_id


def _resolved(exclusions: tuple[Exclusion, ...], app_ids: dict[str, str]) -> tuple[Exclusion, ...]:
    resolved: dict[str, Exclusion] = {}
    for exclusion in exclusions:
        if _by_object_id(exclusion):
            app_id = app_ids.get(exclusion.app_id)
            exclusion = (
                dataclasses.replace(exclusion, app_id=app_id)
                if app_id
                else dataclasses.replace(exclusion, service_principal_id=None)
            )
        resolved.setdefault(exclusion.app_id.lower(), exclusion)
    return tuple(resolved.values())


async def collect_requests(client: GraphClient) -> Outcome[ApprovalRequest]:
    """Every request, with the undocumented ``payload*`` properties named in ``$select``.

    Naming them keeps the request bodies (``payload``, ``displayPayload``: script content,
    settings values) off the wire. Graph answers 400 to a ``$select`` naming a property it does
    not know, so a 400 is read again without ``$select``: the bodies then arrive, and decoding
    leaves them out of the snapshot.
    """
    try:
        problems, decoded = await _requests(client)
    except GraphError as error:
        return Outcome((), failed(error))
    return Outcome(tuple(decoded.items), problems.status())


async def _requests(client: GraphClient) -> tuple[Problems, Decoded[ApprovalRequest]]:
    """The requests decoded page by page as they arrive."""
    for params in ({"$select": REQUEST_FIELDS, "$top": INTUNE_TOP}, {"$top": INTUNE_TOP}):
        problems = Problems()
        decoded = Decoded(ApprovalRequest, problems, shared=(Identity, IdentitySet))
        try:
            await client.get_all(REQUESTS, params, into=decoded)
            return problems, decoded
        except GraphError as error:
            if error.status != 400 or "$select" not in params:
                raise
    raise AssertionError("unreachable")


async def collect_rbac(
    client: GraphClient,
) -> tuple[Outcome[RoleDefinition], Outcome[RoleAssignment]]:
    """Definitions, assignments, and which definition each assignment grants.

    The assignment resource names its definition only through the ``roleDefinition``
    relationship, so each definition's ``roleAssignments`` are read (batched) to map them.
    """
    try:
        definitions, assignments = await asyncio.gather(
            client.get_all(
                ROLE_DEFINITIONS, {"$select": "id,displayName,isBuiltIn", "$top": INTUNE_TOP}
            ),
            client.get_all(ROLE_ASSIGNMENTS, {"$select": ASSIGNMENT_FIELDS, "$top": INTUNE_TOP}),
        )
    except GraphError as error:
        return Outcome((), failed(error)), Outcome((), failed(error))
    problems = Problems()
    owners = await _definition_of_assignments(client, definitions, problems)
    roles = decode_all(RoleDefinition, definitions, problems)
    granted = decode_all(RoleAssignment, assignments, problems)
    granted = [
        dataclasses.replace(a, role_definition_id=owners.get(a.id, a.role_definition_id))
        for a in granted
    ]
    status = problems.status()
    return Outcome(tuple(roles), status), Outcome(tuple(granted), status)


async def _definition_of_assignments(
    client: GraphClient, definitions: list[dict[str, Any]], problems: Problems
) -> dict[str, str]:
    ids = [str(d["id"]) for d in definitions if d.get("id")]
    paths = [f"{ROLE_DEFINITIONS}/{i}/roleAssignments?$select=id" for i in ids]
    owners: dict[str, str] = {}
    for definition_id, result in zip(ids, await client.batch_get_all(paths), strict=True):
        if isinstance(result, GraphError):
            problems.add(result)
            continue
        owners.update({str(item["id"]): definition_id for item in result if item.get("id")})
    return owners


def time_slices(window: Window, count: int) -> list[Window]:
    """``count`` equal, adjacent slices covering the window (start inclusive, end exclusive)."""
    count = max(1, count)
    step = (window.end - window.start) / count
    edges = [window.start + step * i for i in range(count)] + [window.end]
    return [Window(edges[i], edges[i + 1]) for i in range(count)]


async def collect_audit_events(client: GraphClient, window: Window) -> Outcome[AuditEvent]:
    """The window's Intune audit events, read in time slices split as they page."""
    return await _audit_events(client, window)


def history_span(window: Window) -> Window:
    """From the start of the audit log's retention to the start of the window."""
    return Window(window.end - timedelta(days=AUDIT_RETENTION_DAYS), window.start)


async def collect_exclusion_history(
    client: GraphClient, window: Window, categories: Categories | None = None
) -> Outcome[AuditEvent]:
    """Access-policy audit events from before the window, back to the audit log's retention:
    an exclusion added long ago is known only from its event (the window has the rest).

    Only the categories :func:`exclusion_categories` finds (or ``categories``, found already)
    are read (every category when it cannot tell); a complete outcome's reason says which.
    """
    span = history_span(window)
    if span.start >= span.end:
        return Outcome(())
    categories = categories or await exclusion_categories(client)
    clauses = [f"category eq {odata_literal(c)}" for c in categories.names or ()] or [""]
    outcome = await _audit_events(client, span, clauses)
    if outcome.status.state is not SourceState.COMPLETE:
        return outcome
    return Outcome(outcome.items, SourceStatus(SourceState.COMPLETE, reason=categories.note))


@dataclass(frozen=True, slots=True)
class Categories:
    """The audit categories that hold MAA's events; ``names`` None: read every category."""

    names: tuple[str, ...] | None
    note: str


async def exclusion_categories(client: GraphClient) -> Categories:
    """``getAuditCategories``, then every category's ``getAuditActivityTypes`` in one
    ``$batch``: the categories with an activity type naming exclusions or approvals."""
    try:
        listed = _strings(await client.get(AUDIT_CATEGORIES), AUDIT_CATEGORIES)
        kinds = await _activity_types_of(client, listed)
    except GraphError as error:
        return Categories(None, f"{EVERY_CATEGORY} ({error.message})")
    chosen = [category for category, types in zip(listed, kinds, strict=True) if names_maa(types)]
    if not chosen:
        return Categories(
            None, f"{EVERY_CATEGORY} (none lists an exclusion or approval activity type)"
        )
    plural = "y" if len(chosen) == 1 else "ies"
    shown = ", ".join(repr(category) for category in chosen)
    return Categories(tuple(chosen), f"exclusion history from audit categor{plural} {shown}")


async def _activity_types_of(client: GraphClient, categories: list[str]) -> list[list[str]]:
    answers = await client.batch_get([_activity_types(category) for category in categories])
    kinds = []
    for answer in answers:
        if answer.status >= 300:
            raise answer.error()
        kinds.append(_strings(answer.body, answer.path))
    return kinds


def _activity_types(category: str) -> str:
    literal = quote(odata_literal(category), safe="'")
    return f"{AUDIT_EVENTS}/getAuditActivityTypes(category={literal})"


def _strings(body: dict[str, Any], path: str) -> list[str]:
    value = body.get("value")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise GraphError(f"GET {path}: the answer holds no list of strings")
    return value


def names_maa(activity_types: Iterable[str]) -> bool:
    """Whether a category's activity types name exclusions or approvals (MAA's events)."""
    return any(word in kind.lower() for kind in activity_types for word in CATEGORY_WORDS)


def merge_audit_events(*parts: tuple[AuditEvent, ...]) -> tuple[AuditEvent, ...]:
    """Audit events read apart (the window, the exclusion history), each once, in time order."""
    by_id = {event.id: event for part in parts for event in part}
    return tuple(sorted(by_id.values(), key=lambda e: (e.activity_date_time, e.id)))


async def _audit_events(
    client: GraphClient, span: Window, clauses: list[str] | None = None
) -> Outcome[AuditEvent]:
    """The span's events for each clause, in slices split as they page (:func:`_slice_reads`);
    complete when every chain read is. Equal actors and resources share one object."""
    shared = _audit_values()
    reads = await _all_reads(
        [
            _slice_reads(client, span, clause, fan_out(span), shared=shared)
            for clause in clauses or [""]
        ]
    )
    problems = Problems()
    read_events: dict[str, AuditEvent | _Unfit] = {}
    for read in reads:
        if isinstance(read, GraphError):
            problems.add(read)
        else:
            for key, item in read.items():
                read_events.setdefault(key, item)
    events = []
    for position, item in enumerate(read_events.values()):
        if isinstance(item, AuditEvent):
            events.append(item)
        else:
            problems.malformed.append(malformed_item(AuditEvent, item.raw, position, item.error))
    events.sort(key=lambda event: (event.activity_date_time, event.id))
    return Outcome(tuple(events), problems.status(len(problems.errors) < len(reads)))


@dataclass(frozen=True, slots=True)
class _Unfit:
    """An audit event Graph sent that does not fit the model: recorded as malformed once it
    is known to be the first of its id over every chain."""

    raw: dict[str, Any]
    error: DecodeError


def _audit_values() -> SharedValues:
    """What equal audit events share: short strings (activities, results, names), actors and
    resources (a few apps and admins write most of the log)."""
    return SharedValues((AuditActor, AuditResource))


class _ChainEvents:
    """One chain's audit events by id (the first of an id wins), decoded as each page arrives
    (a page sink for :meth:`GraphClient.get_all`): the raw pages of a busy day are never held
    together; equal values share one object through ``shared``."""

    def __init__(self, shared: SharedValues) -> None:
        self.by_id: dict[str, AuditEvent | _Unfit] = {}
        self._shared = shared

    def extend(self, raws: list[dict[str, Any]], /) -> None:
        by_id = self.by_id
        with string_pool(self._shared):
            for raw in raws:
                key = str(raw.get("id"))
                if key not in by_id:
                    try:
                        by_id[key] = decode(AuditEvent, raw)
                    except DecodeError as error:
                        by_id[key] = _Unfit(raw, error)


# One chain read: its events by id, or its error.
SliceRead = dict[str, AuditEvent | _Unfit] | GraphError


async def _slice_reads(
    client: GraphClient,
    part: Window,
    clause: str,
    pieces: int,
    *,
    shared: SharedValues | None = None,
) -> list[SliceRead]:
    """The slice's first page, and the rest of its chain; or, when that page has a nextLink
    and ``pieces`` > 1, that many slices read at once, each following its own chain (the page
    is dropped: the slices hold its events). One entry per chain read: its events, or its
    error. ``shared``: the values equal events share over every chain (:func:`_audit_values`)."""
    params = _audit_params(part, clause)
    shared = shared or _audit_values()
    try:
        page = await client.get(AUDIT_EVENTS, params)
        if page.get("@odata.nextLink") is None or pieces < 2:
            chain = _ChainEvents(shared)
            await client.get_all(AUDIT_EVENTS, params, first=page, into=chain)
            return [chain.by_id]
    except GraphError as error:
        return [error]
    del page  # the slices read its events again: not held meanwhile
    slices = time_slices(part, pieces)
    return await _all_reads(
        [_slice_reads(client, piece, clause, 1, shared=shared) for piece in slices]
    )


def fan_out(span: Window) -> int:
    """How many slices a span that pages is read in: one per day, at most AUDIT_MAX_SLICES,
    none shorter than MIN_SLICE."""
    length = span.end - span.start
    days = int(length / timedelta(days=1) + 0.999)
    return max(1, min(AUDIT_MAX_SLICES, days, int(length / MIN_SLICE)))


async def _all_reads(work: list[Coroutine[Any, Any, list[SliceRead]]]) -> list[SliceRead]:
    """Every read run at once and waited for, even after one raised (then that is raised)."""
    results = await asyncio.gather(*work, return_exceptions=True)
    reads: list[SliceRead] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        reads.extend(result)
    return reads


def _audit_params(part: Window, clause: str) -> dict[str, str]:
    dates = (
        f"activityDateTime ge {format_datetime(part.start)} "
        f"and activityDateTime lt {format_datetime(part.end)}"
    )
    condition = f"{dates} and {clause}" if clause else dates
    return {"$filter": condition, "$select": AUDIT_FIELDS, "$top": INTUNE_TOP}
