"""Benchmark: live collection of a large tenant from the emulator.

Not a test: it prints figures. Run from the repository root:

    python tests/benchmarks/bench_collect.py [--scale 1.0] [--latency-ms 50]
        [--naive-requests 150] [--in-process]

The tenant (at ``--scale 1``): 20,000 service principals, 300 exclusions over 60 access
policies, 50 approver groups with 500 members, 200,000 Intune audit events over 30 days
written by 2,000 app-only identities (the writer spread of ``bench_scan.py``), 20,000
approval requests, sign-in activity for half the service principals. It is built with the
generator of ``bench_scan.py`` and served by ``fixture_from_snapshot`` on the emulator with
``--latency-ms`` (50) added to every HTTP reply and the documented throttle budgets.

The emulator runs in a child process (forked, so the fixture is not copied through a pipe):
in-process it would share the GIL with the collector, and its JSON work would be billed to
the collector's wall time, which neither Graph nor a network does. ``--in-process`` runs it
in a thread instead, for comparison.

Measured, in one run against the same emulator:

1. The real collector: ``collect`` through ``GraphClient`` with a ``StaticTokenCredential``
   of the emulator's reader token. Wall time; HTTP requests (``$batch`` counted once); Graph
   calls (``$batch`` items counted one by one); 429s, from the emulator's request log.
2. The critical-path lower bound. From the emulator's log of the real run, the calls the
   throttle admitted (status < 400; a 404 of a missing object is refused before the throttle
   and costs nothing) are summed per endpoint class, in the units the emulator charges
   (directory: resource units; others: requests). Against a sliding window of C units per W
   seconds, U units need at least ``(ceil(U / C) - 1) * W`` seconds between the first
   admission and the last; add the round trips that cannot overlap (one reply latency at the
   end; for the directory two more before it, since its first objects are named by the
   access policies: list, then GET). The sign-in report is one nextLink chain (it has no
   filter to slice it by), so its last window's pages follow each other. The longest chain
   the emulator cannot split (report pages, approval-request pages) times the latency is a
   bound of its own, and so is the deepest data dependency (policy list, policy, approver
   group members, user: 4 round trips). The lower bound is the largest of these. It ignores
   server time and the dependencies inside the directory work (service principal, then its
   relationships, then its application, then the application's), so no collector reaches it.
3. A naive sequential collector (``naive_collector.py``) against the same emulator with a
   token of its own (a separate per-app budget; Conditional Access is per tenant, so it
   starts a second later): one request at a time, following nextLink, one GET per object,
   no ``$batch``, default page sizes, as the seed scripts. To keep the run short each source
   stops after ``--naive-requests`` requests (0: no limit) and is extrapolated linearly to
   all its units; the dependent sources take their object ids from the real collection.
   The output names every extrapolated source.
4. The command line as a user runs it: ``maa-guard snapshot -o FILE`` and ``maa-guard scan
   -o json=FILE``, each in its own process (``--auth token``, a token of its own, and the
   ``--days`` that reach back from today's clock to the tenant's window, since the command
   line has no fixed now). Wall time from spawn to exit, the file written, against the
   lower bound of 2; the time from the emulator's last reply to the exit (the tail after the
   last page); the process's peak RSS (``ru_maxrss`` from ``os.wait4``, through the small
   launcher ``measured.py``: Linux carries the high-water mark across ``exec``, so a child
   of this large process would report this process's size) against the file it wrote, and
   the scan's against the snapshot file too. Reply times come from a wrapper around the
   emulator's ``Service.handle`` and ``time.monotonic()``, one clock for every process.

5. The incremental case: after the two runs of 4, ``--change`` (1 %) of the service
   principals, applications, users and groups are changed through the emulator's change API
   (renamed, a new client secret, enabled state toggled), and as many audit events as 1 % of
   the log appended; then ``maa-guard snapshot --since FILE -o FILE2`` builds on the file the
   ``snapshot`` run wrote. Its wall time, HTTP requests and Graph calls against that run's.

Targets: real collector within 1.5x of the lower bound; at least 10x faster than the naive
collector; no 429 under the documented budgets; the incremental run in at most 0.2x the
first snapshot's requests and time. ``--scale 0.05`` is a smoke check (under a
minute).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bench_scan import (
    NOW,
    TENANT,
    _ca_policy,
    _event,
    _group,
    _policy,
    _request,
    _service_principal,
    generate,
    guid,
    iso,
)
from measured import Measured
from measured import run as run_measured
from naive_collector import NaiveCollector, SourceRun

from maa_guard.collect import GraphClient, StaticTokenCredential, collect, resolve_endpoint
from maa_guard.collect.apps import app_only_writers
from maa_guard.collect.budget import EndpointClass, endpoint_class, resource_units
from maa_guard.collect.common import unique
from maa_guard.collect.directory import user_ids_of
from maa_guard.collect.intune import REQUESTS
from maa_guard.collect.tenant import SP_ACTIVITY
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.emulator.throttle import DEFAULT_LIMITS
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.file import parse_snapshot

DAYS = 30
NAIVE_TOKEN = "maa-guard-bench-naive"
# The command-line runs sign in as apps of their own: fresh per-app budgets each.
COMMAND_TOKENS = {
    "snapshot": "maa-guard-bench-snapshot",
    "scan": "maa-guard-bench-scan",
    "incremental": "maa-guard-bench-incremental",
}
# Emulator throttle class per collector endpoint class.
EMULATOR_CLASS = {
    EndpointClass.INTUNE: "intune",
    EndpointClass.DIRECTORY: "directory",
    EndpointClass.REPORTS: "reports",
    EndpointClass.CONDITIONAL_ACCESS: "conditionalAccess",
}
# nextLink chains no filter of the emulator can split into parallel slices
CHAINS = (SP_ACTIVITY, REQUESTS)
# Policy list -> policy (approverGroupIds) -> group members -> user and its licences.
DEPTH = 4

# ---- the synthetic tenant -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    sps: int
    writers: int
    policies: int
    exclusions: int
    groups: int
    members_per_group: int
    events: int
    requests: int

    @classmethod
    def at(cls, scale: float) -> Counts:
        return cls(
            sps=max(int(20_000 * scale), 20),
            writers=max(int(2_000 * scale), 2),
            policies=max(int(60 * scale), 9),
            exclusions=max(int(300 * scale), 1),
            groups=max(int(50 * scale), 2),
            members_per_group=10,
            events=max(int(200_000 * scale), 10),
            requests=max(int(20_000 * scale), 10),
        )


def synthetic_tenant(counts: Counts, seed: int = 11) -> dict[str, Any]:
    """A snapshot document: ``bench_scan.generate``'s frame, with this benchmark's counts."""
    rng = random.Random(seed)
    document = generate(0.001, seed)
    users = _users(counts.groups * counts.members_per_group)
    groups = [_approver_group(i, rng, counts) for i in range(counts.groups)]
    policies = [_policy(i, rng, counts.groups) for i in range(counts.policies)]
    for i, policy in enumerate(policies):
        policy["approverGroupIds"] = [guid(2, (i + k) % counts.groups) for k in range(2)]
    for number, sp in enumerate(rng.sample(range(counts.sps), counts.exclusions)):
        exclusion = {"appId": guid(3, sp), "source": "policy-property"}
        policies[number % len(policies)]["exclusions"].append(exclusion)
    document.update(
        policies=policies,
        approval_requests=[_request(i, rng, len(users)) for i in range(counts.requests)],
        groups=groups,
        users=users,
        service_principals=[_with_application(i, rng) for i in range(counts.sps)],
        conditional_access_policies=[_ca_policy(i, rng, counts.sps) for i in range(50)],
        role_assignments=_role_assignments(counts.groups),
        # _event draws its actor from the first min(n, 2000) apps: n = the writers.
        audit_events=[_event(i, rng, counts.writers) for i in range(counts.events)],
        sign_in_activity=[
            {
                "appId": guid(3, i),
                "lastAppOnlyClientSignInDateTime": iso(NOW - timedelta(days=rng.randrange(200))),
            }
            for i in range(0, counts.sps, 2)
        ],
    )
    return document


def _users(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": guid(1, i),
            "userPrincipalName": f"approver{i}@bench.example",
            "displayName": f"Approver {i}",
            "userType": "Guest" if i % 97 == 0 else "Member",
            "accountEnabled": i % 53 != 0,
            "intuneLicensed": i % 41 != 0,
        }
        for i in range(count)
    ]


def _approver_group(i: int, rng: random.Random, counts: Counts) -> dict[str, Any]:
    """Each approver group has its own members: the groups together have groups x 10."""
    group = _group(i, rng, 1)
    first = i * counts.members_per_group
    members = [{"id": guid(1, first + k), "type": "user"} for k in range(counts.members_per_group)]
    group.update(members=members, transitiveMembers=members)
    return group


def _with_application(i: int, rng: random.Random) -> dict[str, Any]:
    """A service principal; those of apps registered in this tenant carry the application."""
    sp = _service_principal(i, rng)
    if sp["appOwnerOrganizationId"] == TENANT:
        sp["application"] = {
            "id": guid(15, i),
            "appId": sp["appId"],
            "displayName": sp["displayName"],
            "passwordCredentials": sp["passwordCredentials"],
            "keyCredentials": sp["keyCredentials"],
            "owners": sp["owners"],
            "federatedIdentityCredentials": [
                {
                    "id": guid(16, i),
                    "name": f"github-{i}",
                    "issuer": "https://token.actions.githubusercontent.com",
                    "subject": f"repo:bench/app{i}:ref:refs/heads/main",
                    "audiences": ["api://AzureADTokenExchange"],
                }
            ]
            if i % 13 == 0
            else [],
        }
    return sp


def _role_assignments(groups: int) -> list[dict[str, Any]]:
    return [
        {
            "id": guid(7, i),
            "displayName": f"Assignment {i}",
            "members": [guid(2, i % groups)],
            "roleDefinitionId": guid(6, i % 20),
        }
        for i in range(20)
    ]


def build_fixture(counts: Counts) -> tuple[Snapshot, dict[str, Any], float]:
    started = time.perf_counter()
    snapshot = parse_snapshot(synthetic_tenant(counts), "synthetic tenant")
    fixture = fixture_from_snapshot(snapshot)
    reader = fixture["tokens"][graphroles.READER_TOKEN]
    fixture["tokens"][NAIVE_TOKEN] = {**reader, "appId": guid(17, 1)}
    for number, token in enumerate(COMMAND_TOKENS.values(), start=2):
        fixture["tokens"][token] = {**reader, "appId": guid(17, number)}
    return snapshot, fixture, time.perf_counter() - started


# ---- the emulator, in a process of its own -------------------------------------------------

Logged = tuple[str, str, str, int, bool]  # method, path, query, status, in_batch


def _logged(emulator: Emulator) -> list[Logged]:
    return [(r.method, r.path, r.query, r.status, r.in_batch) for r in emulator.requests]


class ReplyClock:
    """``time.monotonic()`` of the first and the last reply the emulator's service hands back
    since ``reset()``: the emulator's log has no times. It wraps ``Service.handle``, which
    returns once the latency is served and the reply is built, just before it is sent."""

    def __init__(self, emulator: Emulator) -> None:
        self._lock = threading.Lock()
        self.first = self.last = 0.0
        handle = emulator.service.handle

        def timed(call: Any) -> Any:
            reply = handle(call)
            now = time.monotonic()
            with self._lock:
                self.first = self.first or now
                self.last = max(self.last, now)
            return reply

        setattr(emulator.service, "handle", timed)  # noqa: B010  (mypy: no method assignment)

    def reset(self) -> None:
        with self._lock:
            self.first = self.last = 0.0

    def read(self) -> tuple[float, float]:
        with self._lock:
            return self.first, self.last


def _serve(fixture: dict[str, Any], latency_ms: int, pipe: Any) -> None:
    with Emulator(fixture, latency_ms=latency_ms, throttle=True, fixed_tokens=True) as emulator:
        clock = ReplyClock(emulator)
        pipe.send(emulator.url)
        while (command := pipe.recv()) != "stop":
            if isinstance(command, tuple):
                pipe.send(change_tenant(emulator, *command[1:]))
            elif command == "log":
                pipe.send(_logged(emulator))
            elif command == "clock":
                pipe.send(clock.read())
            else:
                clock.reset()
                pipe.send(None)


class EmulatorHandle:
    """``url``, ``log()``, ``clock()`` (first and last reply), ``reset_clock()`` and
    ``change(fraction, seed)`` (:func:`change_tenant`) of an emulator in a child process or a
    thread."""

    def __init__(self, url: str, log: Any, clock: Any, reset_clock: Any, change: Any) -> None:
        self.url, self.log, self.clock, self.reset_clock = url, log, clock, reset_clock
        self.change = change


def change_tenant(served: Emulator, fraction: float, seed: int) -> str:
    """``fraction`` of the directory objects changed through the emulator's change API (delta
    queries report them), and as many new audit events as ``fraction`` of the log, dated now
    (inside the next collection's window): the incremental case."""
    rng = random.Random(seed)
    tenant = served.tenant
    changed: Counter[str] = Counter()
    for collection, edit in (
        ("servicePrincipals", _renamed),
        ("applications", _with_new_secret),
        ("users", _toggled),
        ("groups", _renamed),
    ):
        items = list(tenant.collections.get(collection, []))
        for item in rng.sample(items, max(1, round(len(items) * fraction)) if items else 0):
            served.change.put(collection, edit(item))
            changed[collection] += 1
    events = tenant.collections["deviceManagement/auditEvents"]
    added = max(1, round(len(events) * fraction))
    moment = datetime.now(timezone.utc) - timedelta(seconds=30)
    writers = max(1, len(events) // 100)
    new = [_event(10_000_000 + i, rng, writers) for i in range(added)]
    for event in new:
        event["activityDateTime"] = iso(moment)
    served.change.append("deviceManagement/auditEvents", new)
    parts = ", ".join(f"{n} {name}" for name, n in sorted(changed.items()))
    return f"{parts}, {added} audit events appended"


def _renamed(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "displayName": f"{item.get('displayName', '')} (renamed)"}


def _toggled(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "accountEnabled": not item.get("accountEnabled", True)}


def _with_new_secret(item: dict[str, Any]) -> dict[str, Any]:
    secret = {"keyId": guid(18, len(str(item))), "displayName": "rotated", "endDateTime": iso(NOW)}
    return {**item, "passwordCredentials": [*(item.get("passwordCredentials") or []), secret]}


@contextmanager
def emulator(fixture: dict[str, Any], latency_ms: int, in_process: bool) -> Iterator[Any]:
    if in_process:
        with Emulator(fixture, latency_ms=latency_ms, throttle=True, fixed_tokens=True) as local:
            clock = ReplyClock(local)
            yield EmulatorHandle(
                local.url,
                lambda: _logged(local),
                clock.read,
                clock.reset,
                lambda fraction, seed: change_tenant(local, fraction, seed),
            )
        return
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=_serve, args=(fixture, latency_ms, theirs), daemon=True
    )
    child.start()
    try:
        url = ours.recv()

        def ask(command: str) -> Any:
            ours.send(command)
            return ours.recv()

        def change(fraction: float, seed: int) -> Any:
            ours.send(("change", fraction, seed))
            return ours.recv()

        yield EmulatorHandle(
            url, lambda: ask("log"), lambda: ask("clock"), lambda: ask("reset_clock"), change
        )
    finally:
        ours.send("stop")
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()


# ---- the real collector --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealRun:
    snapshot: Snapshot
    seconds: float
    client_requests: int
    client_throttled: int


def run_real(url: str) -> RealRun:
    async def go() -> RealRun:
        endpoint = resolve_endpoint("global", url)
        credential = StaticTokenCredential(graphroles.READER_TOKEN)
        async with GraphClient(credential, endpoint, timeout=3600) as client:
            started = time.perf_counter()
            snapshot = await collect(client, Settings(), DAYS, now=NOW, tenant_id=TENANT)
            seconds = time.perf_counter() - started
            return RealRun(snapshot, seconds, client.request_count, client.throttled_count)

    return asyncio.run(go())


@dataclass(frozen=True, slots=True)
class Traffic:
    http_requests: int
    batches: int
    graph_calls: int
    throttled: int
    statuses: Counter[int]
    units: dict[str, int]  # admitted units per emulator throttle class
    calls: dict[str, int]
    pages: dict[str, int]  # admitted pages of the chains the emulator cannot split


def traffic(log: list[Logged]) -> Traffic:
    units: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    pages: Counter[str] = Counter()
    batches = 0
    for _method, path, query, status, _in_batch in log:
        relative = path.split("/", 2)[2]
        if relative == "$batch":
            batches += 1
            continue
        statuses[status] += 1
        kind = endpoint_class(relative)
        name = EMULATOR_CLASS[kind]
        calls[name] += 1
        if status < 400 and relative in CHAINS:
            pages[relative] += 1
        if status < 400:
            params = dict(parse_qsl(query, keep_blank_values=True))
            units[name] += resource_units(relative, params) if name == "directory" else 1
    return Traffic(
        http_requests=sum(not entry[4] for entry in log),
        batches=batches,
        graph_calls=sum(statuses.values()),
        throttled=sum(entry[3] == 429 for entry in log),
        statuses=statuses,
        units=dict(units),
        calls=dict(calls),
        pages=dict(pages),
    )


# ---- the lower bound -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bound:
    name: str
    seconds: float
    why: str


def lower_bounds(seen: Traffic, latency: float) -> list[Bound]:
    bounds = []
    for name, units in sorted(seen.units.items()):
        limit = DEFAULT_LIMITS[name]
        windows = math.ceil(units / limit.capacity) - 1
        tail = 1
        start = 2 if name == "directory" else 0
        if name == "reports":
            tail = units - windows * int(limit.capacity)  # one chain: its last window's pages
        seconds = windows * limit.window + (start + tail) * latency
        why = (
            f"{units} units / {int(limit.capacity)} per {limit.window:g} s: {windows} full "
            f"window(s) + {start + tail} round trip(s)"
        )
        bounds.append(Bound(name, seconds, why))
    bounds.append(Bound("dependencies", DEPTH * latency, f"{DEPTH} dependent round trips"))
    path, chain = max(seen.pages.items(), key=lambda item: item[1], default=("-", 1))
    bounds.append(
        Bound("chain", chain * latency, f"longest unsplittable chain: {chain} pages of {path}")
    )
    return bounds


# ---- the naive collector -------------------------------------------------------------------


def run_naive(url: str, snapshot: Snapshot, tenant: Snapshot, max_requests: int) -> list[SourceRun]:
    naive = NaiveCollector(url, NAIVE_TOKEN, max_requests)
    groups = unique(
        [g for p in snapshot.policies for g in p.approver_group_ids]
        + [m for a in snapshot.role_assignments for m in a.members]
    )
    users = user_ids_of(snapshot.groups)
    apps = unique(
        [e.app_id for p in snapshot.policies for e in p.exclusions]
        + app_only_writers(snapshot.audit_events)
    )
    start, end = iso(NOW - timedelta(days=DAYS)), iso(NOW)
    s = snapshot
    try:
        return [
            naive.run("access_policies", len(s.policies), naive.policies),
            naive.run("approval_requests", len(s.approval_requests), naive.approval_requests),
            naive.run("rbac", len(s.role_definitions), naive.rbac),
            naive.run(
                "conditional_access", len(s.conditional_access_policies), naive.conditional_access
            ),
            naive.run("audit_events", len(s.audit_events), lambda: naive.audit_events(start, end)),
            naive.run("sign_in_report", len(tenant.sign_in_activity), naive.sign_in_activity),
            naive.run("tenant", 3, naive.tenant),
            naive.run("groups", len(groups), lambda: naive.groups(groups)),
            naive.run("users", len(users), lambda: naive.users(users)),
            naive.run("service_principals", len(apps), lambda: naive.service_principals(apps)),
        ]
    finally:
        naive.close()


# ---- the command line, as a user runs it ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandRun:
    """One ``maa-guard`` process against the emulator: its launcher's figures, the first and
    last emulator reply (same monotonic clock), its traffic and the file it wrote."""

    command: str
    measured: Measured
    first_reply: float
    last_reply: float
    seen: Traffic
    output_bytes: int
    stderr: str

    @property
    def startup(self) -> float:
        return self.first_reply - self.measured.started

    @property
    def tail(self) -> float:
        return self.measured.exited - self.last_reply


def command_days(now: datetime) -> int:
    """``--days`` that reaches back to the synthetic window's start from the real clock: the
    command line has no fixed ``now``, and the tenant's events end at ``NOW``."""
    back = now - (NOW - timedelta(days=DAYS))
    return max(DAYS, math.ceil(back / timedelta(days=1)))


def run_command(served: Any, name: str, days: int, folder: Path) -> CommandRun:
    """``snapshot`` and ``scan`` as a user runs them; ``incremental``: ``snapshot --since``
    the file the ``snapshot`` run wrote (and its delta state), to a file of its own."""
    output = folder / f"{name}.json"
    executable = str(Path(sys.executable).with_name("maa-guard"))
    connection = ["--auth", "token", "--graph-endpoint", served.url, "--days", str(days)]
    where = ["-o", str(output)] if name != "scan" else ["-o", f"json={output}"]
    if name == "incremental":
        where = ["snapshot", "--since", str(folder / "snapshot.json"), *where]
    command = where[:3] if name == "incremental" else [name, where[0]]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAA_GUARD_")}
    environ.update(MAA_GUARD_ACCESS_TOKEN=COMMAND_TOKENS[name], NO_COLOR="1")
    time.sleep(1.2)  # Conditional Access: 1 request per second per tenant
    before = len(served.log())
    served.reset_clock()
    stdout = folder / f"{name}.stdout"
    verb = [] if name == "incremental" else [name]
    measured = run_measured(
        [executable, *verb, *where, *connection, "--quiet"], stdout, environ, folder
    )
    first, last = served.clock()
    stderr = stdout.with_name(stdout.name + ".stderr").read_text().strip()
    size = output.stat().st_size if output.exists() else 0
    shown = {"snapshot": "FILE", "scan": "json=FILE", "incremental": "FILE FILE2"}[name]
    return CommandRun(
        " ".join(["maa-guard", *command, shown]),
        measured,
        first,
        last,
        traffic(served.log()[before:]),
        size,
        stderr,
    )


# ---- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument(
        "--naive-requests",
        type=int,
        default=150,
        help="requests per source before the naive run is extrapolated (0: run it all)",
    )
    parser.add_argument("--in-process", action="store_true", help="emulator in a thread")
    parser.add_argument(
        "--change",
        type=float,
        default=0.01,
        help="share of objects changed before the incremental run (default 0.01)",
    )
    args = parser.parse_args()
    counts = Counts.at(args.scale)
    tenant, fixture, built = build_fixture(counts)
    print_tenant(tenant, counts, built, args)
    latency = args.latency_ms / 1000
    with emulator(fixture, args.latency_ms, args.in_process) as served:
        real = run_real(served.url)
        real_log = served.log()
        time.sleep(1.2)  # Conditional Access: 1 request per second per tenant
        naive = run_naive(served.url, real.snapshot, tenant, args.naive_requests)
        days = command_days(datetime.now(timezone.utc))
        with tempfile.TemporaryDirectory(prefix="bench-collect-") as folder:
            commands = [
                run_command(served, name, days, Path(folder)) for name in ("snapshot", "scan")
            ]
            changed = served.change(args.change, 7)
            commands.append(run_command(served, "incremental", days, Path(folder)))
            floor = floor_rss(Path(folder))
    seen = traffic(real_log)
    print_real(real, seen, tenant)
    bounds = lower_bounds(seen, latency)
    print_bounds(real, bounds)
    print_naive(real, naive)
    bound = max(bounds, key=lambda b: b.seconds)
    print_commands(commands, real, seen, bound, days, floor)
    print_incremental(commands[0], commands[2], changed, args.change)


