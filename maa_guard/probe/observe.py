"""Reading Graph for the probe: one GET per endpoint (first page), kept raw for the report model.

Read-only, like the collector, through the same client: ``GET`` only, with
``Prefer: include-unknown-enum-members`` on every request. The raw answers hold tenant data;
only :mod:`maa_guard.probe.model` looks at them, and it keeps no tenant text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from maa_guard.collect import (
    AuthenticationError,
    Endpoint,
    GraphClient,
    GraphError,
    build_credential,
    resolve_endpoint,
)
from maa_guard.collect.graph import RetryPolicy, TokenCredential
from maa_guard.errors import EXIT_INCOMPLETE, MaaGuardError, UsageError
from maa_guard.probe.targets import (
    ACTIVITY_TYPES,
    EVENTS_BY_CATEGORY_KEY,
    GRAPH_ASSIGNED_TO,
    MAX_CATEGORIES,
    MAX_POLICY_READS,
    POLICY_BY_ID,
    Target,
    events_by_category,
    first_targets,
    in_function_call,
    is_maa_text,
    odata_quoted,
)

JsonObject = dict[str, Any]
# No answer from Graph: out of time (0), a body that is not JSON (598), no connection (599).
NO_ANSWER = frozenset({0, 598, 599})
# Ten years: more than the audit log keeps, and a date arithmetic cannot overflow.
MAX_DAYS = 3650
# A probe should answer quickly: fewer retries than a scan.
PROBE_RETRY = RetryPolicy(max_attempts=3)


class ProbeUnreachable(MaaGuardError):
    """Graph could not be reached at all, or rejected the token: nothing was observed."""

    exit_code = EXIT_INCOMPLETE


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    auth: str | None = None
    cloud: str = "global"
    graph_endpoint: str | None = None
    timeout: float = 3600.0
    days: int = 30


@dataclass(frozen=True, slots=True)
class Answer:
    """One GET. ``fill``: the id or category put in the path (tenant data, never reported)."""

    key: str
    status: int
    code: str = ""
    body: Mapping[str, Any] | None = None
    fill: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def items(self) -> list[JsonObject]:
        """The objects of a collection page (or of a string collection: none)."""
        values = (self.body or {}).get("value") if self.ok else None
        return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []

    def strings(self) -> list[str]:
        """The members of a string collection (a function's answer)."""
        values = (self.body or {}).get("value") if self.ok else None
        return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []

    @property
    def more(self) -> bool:
        return self.ok and bool((self.body or {}).get("@odata.nextLink"))


@dataclass(frozen=True, slots=True)
class Observations:
    """Every answer, in the order read; ``now`` and ``days`` set the audit window."""

    now: datetime
    days: int
    answers: tuple[Answer, ...]

    def of(self, key: str) -> list[Answer]:
        return [a for a in self.answers if a.key == key]

    def first(self, key: str) -> Answer | None:
        return next(iter(self.of(key)), None)


def probe_tenant(
    request: ProbeRequest, environ: Mapping[str, str], now: datetime | None = None
) -> Observations:
    """Sign in and read every endpoint once; ProbeUnreachable when nothing answered."""
    _check(request)
    endpoint = resolve_endpoint(request.cloud, request.graph_endpoint)
    moment = now or datetime.now(timezone.utc)
    try:
        credential = build_credential(request.auth, endpoint, environ)
        return asyncio.run(_observe_with(credential, endpoint, request, moment))
    except AuthenticationError as error:
        # As for every command: a credential that cannot get a token is configuration (exit 2).
        raise AuthenticationError(f"signing in failed: {error.message}", error.hint) from None


def _check(request: ProbeRequest) -> None:
    if not 1 <= request.days <= MAX_DAYS:
        raise UsageError(
            f"--days must be a whole number from 1 to {MAX_DAYS}",
            "the audit window, in days (default 30)",
        )
    if not request.timeout > 0:  # also NaN
        raise UsageError("--timeout must be a positive number of seconds", "e.g. --timeout 300")


async def _observe_with(
    credential: TokenCredential, endpoint: Endpoint, request: ProbeRequest, now: datetime
) -> Observations:
    client = GraphClient(credential, endpoint, timeout=request.timeout, retry=PROBE_RETRY)
    async with client:
        return await observe(client, now, request.days)


async def observe(client: GraphClient, now: datetime, days: int) -> Observations:
    """The first read alone (is Graph there?), then the rest, then the reads that need them."""
    targets = first_targets(now, days)
    head = await read(client, targets[0])
    _check_reached(head)
    answers = [head, *await asyncio.gather(*(read(client, t) for t in targets[1:]))]
    answers += await _dependent_reads(client, answers)
    categories = maa_categories(answers)
    by_category = events_by_category(now, days)
    answers += await _read_each(client, by_category, "category", categories)
    return Observations(now, days, tuple(answers))


async def read(client: GraphClient, target: Target, fill: str = "") -> Answer:
    """One GET; a failure is its status and Graph's error code, never a crash."""
    try:
        body = await client.get(target.path, target.params(), target.version)
    except GraphError as error:
        return Answer(target.key, error.status, error.code, None, fill)
    return Answer(target.key, 200, "", body, fill)


async def _read_each(
    client: GraphClient, target: Target, placeholder: str, values: Iterable[str]
) -> list[Answer]:
    reads = (read(client, target.filled(placeholder, _quoted(target, v)), v) for v in values)
    return list(await asyncio.gather(*reads))


def _quoted(target: Target, value: str) -> str:
    """A category as its place in the request needs it; an id as it is."""
    if target.key == ACTIVITY_TYPES.key:
        return in_function_call(value)
    if target.key == EVENTS_BY_CATEGORY_KEY:
        return odata_quoted(value)
    return value


async def _dependent_reads(client: GraphClient, answers: list[Answer]) -> list[Answer]:
    """Each listed policy by id, the Graph service principal's grants, each category's
    activity types."""
    by_key = {a.key: a for a in answers}
    policy_ids = _ids(by_key["policies.list"].items())[:MAX_POLICY_READS]
    graph_sp = _ids(_entity(by_key["apps.graphServicePrincipal"]))[:1]
    categories = by_key["audit.categories"].strings()[:MAX_CATEGORIES]
    parts = await asyncio.gather(
        _read_each(client, POLICY_BY_ID, "id", policy_ids),
        _read_each(client, GRAPH_ASSIGNED_TO, "id", graph_sp),
        _read_each(client, ACTIVITY_TYPES, "category", categories),
    )
    return [answer for part in parts for answer in part]


def maa_categories(answers: Iterable[Answer]) -> list[str]:
    """Categories that look like MAA's: by name, by an activity type, or by an event seen."""
    found: dict[str, None] = {}
    for answer in answers:
        if answer.key == "audit.categories":
            found.update(dict.fromkeys(c for c in answer.strings() if is_maa_text(c)))
        elif answer.key == "audit.activityTypes" and any(map(is_maa_text, answer.strings())):
            found[answer.fill] = None
        elif answer.key == "audit.events":
            found.update(dict.fromkeys(_maa_event_categories(answer.items())))
    return [category for category in found if category][:MAX_CATEGORIES]


def _maa_event_categories(events: Iterable[JsonObject]) -> list[str]:
    return [
        str(event.get("category") or "")
        for event in events
        if is_maa_text(
            event.get("activity"),
            event.get("activityType"),
            event.get("componentName"),
            event.get("category"),
        )
    ]


def _entity(answer: Answer) -> list[JsonObject]:
    return [dict(answer.body)] if answer.ok and answer.body else []


def _ids(items: Iterable[JsonObject]) -> list[str]:
    return [str(item["id"]) for item in items if isinstance(item.get("id"), str) and item["id"]]


def reached(answers: Iterable[Answer]) -> bool:
    """Graph answered at least once with something other than "who are you?" (401)."""
    return any(a.status not in NO_ANSWER and a.status != 401 for a in answers)


def _check_reached(head: Answer) -> None:
    if reached([head]):
        return
    if head.status == 401:
        raise ProbeUnreachable(
            "signing in failed: Graph rejected the token (HTTP 401)",
            "check --auth and the tenant the credential belongs to",
        )
    cause = head.code or "no answer"
    raise ProbeUnreachable(
        f"Graph could not be reached ({cause})",
        "check --graph-endpoint, --cloud and the network (proxy settings: HTTPS_PROXY)",
    )
