"""Benchmark: a fleet scan of 20 emulator tenants against one tenant's scan.

Not a test: it prints figures. Run from the repository root:

    python tests/benchmarks/bench_fleet.py [--tenants 20] [--latency-ms 50] [--parallel 20]

Each tenant is the demo tenant (``fixture_from_snapshot``) under its own tenant id, served by its
own emulator with ``--latency-ms`` added to every reply and the documented throttle budgets. The
emulators run in a forked child process, so their work is not billed to the scanner's GIL.
Measured in one run: the wall time of one tenant's scan (``scan_tenant``, the code path of
``maa-guard fleet scan``), then of the whole fleet with ``--parallel`` workers; target: the
fleet within 3x of one tenant.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.fleet.run import FleetOptions, scan_fleet, scan_tenant
from maa_guard.fleet.tenants import FleetTenant
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

TOKEN = "fleet-bench-token"


def _fixture(index: int) -> dict[str, Any]:
    fixture = fixture_from_snapshot(load_snapshot(demo_path("snapshot.json")))
    tenant_id = f"00000000-0000-4000-8000-{index:012d}"
    fixture["tenant"] = {**fixture["tenant"], "id": tenant_id}
    fixture["collections"]["organization"] = [{"id": tenant_id, "displayName": f"Tenant {index}"}]
    fixture["tokens"][TOKEN] = fixture["tokens"][graphroles.READER_TOKEN]
    return fixture


def _serve(count: int, latency_ms: int, pipe: Any) -> None:
    emulators = [
        Emulator(_fixture(i), latency_ms=latency_ms, fixed_tokens=True).start()
        for i in range(count)
    ]
    pipe.send([e.url for e in emulators])
    pipe.recv()  # block until the parent is done
    for emulator in emulators:
        emulator.stop()


def _tenants(urls: list[str]) -> list[FleetTenant]:
    return [
        FleetTenant(
            name=f"tenant-{i:02d}",
            tenant_id=f"00000000-0000-4000-8000-{i:012d}",
            auth="token",
            graph_endpoint=url,
            token_env="FLEET_BENCH_TOKEN",
        )
        for i, url in enumerate(urls)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="single-tenant runs (median)")
    args = parser.parse_args()
    parent, child = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_serve, args=(args.tenants + 1, args.latency_ms, child), daemon=True
    )
    server.start()
    urls = parent.recv()
    try:
        _measure(args, _tenants(urls))
    finally:
        parent.send("done")
        server.join(10)


def _measure(args: argparse.Namespace, tenants: list[FleetTenant]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        environ = {**os.environ, "FLEET_BENCH_TOKEN": TOKEN}
        options = FleetOptions(environ, Path(scratch), date.today(), parallel=args.parallel)
        single = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            outcome = scan_tenant(tenants[-1], options)
            single.append(time.perf_counter() - started)
            assert outcome.status == "fail", outcome
        started = time.perf_counter()
        outcomes = scan_fleet(tenants[:-1], options)
        fleet = time.perf_counter() - started
    statuses = sorted({o.status for o in outcomes})
    one = statistics.median(single)
    figures = {
        "tenants": len(outcomes),
        "parallel": args.parallel,
        "latency_ms": args.latency_ms,
        "one_tenant_s": round(one, 3),
        "fleet_s": round(fleet, 3),
        "fleet_over_one": round(fleet / one, 2),
        "statuses": statuses,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
