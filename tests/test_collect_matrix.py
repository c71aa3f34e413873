"""The fault matrix: every fault kind against every data source of the collector.

The demo tenant is collected through the emulator over real HTTP, once clean and once per
(source, fault), with that fault on the Graph route(s) the source reads. Each run must either
recover with exactly the clean snapshot parts, or mark the faulted source and sources that
depend on it not complete, with a reason; a source marked complete must hold exactly the
clean data. Never a silent, different "complete".

To make the paging faults bite, the emulator serves at most ``PAGE`` items per page (Graph
may answer with fewer items than ``$top``), so most collections span several pages. The
token holds exactly the least-privilege permissions (``maa-guard permissions``) plus
Organization.Read.All for the best-effort tenant facts, so denying a route's one
permission really denies the route (Directory.Read.All would grant it again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from rich.console import Console

from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.budget import unlimited
from maa_guard.collect.graph import RetryPolicy
from maa_guard.collect.permissions import permission_for, required_permissions
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles, odata, routes
from maa_guard.emulator.faults import Faults, route_matches
from maa_guard.model import SourceState
from maa_guard.scan.live import LiveOptions, collect_live
from maa_guard.scan.progress import plain_progress, progress_display, rich_progress
from maa_guard.scan.served import demo_path
from maa_guard.snapshot import SOURCES, Snapshot, SourceStatus
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
DAYS = 200  # the demo's audit log reaches back to May
PAGE = 2
TOKEN = "least-privilege-reader"
# Fast retries: 12 attempts, 1 ms doubling up to 20 ms, no jitter spread.
RETRY = RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.02)


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none on first read."""
    return min(r.request_date_time for r in DEMO.approval_requests)


# The Graph routes (emulator route keys: a key covers everything below it) each source reads.
ROUTES: dict[str, tuple[str, ...]] = {
    "access_policies": ("deviceManagement/operationApprovalPolicies",),
    # the per-policy GET carries the exclusions property; the audit log replays changes
    "exclusions": (
        "deviceManagement/operationApprovalPolicies/{id}",
        "deviceManagement/auditEvents",
    ),
    "approval_requests": ("deviceManagement/operationApprovalRequests",),
    "groups": ("groups",),
    "users": ("users",),
    "service_principals": ("servicePrincipals", "applications"),
    "conditional_access": ("identity/conditionalAccess/policies",),
    "rbac": ("deviceManagement/roleDefinitions", "deviceManagement/roleAssignments"),
    "audit_events": ("deviceManagement/auditEvents",),
    "sign_in_activity": ("reports/servicePrincipalSignInActivities",),
}
# Best-effort tenant facts: not a data source, never faulted here.
TENANT_FACTS = ("organization", "subscribedSkus", "deviceManagement")
# Which sources are built from which (maa_guard.collect.collector._sources).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "exclusions": ("access_policies", "audit_events", "service_principals"),
    "groups": ("access_policies", "rbac"),
    "users": ("groups",),
    "service_principals": ("access_policies", "audit_events"),
    "sign_in_activity": ("service_principals",),
}