def print_incremental(first: CommandRun, second: CommandRun, changed: str, fraction: float) -> None:
    print(
        f"\nincremental: after the snapshot and scan runs, {fraction:.0%} changed in the emulator "
        f"({changed}); then `maa-guard snapshot --since FILE -o FILE2`:"
    )
    print(f"  exit code:        {second.measured.returncode}; stderr: {second.stderr or '-'}")
    ratio = second.measured.seconds / first.measured.seconds
    print(
        f"  wall time:        {second.measured.seconds:.2f} s / first snapshot "
        f"{first.measured.seconds:.2f} s = {ratio:.2f}x (target <= 0.2x)"
    )
    for label, a, b in (
        ("HTTP requests", second.seen.http_requests, first.seen.http_requests),
        ("Graph calls", second.seen.graph_calls, first.seen.graph_calls),
    ):
        print(f"  {label + ':':<18}{a} / {b} = {a / b:.2f}x (target <= 0.2x)")
    per_class = ", ".join(
        f"{k} {second.seen.calls[k]}/{first.seen.calls.get(k, 0)}"
        for k in sorted(second.seen.calls)
    )
    print(f"  calls per class:  {per_class} (incremental/first)")


def print_tenant(tenant: Snapshot, counts: Counts, built: float, args: Any) -> None:
    members = {m.id for g in tenant.groups for m in g.members}
    exclusions = sum(len(p.exclusions) for p in tenant.policies)
    print(
        f"synthetic tenant (scale {args.scale:g}): {len(tenant.service_principals)} service "
        f"principals, {exclusions} exclusions over {len(tenant.policies)} policies, "
        f"{len(members)} approver-group members in {len(tenant.groups)} groups, "
        f"{len(tenant.audit_events)} audit events over {DAYS} days by {counts.writers} app-only "
        f"writers, {len(tenant.approval_requests)} approval requests; built in {built:.1f} s"
    )
    where = "in a thread" if args.in_process else "in a child process"
    print(
        f"emulator {where}: {args.latency_ms} ms latency per reply, documented throttle "
        "budgets (directory 3500 RU/10 s, Intune 1000/20 s, reports 5/10 s, CA 1/s)"
    )


