"""The probe's report: frozen data with no tenant text, only schema names, counts and hashes.

Built by :mod:`maa_guard.probe.model`, judged by :mod:`maa_guard.probe.verdicts`, drawn by
:mod:`maa_guard.probe.render`. Every string in it is a schema name (property, enum member, error
code, resource type) that passed :class:`~maa_guard.probe.redact.Redactor`, one of Microsoft's
audit strings made inert, a salted hash, or the probe's own words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

SCHEMA_VERSION = 1


class Verdict(str, enum.Enum):
    CONFIRMED = "confirmed"
    CONTRADICTED = "contradicted"
    NOT_SEEN = "not seen"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """The GETs of one endpoint: ``status`` is the worst (None: not read, ``note`` says why)."""

    key: str
    version: str
    path: str
    query: str
    permission: str
    calls: int
    ok: int
    status: int | None
    codes: tuple[str, ...] = ()
    items: int | None = None
    more: bool = False
    note: str = ""

    @property
    def selects(self) -> bool:
        return "$select=" in self.query


@dataclass(frozen=True, slots=True)
class PropertyShape:
    """A property path (``a.b``, ``a[].b``), its JSON types, and on how many objects it was."""

    name: str
    types: tuple[str, ...]
    count: int

    @property
    def top_level(self) -> bool:
        return "." not in self.name


@dataclass(frozen=True, slots=True)
class Shapes:
    """``left_out``: property paths beyond the report's limit, counted only."""

    objects: int
    properties: tuple[PropertyShape, ...]
    left_out: int = 0

    def get(self, name: str) -> PropertyShape | None:
        return next((p for p in self.properties if p.name == name), None)

    def count(self, name: str) -> int:
        found = self.get(name)
        return found.count if found is not None else 0


@dataclass(frozen=True, slots=True)
class ValueCount:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class EnumCounts:
    field: str
    values: tuple[ValueCount, ...]


@dataclass(frozen=True, slots=True)
class Share:
    count: int
    total: int

    @property
    def fraction(self) -> float:
        return self.count / self.total if self.total else 0.0

    def percent(self) -> str:
        return f"{self.fraction * 100:.0f}%"


@dataclass(frozen=True, slots=True)
class FieldShare:
    """A payload field: on how many requests it was at all, and not null."""

    name: str
    present: int
    non_null: int
    total: int


@dataclass(frozen=True, slots=True)
class PolicySection:
    listed: int
    read_by_id: int
    list_shapes: Shapes
    shapes: Shapes
    undocumented: tuple[str, ...]
    exclusion_property: PropertyShape | None
    enums: tuple[EnumCounts, ...]


@dataclass(frozen=True, slots=True)
class RequestSection:
    read: int
    shapes: Shapes
    undocumented: tuple[str, ...]
    enums: tuple[EnumCounts, ...]
    null_requestor: Share
    null_approver: Share
    decided: int
    decided_without_approver: int
    payload_fields: tuple[FieldShare, ...]


@dataclass(frozen=True, slots=True)
class CategoryTypes:
    """One ``getAuditActivityTypes`` answer; ``well_formed``: a list of strings."""

    category: str
    status: int
    types: tuple[str, ...]
    well_formed: bool


@dataclass(frozen=True, slots=True)
class AuditTuple:
    category: str
    activity_type: str
    activity: str
    component: str
    resource_types: tuple[str, ...]
    modified_properties: tuple[str, ...]
    count: int


@dataclass(frozen=True, slots=True)
class AuditSection:
    categories_status: int | None
    categories_well_formed: bool
    categories: tuple[str, ...]
    activity_types: tuple[CategoryTypes, ...]
    events_read: int
    more_events: bool
    maa_events: tuple[AuditTuple, ...]
    exclusion_events: int
    exclusion_events_named: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything observed, before the assumptions are judged."""

    endpoints: tuple[EndpointRow, ...]
    policies: PolicySection
    requests: RequestSection
    audit: AuditSection

    def endpoint(self, key: str) -> EndpointRow | None:
        return next((row for row in self.endpoints if row.key == key), None)


@dataclass(frozen=True, slots=True)
class Judgement:
    key: str
    statement: str
    verdict: Verdict
    observation: str


@dataclass(frozen=True, slots=True)
class ProbeReport:
    tool_version: str
    generated_at: datetime
    cloud: str
    custom_endpoint: bool
    tenant: str | None
    window_days: int
    evidence: Evidence
    assumptions: tuple[Judgement, ...]
