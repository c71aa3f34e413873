"""OData query options as Graph applies them: ``$filter`` forms, ``$select``, ``$top``, enums."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from maa_guard.emulator.wire import Json, Reply, error
from maa_guard.snapshot.codec import parse_datetime
from maa_guard.snapshot.published import PUBLISHED_POLICY_TYPES

Predicate = Callable[[Json], bool]

MAX_TOP = {"directory": 999, "reports": 1000, "intune": 1000, "conditionalAccess": 1000}
DEFAULT_TOP = {"directory": 100, "reports": 1000, "intune": 100, "conditionalAccess": 100}

# Filterable properties per collection: the forms the collector sends.
FILTERABLE: dict[str, frozenset[str]] = {
    "servicePrincipals": frozenset({"appId", "displayName"}),
    "applications": frozenset({"appId", "displayName"}),
    "reports/servicePrincipalSignInActivities": frozenset({"appId"}),
    "auditLogs/signIns": frozenset({"appId", "createdDateTime", "signInEventTypes"}),
    "deviceManagement/auditEvents": frozenset({"activityDateTime", "category"}),
}
# A string literal doubles each quote it holds: 'O''Brien'.
_CLAUSE = re.compile(
    r"^(?P<prop>\w+) (?P<op>eq|ge|le|gt|lt) (?P<value>'(?:[^']|'')*'|[0-9][0-9T:.+\-Z]*)$"
)
_ANY = re.compile(r"^(?P<prop>\w+)/any\((?P<var>\w+):\s*(?P=var) eq '(?P<value>[^']*)'\)$")
# ``and`` outside string literals (an even number of quotes follows it).
_AND = re.compile(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)


def page_size(query: Mapping[str, str], endpoint_class: str) -> int | Reply:
    raw = query.get("$top")
    if raw is None:
        return DEFAULT_TOP[endpoint_class]
    maximum = MAX_TOP[endpoint_class]
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        return error(
            400,
            "Request_BadRequest" if endpoint_class == "directory" else "BadRequest",
            f"Invalid page size specified: '{raw}'. Must be between 1 and {maximum} inclusive.",
        )
    return int(raw)


def parse_filter(text: str, collection: str) -> Predicate | Reply:
    """A predicate for the supported forms; 400 as Graph answers for anything else."""
    allowed = FILTERABLE.get(collection, frozenset())
    predicates: list[Predicate] = []
    for clause in _AND.split(text.strip()):
        predicate = _clause(clause.strip(), allowed)
        if predicate is None:
            return _unsupported(clause, collection)
        predicates.append(predicate)
    return lambda item: all(p(item) for p in predicates)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A ``$filter`` made only of date comparisons of one property: the items whose value is
    in ``[low, high]``, an end left out when ``*_open`` (strict) or None (unbounded)."""

    prop: str
    low: datetime | None = None
    low_open: bool = False
    high: datetime | None = None
    high_open: bool = False


def time_range(text: str, collection: str) -> TimeRange | None:
    """The filter as a :class:`TimeRange`, when it is one (else None: use the predicate)."""
    found: TimeRange | None = None
    for clause in _AND.split(text.strip()):
        match = _CLAUSE.match(clause.strip())
        if match is None or match["prop"] not in FILTERABLE.get(collection, frozenset()):
            return None
        moment = None if match["value"].startswith("'") else _datetime(match["value"])
        if moment is None or (found is not None and found.prop != match["prop"]):
            return None
        found = _narrowed(found or TimeRange(match["prop"]), match["op"], moment)
    return found


def ranged(text: str, collection: str) -> tuple[TimeRange, Predicate | None] | None:
    """The filter's date comparisons of one property as a :class:`TimeRange` (answered by
    bisection), and a predicate for its other clauses (None when there are none); None when
    it has no such comparisons. The filter was already checked by :func:`parse_filter`."""
    clauses = [clause.strip() for clause in _AND.split(text.strip())]
    dated = [clause for clause in clauses if time_range(clause, collection) is not None]
    span = time_range(" and ".join(dated), collection) if dated else None
    if span is None:
        return None
    rest = [clause for clause in clauses if clause not in dated]
    predicate = parse_filter(" and ".join(rest), collection) if rest else None
    return None if isinstance(predicate, Reply) else (span, predicate)