def print_real(real: RealRun, seen: Traffic, tenant: Snapshot) -> None:
    got = real.snapshot
    incomplete = {k: v.state.value for k, v in got.sources.items() if v.state.value != "complete"}
    print("\nreal collector (collect + GraphClient + StaticTokenCredential):")
    print(f"  wall time:        {real.seconds:.2f} s")
    print(
        f"  HTTP requests:    {seen.http_requests} ({seen.batches} of them $batch); "
        f"client counted {real.client_requests}"
    )
    print(f"  Graph calls:      {seen.graph_calls} ($batch items counted one by one)")
    print(
        f"  429s received:    {seen.throttled} (emulator log); client retried "
        f"{real.client_throttled} (target: 0)"
    )
    print(f"  statuses:         {dict(sorted(seen.statuses.items()))}")
    per_class = ", ".join(
        f"{k} {seen.calls[k]} calls / {seen.units.get(k, 0)} units" for k in sorted(seen.calls)
    )
    print(f"  per class:        {per_class}")
    print(
        f"  collected:        {len(got.service_principals)} service principals, "
        f"{len(got.groups)} groups, {len(got.users)} users, {len(got.audit_events)}/"
        f"{len(tenant.audit_events)} audit events, {len(got.approval_requests)}/"
        f"{len(tenant.approval_requests)} requests, {len(got.sign_in_activity)} sign-in rows; "
        f"sources not complete: {incomplete or 'none'}"
    )