def _spec(kind: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if kind == "rate_5xx":  # seed 1: the first draw fires; 0.3**12 never exhausts a retry
        return {"rate_5xx": 0.3, "routes_5xx": list(keys), "seed": 1}
    if kind == "script":  # transient, and without Retry-After (429/503 would wait 1 s)
        return {"script": {key: [500, 502, 504] for key in keys}}
    if kind == "script_400":  # a permanent 4xx: fails fast
        return {"script": {key: [400] for key in keys}}
    if kind == "deny":
        return {"deny": {key: permission_for(key.replace("{id}", "x")) for key in keys}}
    return {kind: list(keys)}


FAULTS = (
    "rate_5xx",
    "script",
    "script_400",
    "reset",
    "truncate",
    "expire_skiptoken",
    "empty_page",
    "loop",
    "duplicate",
    "deny",
)
# Faults that cannot fire on the demo data: every list the route serves fits in one page
# (licence details: one per user; owners, grants, federated credentials: at most two; two
# Conditional Access policies), so there is no nextLink to expire and no next page to
# overlap. The test proves they did not fire; they trivially recover.
# Transient faults always recover: retries outlast them, a repaired page is read again, and
# an expired skip token restarts its chain (top-level or begun inside $batch) from its first
# page. Only a permanent 4xx, a denied permission and a nextLink loop may leave sources
# incomplete.
ALWAYS_RECOVER = frozenset(
    {"rate_5xx", "script", "reset", "truncate", "expire_skiptoken", "empty_page", "duplicate"}
)
CANNOT_FIRE = {
    ("users", "expire_skiptoken"),
    ("users", "duplicate"),
    ("conditional_access", "expire_skiptoken"),
    ("conditional_access", "duplicate"),
}


@dataclass(frozen=True, slots=True)
class Run:
    snapshot: Snapshot
    fired: frozenset[str]  # fault kinds that fired, and "status:<n>" answered on faulted routes
    events: tuple[tuple[str, SourceStatus, int], ...]  # what the collector told progress()
    templates: frozenset[str]  # the emulator's route template of every path requested


@pytest.fixture(scope="module", autouse=True)
def small_pages_and_fault_record() -> Iterator[list[str]]:
    """Pages of at most ``PAGE`` items; every counted fault that fires is recorded."""
    fired: list[str] = []
    page_size, take = odata.page_size, Faults.take

    def small_page(query: Any, endpoint_class: str) -> Any:
        size = page_size(query, endpoint_class)
        return min(size, PAGE) if isinstance(size, int) else size

    def recording_take(self: Faults, kind: str, template: str) -> bool:
        hit = take(self, kind, template)
        if hit:
            fired.append(kind)
        return hit

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(odata, "page_size", small_page)
        patch.setattr(Faults, "take", recording_take)
        yield fired


def _fixture() -> dict[str, Any]:
    fixture = fixture_from_snapshot(DEMO)
    reader = fixture["tokens"][graphroles.READER_TOKEN]
    roles = [*required_permissions(), "Organization.Read.All"]
    fixture["tokens"][TOKEN] = {**reader, "roles": roles}
    return fixture


def run(fired: list[str], faults: dict[str, Any] | None, keys: tuple[str, ...] = ()) -> Run:
    events: list[tuple[str, SourceStatus, int]] = []

    def progress(source: str, status: SourceStatus, count: int) -> None:
        events.append((source, status, count))

    async def go(url: str) -> Snapshot:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(TOKEN)
        client = GraphClient(
            credential, endpoint, budgets=unlimited(), timeout=30, retry=RETRY, jitter=lambda: 0.5
        )
        async with client:
            return await collect(client, Settings(), DAYS, now=DEMO.collected_at, progress=progress)

    fired.clear()
    with Emulator(
        _fixture(), faults=faults, throttle=False, now=demo_now, fixed_tokens=True
    ) as emulator:
        snapshot = asyncio.run(go(emulator.url))
        log = emulator.requests
        templates = {_template(emulator, r.path) for r in log if not r.path.endswith("$batch")}
        statuses = {f"status:{r.status}" for r in log if _on(r.path, keys)}
    return Run(snapshot, frozenset(fired) | statuses, tuple(events), frozenset(templates))


def _template(emulator: Emulator, path: str) -> str:
    """The route template; a 404 (an appId without a service principal) keeps its collection."""
    bare = path.split("/", 2)[2].split("?", 1)[0]
    target = routes.resolve(emulator.tenant, bare)
    return target.template if isinstance(target, routes.Target) else bare.split("(", 1)[0]


def _on(path: str, keys: tuple[str, ...]) -> bool:
    bare = path.split("/", 2)[2].split("?", 1)[0]
    return any(bare.lower().startswith(key.split("/{id}")[0].lower()) for key in keys)


@pytest.fixture(scope="module")
def clean(small_pages_and_fault_record: list[str]) -> Run:
    return run(small_pages_and_fault_record, None)


# ---- comparing snapshot parts ----------------------------------------------------------------


def canonical(items: Any) -> list[str]:
    """Graph's order is not part of the contract: compare as sorted JSON."""
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def _policies(snapshot: Snapshot) -> list[str]:
    return canonical({**encode(p), "exclusions": None} for p in snapshot.policies)


def _exclusions(snapshot: Snapshot) -> list[str]:
    return canonical(
        {"policy": p.id, "exclusions": canonical(encode(e) for e in p.exclusions)}
        for p in snapshot.policies
    )


def _part(name: str) -> Callable[[Snapshot], list[str]]:
    return lambda snapshot: canonical(encode(item) for item in getattr(snapshot, name))


def _rbac(snapshot: Snapshot) -> list[str]:
    return _part("role_definitions")(snapshot) + _part("role_assignments")(snapshot)


PARTS: dict[str, Callable[[Snapshot], list[str]]] = {
    "access_policies": _policies,
    "exclusions": _exclusions,
    "approval_requests": _part("approval_requests"),
    "groups": _part("groups"),
    "users": _part("users"),
    "service_principals": _part("service_principals"),
    "conditional_access": _part("conditional_access_policies"),
    "rbac": _rbac,
    "audit_events": _part("audit_events"),
    "sign_in_activity": _part("sign_in_activity"),
}


def may_be_incomplete(faulted: tuple[str, ...]) -> set[str]:
    """Sources reading a faulted route, and every source built from those, transitively."""
    found = {
        source
        for source, keys in ROUTES.items()
        for key in keys
        for route in faulted
        if route_matches(key, route) or route_matches(route, key)
    }
    while True:
        more = {s for s, inputs in DEPENDS_ON.items() if found & set(inputs)} - found
        if not more:
            return found
        found |= more


# ---- the clean run -------------------------------------------------------------------------


def test_the_clean_run_is_complete_with_least_privilege(clean: Run) -> None:
    assert clean.snapshot.sources == {
        name: SourceStatus(
            SourceState.COMPLETE, reason=FROM_PROPERTY if name == "exclusions" else ""
        )
        for name in SOURCES
    }
    assert clean.snapshot.tenant == DEMO.tenant
    assert len(clean.snapshot.audit_events) == len(DEMO.audit_events)


def test_every_route_the_collector_reads_belongs_to_a_source(clean: Run) -> None:
    keys = [key for source_keys in ROUTES.values() for key in source_keys] + list(TENANT_FACTS)
    unmapped = {t for t in clean.templates if not any(route_matches(k, t) for k in keys)}
    assert unmapped == set()
    assert set(ROUTES) == set(SOURCES)


# ---- the matrix ----------------------------------------------------------------------------


def _cells() -> list[Any]:
    return [
        pytest.param(source, fault, id=f"{source}-{fault}")
        for source in SOURCES
        for fault in FAULTS
    ]


@pytest.mark.parametrize(("source", "fault"), _cells())
def test_a_fault_recovers_or_marks_the_source_incomplete(
    clean: Run, small_pages_and_fault_record: list[str], source: str, fault: str
) -> None:
    keys = ROUTES[source]
    faulted = run(small_pages_and_fault_record, _spec(fault, keys), keys)
    snapshot = faulted.snapshot
    _assert_fired(faulted, source, fault)
    incomplete = {n for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE}
    assert incomplete <= (set() if fault in ALWAYS_RECOVER else may_be_incomplete(keys))
    assert all(snapshot.sources[n].reason for n in incomplete)
    differs = {
        n for n in set(SOURCES) - incomplete if PARTS[n](snapshot) != PARTS[n](clean.snapshot)
    }
    assert differs == set(), f"complete yet different from the clean run: {sorted(differs)}"
    assert snapshot.tenant == clean.snapshot.tenant


def _assert_fired(faulted: Run, source: str, fault: str) -> None:
    evidence = {
        "rate_5xx": "status:503",
        "script": "status:504",
        "script_400": "status:400",
        "deny": "status:403",
    }.get(fault, fault)
    if (source, fault) in CANNOT_FIRE:
        assert evidence not in faulted.fired
    else:
        assert evidence in faulted.fired


# ---- paging edge cases not in test_collect_faults.py ---------------------------------------

REQUESTS = "deviceManagement/operationApprovalRequests"


def test_an_empty_page_then_a_link_to_itself_is_a_next_link_loop(
    clean: Run, small_pages_and_fault_record: list[str]
) -> None:
    """The empty first page links to offset 0; that page links to itself: the link was seen."""
    faults = {"empty_page": [REQUESTS], "loop": [REQUESTS]}
    snapshot = run(small_pages_and_fault_record, faults).snapshot
    assert snapshot.sources["approval_requests"] == SourceStatus(
        SourceState.FAILED, reason=f"{REQUESTS}: @odata.nextLink loop"
    )
    assert snapshot.approval_requests == ()
    assert {n for n, s in snapshot.sources.items() if s.state is not SourceState.COMPLETE} == {
        "approval_requests"
    }


@pytest.mark.parametrize(
    "faults",
    [
        {"empty_page": {REQUESTS: 1}, "duplicate": {REQUESTS: 3}},
        {"empty_page": {"groups": 4}, "duplicate": {"groups": 4}},
    ],
    ids=["requests-get-all", "group-relations-in-batch"],
)
def test_empty_pages_and_duplicates_together_recover_exactly(
    clean: Run, small_pages_and_fault_record: list[str], faults: dict[str, Any]
) -> None:
    faulted = run(small_pages_and_fault_record, faults)
    assert {"empty_page", "duplicate"} <= faulted.fired
    assert faulted.snapshot.sources == clean.snapshot.sources
    assert PARTS["approval_requests"](faulted.snapshot) == PARTS["approval_requests"](
        clean.snapshot
    )
    assert PARTS["groups"](faulted.snapshot) == PARTS["groups"](clean.snapshot)


# ---- the progress display, fed by the clean collection's own progress calls -----------------

FROM_PROPERTY = (
    "from the access policies' property 'excludedApplicationIds' and the audit log; "
    "exclusion history from audit category 'Role'"
)
PLAIN_LINES = [
    "collected access_policies: complete, 7 item(s)",
    "collected approval_requests: complete, 12 item(s)",
    "collected audit_events: complete, 40 item(s)",
    "collected conditional_access: complete, 2 item(s)",
    f"collected exclusions: complete, 7 item(s) ({FROM_PROPERTY})",
    "collected groups: complete, 6 item(s)",
    "collected rbac: complete, 6 item(s)",
    "collected service_principals: complete, 8 item(s)",
    "collected sign_in_activity: complete, 8 item(s)",
    "collected users: complete, 15 item(s)",
]
HOSTILE = SourceStatus(
    SourceState.PARTIAL, reason="GET groups/x: [bold red]Contoso[/] \x1b[2J\nnext line"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_progress_is_one_line_per_source(clean: Run) -> None:
    stream = io.StringIO()
    report = plain_progress(stream)
    for event in clean.events:
        report(*event)
    assert sorted(stream.getvalue().splitlines()) == PLAIN_LINES


def test_plain_progress_keeps_a_reason_on_one_inert_line() -> None:
    stream = io.StringIO()
    plain_progress(stream)("groups", HOSTILE, 3)
    assert stream.getvalue() == (
        "collected groups: partial, 3 item(s) "
        "(GET groups/x: [bold red]Contoso[/] \\x1b[2J next line)\n"
    )


def final_frame(rendered: str) -> list[str]:
    """The rows of the display's last frame (after its last line clear), spaces collapsed."""
    frame = rendered.rsplit("\x1b[2K", 1)[-1].replace("\x1b[?25h", "")
    return [" ".join(row.split()) for row in frame.splitlines() if row.strip()]


def test_rich_progress_shows_every_source_with_its_count(clean: Run) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    with rich_progress(console) as report:
        for event in clean.events:
            report(*event)
    expected = [line.removeprefix("collected ").replace(":", "", 1) for line in PLAIN_LINES]
    assert sorted(final_frame(out.getvalue())) == expected


def test_rich_progress_does_not_read_tenant_text_as_markup() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    with rich_progress(console, ("groups", "[red]users[/red]", "rbac")) as report:
        report("groups", HOSTILE, 3)
        report("[red]users[/red]", SourceStatus(SourceState.COMPLETE), 1)
    groups, users, rbac = final_frame(out.getvalue())
    assert groups == (
        "groups partial, 3 item(s) (GET groups/x: [bold red]Contoso[/] \\x1b[2J next line)"
    )
    assert users == "[red]users[/red] complete, 1 item(s)"
    assert rbac.split()[1:] == ["rbac", "collecting"]  # after the spinner's current frame


@pytest.mark.parametrize(
    ("stream", "environ", "quiet", "expected"),
    [
        (Terminal(), {}, False, "rich"),
        (Terminal(), {"CI": "true"}, False, "plain"),
        (io.StringIO(), {}, False, "plain"),
        (Terminal(), {}, True, "none"),
        (io.StringIO(), {"CI": "1"}, True, "none"),
    ],
    ids=["terminal", "terminal-in-ci", "pipe", "quiet-terminal", "quiet-ci"],
)
def test_the_display_is_chosen_by_terminal_ci_and_quiet(
    stream: io.StringIO, environ: dict[str, str], quiet: bool, expected: str
) -> None:
    with progress_display(stream, environ, quiet) as report:
        if report is not None:
            report("groups", SourceStatus(SourceState.COMPLETE), 6)
    written = stream.getvalue()
    kind = "none" if report is None else ("rich" if "\x1b[" in written else "plain")
    assert kind == expected
    if expected == "plain":
        assert written == "collected groups: complete, 6 item(s)\n"
    if expected == "rich":
        assert "groups" in written and "complete, 6 item(s)" in written
    if expected == "none":
        assert written == ""


@pytest.mark.parametrize("quiet", [False, True], ids=["plain", "quiet"])
def test_collect_live_prints_progress_unless_quiet(
    small_pages_and_fault_record: list[str], quiet: bool
) -> None:
    options = LiveOptions(auth="token", days=365, quiet=quiet)  # now is today: reach May
    stream = io.StringIO()
    with Emulator(_fixture(), now=demo_now, fixed_tokens=True) as emulator:
        live = dataclasses.replace(options, graph_endpoint=emulator.url)
        environ = {"MAA_GUARD_ACCESS_TOKEN": TOKEN}
        snapshot = collect_live(live, Settings(), environ, stream)
    assert set(snapshot.sources) == set(SOURCES)
    assert sorted(stream.getvalue().splitlines()) == ([] if quiet else PLAIN_LINES)