def _narrowed(current: TimeRange, op: str, moment: datetime) -> TimeRange:
    result = current
    if op in ("ge", "gt", "eq"):
        candidate = (moment, op == "gt")
        if result.low is None or candidate > (result.low, result.low_open):
            result = dataclasses.replace(result, low=moment, low_open=op == "gt")
    if op in ("le", "lt", "eq"):
        candidate = (moment, op != "lt")
        if result.high is None or candidate < (result.high, not result.high_open):
            result = dataclasses.replace(result, high=moment, high_open=op == "lt")
    return result


def _clause(clause: str, allowed: frozenset[str]) -> Predicate | None:
    any_match = _ANY.match(clause)
    if any_match and any_match["prop"] in allowed:
        prop, wanted = any_match["prop"], any_match["value"].lower()
        return lambda item: wanted in [str(v).lower() for v in item.get(prop) or []]
    match = _CLAUSE.match(clause)
    if match is None or match["prop"] not in allowed or match["prop"] == "signInEventTypes":
        return None
    prop, op, value = match["prop"], match["op"], match["value"]
    if value.startswith("'"):
        return _string_clause(prop, op, value[1:-1].replace("''", "'"))
    moment = _datetime(value)
    return None if moment is None else _time_clause(prop, op, moment)


def _string_clause(prop: str, op: str, value: str) -> Predicate | None:
    if op != "eq":
        return None
    wanted = value.lower()
    return lambda item: str(item.get(prop, "")).lower() == wanted


def _time_clause(prop: str, op: str, moment: datetime) -> Predicate:
    compare: dict[str, Callable[[datetime, datetime], bool]] = {
        "eq": lambda a, b: a == b,
        "ge": lambda a, b: a >= b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "lt": lambda a, b: a < b,
    }

    def predicate(item: Json) -> bool:
        value = _datetime(str(item.get(prop, "")))
        return value is not None and compare[op](value, moment)

    return predicate


def _datetime(text: str) -> datetime | None:
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def _unsupported(clause: str, collection: str) -> Reply:
    prop = re.split(r"[ /(]", clause.strip(), maxsplit=1)[0]
    resource = collection.rsplit("/", 1)[-1]
    return error(
        400,
        "Request_UnsupportedQuery" if "/" not in collection else "BadRequest",
        f"Unsupported or invalid query filter clause specified for property '{prop}' "
        f"of resource '{resource}'.",
    )


def parse_select(query: Mapping[str, str]) -> tuple[str, ...] | None:
    raw = query.get("$select")
    if raw is None:
        return None
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def project(item: Json, select: tuple[str, ...] | None) -> Json:
    """``$select`` keeps the named properties, plus ``id`` and ``@odata.type`` when present."""
    if select is None:
        return dict(item)
    keep = {"id", "@odata.type", *select}
    return {key: value for key, value in item.items() if key in keep}


# Besides the members before it, the published ones after the sentinel and the documented late
# ones read as ``unknownFutureValue`` without ``Prefer: include-unknown-enum-members``.
_KNOWN_POLICY_TYPES = frozenset(
    PUBLISHED_POLICY_TYPES[: PUBLISHED_POLICY_TYPES.index("unknownFutureValue")]
)
_ENUM_COLLECTIONS = (
    "deviceManagement/operationApprovalPolicies",
    "deviceManagement/operationApprovalRequests",
)


def include_unknown_enums(prefer: str | None) -> bool:
    return "include-unknown-enum-members" in (prefer or "").lower()


def mask_enums(collection: str, items: Iterable[Json]) -> list[Json]:
    """Members after ``unknownFutureValue`` read as ``unknownFutureValue`` without ``Prefer``."""
    if collection not in _ENUM_COLLECTIONS:
        return list(items)
    return [_mask_item(item) for item in items]


def _mask_item(item: Json) -> Json:
    result = dict(item)
    if "policyType" in result:
        result["policyType"] = _mask(result["policyType"])
    if isinstance(result.get("policySet"), dict):
        result["policySet"] = {**result["policySet"]}
        result["policySet"]["policyType"] = _mask(result["policySet"].get("policyType"))
    if isinstance(result.get("requiredOperationApprovalPolicyTypes"), list):
        types = result["requiredOperationApprovalPolicyTypes"]
        result["requiredOperationApprovalPolicyTypes"] = [_mask(value) for value in types]
    return result


def _mask(value: Any) -> Any:
    if isinstance(value, str) and value not in _KNOWN_POLICY_TYPES:
        return "unknownFutureValue"
    return value