def print_bounds(real: RealRun, bounds: list[Bound]) -> None:
    bound = max(bounds, key=lambda b: b.seconds)
    print("\ncritical-path lower bound:")
    for item in bounds:
        print(f"  {item.name:<18}{item.seconds:7.2f} s  ({item.why})")
    print(
        f"  lower bound:      {bound.seconds:.2f} s ({bound.name}); real / bound = "
        f"{real.seconds / bound.seconds:.2f}x (target <= 1.5x)"
    )


def print_naive(real: RealRun, runs: list[SourceRun]) -> None:
    print("\nnaive sequential collector (one request at a time, nextLink, no $batch):")
    for run in runs:
        note = (
            "complete"
            if run.complete
            else (f"{run.units_done}/{run.units_total} units, extrapolated x{run.factor:.1f}")
        )
        print(
            f"  {run.name:<20}{run.seconds:7.2f} s {run.requests:6d} requests "
            f"{run.throttled:3d} 429s -> {run.estimated_seconds:8.1f} s "
            f"{run.estimated_requests:8.0f} requests ({note})"
        )
    measured = sum(r.seconds for r in runs)
    total = sum(r.estimated_seconds for r in runs)
    requests = sum(r.estimated_requests for r in runs)
    extrapolated = [r.name for r in runs if not r.complete]
    print(
        f"  naive total:      {total:.1f} s, {requests:.0f} requests (measured {measured:.1f} s; "
        f"extrapolated: {', '.join(extrapolated) or 'nothing'})"
    )
    print(
        f"  speed-up of the real collector over naive: {total / real.seconds:.1f}x (target >= 10x)"
    )


def floor_rss(folder: Path) -> int:
    """Peak RSS in bytes of the same stack holding next to no tenant: ``maa-guard scan --demo``
    (a 0.1 MiB recording; its emulator runs in a smaller process of its own, and ``ru_maxrss``
    of a waited-for child is the larger of the two)."""
    executable = str(Path(sys.executable).with_name("maa-guard"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAA_GUARD_")}
    command = [executable, "scan", "--demo", "--format", "json", "--quiet"]
    measured = run_measured(command, folder / "floor.stdout", environ, folder)
    return measured.max_rss_kib * 1024


def print_commands(
    runs: list[CommandRun], real: RealRun, seen: Traffic, bound: Bound, days: int, floor: int
) -> None:
    """Each command line run against the lower bound of the in-process collection; the
    snapshot file is the size its peak RSS is held against, and the scan's too (it writes no
    snapshot, but holds the same one). ``floor``: what the interpreter and the libraries take
    with no tenant to speak of, so that what the tenant's data takes shows apart."""
    snapshot_bytes = next((r.output_bytes for r in runs if r.command.endswith(" FILE")), 0)
    for run in runs:
        m = run.measured
        print(
            f"\n{run.command} (own process, --auth token, --days {days} to reach the tenant's "
            f"window from today):"
        )
        print(
            f"  exit code:        {m.returncode}"
            + (f"; stderr: {run.stderr}" if run.stderr else "")
        )
        print(
            f"  wall time:        {m.seconds:.2f} s, spawn to exit, the file written; "
            f"/ lower bound {bound.seconds:.2f} s = {m.seconds / bound.seconds:.2f}x "
            f"(in-process collect: {real.seconds / bound.seconds:.2f}x)"
        )
        print(
            f"  until 1st reply:  {run.startup:.2f} s (interpreter, imports, settings, the first "
            "round trip)"
        )
        print(
            f"  1st to last reply:{run.last_reply - run.first_reply:7.2f} s "
            f"(in-process collect: {real.seconds:.2f} s)"
        )
        print(
            f"  after last reply: {run.tail:.2f} s to exit = {run.tail / m.seconds:.1%} of the "
            f"wall time, {run.tail / bound.seconds:.2f}x the lower bound"
        )
        print(
            f"  Graph calls:      {run.seen.graph_calls} ({run.seen.http_requests} HTTP requests, "
            f"{run.seen.throttled} 429s); in-process collect: {seen.graph_calls}"
        )
        rss = m.max_rss_kib * 1024
        against = f"peak RSS / file = {rss / run.output_bytes:.2f}x" if run.output_bytes else "-"
        also = (
            f"; / snapshot file {snapshot_bytes / 2**20:.1f} MiB = {rss / snapshot_bytes:.2f}x"
            if snapshot_bytes and run.output_bytes != snapshot_bytes
            else ""
        )
        print(
            f"  peak RSS:         {rss / 2**20:.1f} MiB (ru_maxrss); file "
            f"{run.output_bytes / 2**20:.1f} MiB; {against}{also}"
        )
        if snapshot_bytes:
            print(
                f"  above the floor:  {rss / 2**20:.1f} - {floor / 2**20:.1f} MiB (scan --demo: "
                f"interpreter and libraries) = {(rss - floor) / 2**20:.1f} MiB / snapshot file = "
                f"{(rss - floor) / snapshot_bytes:.2f}x"
            )


if __name__ == "__main__":
    main()
