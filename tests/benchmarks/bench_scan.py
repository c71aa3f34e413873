"""Benchmark: a large synthetic tenant through load, evaluate and the JSON report.

Not a test: it prints figures. Run from the repository root:

    python tests/benchmarks/bench_scan.py [--scale 1.0] [--keep FILE] [--table]

--table also times the terminal table of the scan: whole (every finding, as a file or a pipe
gets it) and as a terminal shows it (the first findings, the rest counted), at 120 and 80
columns.

Targets: evaluate + report within 1.0x of a plain ``json.load`` of the same file;
peak memory within 3x the file size; ``maa-guard --help`` within 0.3 s and
``maa-guard scan --demo`` within 1 s; the terminal table within 2 s; ``codec.encode`` of the
loaded snapshot within 0.7x of its load, and at least 2x faster than the per-field reflection
encoder it replaced (``reflection_encode`` here, timed on the same snapshot).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from maa_guard.snapshot import SOURCES
from maa_guard.snapshot.codec import format_datetime, json_name

POLICY_TYPES = (
    "app",
    "script",
    "role",
    "deviceWipe",
    "deviceRetire",
    "deviceDelete",
    "compliancePolicy",
    "configurationPolicy",
    "tenantConfiguration",
)
AUDIT_KINDS = (
    ("Application", "Create MobileApp", "MobileApp"),
    ("DeviceConfiguration", "Patch DeviceConfiguration", "DeviceConfiguration"),
    ("Compliance", "Patch DeviceCompliancePolicy", "DeviceCompliancePolicy"),
    ("Device", "Wipe ManagedDevice", "ManagedDevice"),
    ("Role", "Create RoleAssignment", "RoleAssignment"),
)
NOW = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
TENANT = "00000000-0000-4000-8000-00000000cafe"


def guid(kind: int, number: int) -> str:
    return f"{kind:08x}-0000-4000-8000-{number:012x}"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(scale: float, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    n_sp, n_groups, n_events, n_requests = (
        int(50_000 * scale),
        int(2_000 * scale),
        int(200_000 * scale),
        int(50_000 * scale),
    )
    n_users = max(n_groups * 5, 10)
    users = [
        {
            "id": guid(1, i),
            "userPrincipalName": f"admin{i}@bench.example",
            "displayName": f"Admin {i}",
            "userType": "Guest" if i % 97 == 0 else "Member",
            "accountEnabled": i % 53 != 0,
            "intuneLicensed": i % 41 != 0,
        }
        for i in range(n_users)
    ]
    groups = [_group(i, rng, n_users) for i in range(n_groups)]
    sps = [_service_principal(i, rng) for i in range(n_sp)]
    policies = [_policy(i, rng, n_groups) for i in range(max(int(60 * scale), 9))]
    for number in range(max(int(500 * scale), 1)):
        policy = policies[number % len(policies)]
        policy["exclusions"].append(
            {"appId": guid(3, rng.randrange(n_sp)), "source": "policy-property"}
        )
    return {
        "schema_version": 1,
        "tool_version": "bench",
        "collected_at": iso(NOW),
        "tenant": {"id": TENANT, "display_name": "Bench", "workload_identities_premium": True},
        "window": {"start": iso(NOW - timedelta(days=30)), "end": iso(NOW)},
        "sources": {name: {"state": "complete"} for name in SOURCES},
        "policies": policies,
        "approval_requests": [_request(i, rng, n_users) for i in range(n_requests)],
        "groups": groups,
        "users": users,
        "service_principals": sps,
        "conditional_access_policies": [_ca_policy(i, rng, n_sp) for i in range(50)],
        "role_definitions": [{"id": guid(6, i), "displayName": f"Role {i}"} for i in range(20)],
        "role_assignments": [
            {
                "id": guid(7, i),
                "displayName": f"Assignment {i}",
                "members": [guid(2, rng.randrange(n_groups)) for _ in range(20)],
            }
            for i in range(100)
        ],
        "audit_events": [_event(i, rng, n_sp) for i in range(n_events)],
        "sign_in_activity": [
            {
                "appId": guid(3, i),
                "lastAppOnlyClientSignInDateTime": iso(NOW - timedelta(days=rng.randrange(200))),
            }
            for i in range(0, n_sp, 2)
        ],
    }


def _group(i: int, rng: random.Random, n_users: int) -> dict[str, Any]:
    members = [{"id": guid(1, rng.randrange(n_users)), "type": "user"} for _ in range(5)]
    return {
        "id": guid(2, i),
        "displayName": f"Group {i}",
        "securityEnabled": True,
        "mailEnabled": i % 31 == 0,
        "groupTypes": [],
        "isAssignableToRole": i % 2 == 0,
        "members": members,
        "transitiveMembers": members,
        "owners": [{"id": guid(1, 0), "type": "user"}] if i % 5 == 0 else [],
    }


def _service_principal(i: int, rng: random.Random) -> dict[str, Any]:
    start = NOW - timedelta(days=rng.randrange(400))
    return {
        "id": guid(4, i),
        "appId": guid(3, i),
        "displayName": f"App {i}",
        "accountEnabled": i % 19 != 0,
        "appOwnerOrganizationId": TENANT if i % 7 else guid(9, i),
        "servicePrincipalType": "Application",
        "passwordCredentials": [
            {
                "keyId": guid(5, i),
                "startDateTime": iso(start),
                "endDateTime": iso(start + timedelta(days=730)),
            }
        ]
        if i % 3 == 0
        else [],
        "keyCredentials": [
            {
                "keyId": guid(8, i),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "startDateTime": iso(start),
                "endDateTime": iso(start + timedelta(days=365)),
            }
        ],
        "owners": [{"id": guid(1, i % 100), "type": "user"}] if i % 4 == 0 else [],
        "appPermissions": ["DeviceManagementApps.ReadWrite.All"]
        + (["Directory.ReadWrite.All"] if i % 11 == 0 else []),
    }


def _policy(i: int, rng: random.Random, n_groups: int) -> dict[str, Any]:
    return {
        "id": guid(10, i),
        "displayName": f"Policy {i}",
        "policyType": POLICY_TYPES[i % len(POLICY_TYPES)],
        "policyPlatform": "notApplicable",
        "approverGroupIds": [guid(2, rng.randrange(n_groups)) for _ in range(2)],
        "lastModifiedDateTime": iso(NOW - timedelta(days=i)),
        "exclusions": [],
    }


def _request(i: int, rng: random.Random, n_users: int) -> dict[str, Any]:
    status = ("approved", "completed", "needsApproval", "rejected", "expired")[i % 5]
    requestor, approver = guid(1, rng.randrange(n_users)), guid(1, rng.randrange(n_users))
    return {
        "id": guid(11, i),
        "status": status,
        "requestDateTime": iso(NOW - timedelta(hours=rng.randrange(700))),
        "expirationDateTime": iso(NOW + timedelta(hours=rng.randrange(-24, 72))),
        "requestor": {"user": {"id": requestor, "displayName": "Requestor"}},
        "approver": None
        if status == "needsApproval"
        else {"user": {"id": approver, "displayName": "Approver"}},
        "requestJustification": "CHG0001234 routine change" if i % 9 else "",
        "requiredOperationApprovalPolicyTypes": [POLICY_TYPES[i % len(POLICY_TYPES)]],
    }


def _ca_policy(i: int, rng: random.Random, n_sp: int) -> dict[str, Any]:
    return {
        "id": guid(12, i),
        "displayName": f"CA {i}",
        "state": "enabled",
        "conditions": {
            "clientApplications": {
                "includeServicePrincipals": [guid(4, rng.randrange(n_sp)) for _ in range(20)]
            },
            "locations": {"includeLocations": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }


def _event(i: int, rng: random.Random, n_sp: int) -> dict[str, Any]:
    category, activity, kind = AUDIT_KINDS[i % len(AUDIT_KINDS)]
    return {
        "id": guid(13, i),
        "activityDateTime": iso(NOW - timedelta(minutes=rng.randrange(43000))),
        "activity": activity,
        "activityType": activity,
        "activityOperationType": activity.split(" ")[0],
        "activityResult": "Failure" if i % 101 == 0 else "Success",
        "category": category,
        "componentName": "MultiAdminApproval" if i % 101 == 0 else "",
        "actor": {
            "applicationId": guid(3, rng.randrange(min(n_sp, 2000))),
            "applicationDisplayName": "Automation",
        },
        "resources": [{"resourceId": guid(14, i), "displayName": "Object", "type": kind}],
    }


def child_parse(path: Path) -> dict[str, float]:
    """The yardstick: a plain ``json.load`` of the file, in a process of its own."""
    started = time.perf_counter()
    with path.open("rb") as handle:
        json.load(handle)
    return {"json_load": time.perf_counter() - started, "peak_kib": _peak_kib()}


def child_scan(path: Path, out: Path, table: bool = False) -> dict[str, float]:
    """What ``maa-guard scan --snapshot FILE --output json=OUT`` does, timed per stage."""
    from maa_guard.catalogue import load_catalogue
    from maa_guard.checks import all_checks
    from maa_guard.config import Settings
    from maa_guard.evaluate.engine import evaluate
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan.pipeline import write_outputs
    from maa_guard.snapshot.file import load_snapshot

    started = time.perf_counter()
    snapshot = load_snapshot(path)
    loaded = time.perf_counter()
    result = evaluate(
        snapshot, load_catalogue(), all_checks(), Settings(), NOW.date(), tool_version="bench"
    )
    evaluated = time.perf_counter()
    write_outputs(result, [(OutputFormat.JSON, out)], RenderOptions())
    reported = time.perf_counter()
    figures = {
        "load": loaded - started,
        "evaluate": evaluated - loaded,
        "report": reported - evaluated,
        "findings": len(result.findings),
        "report_mib": out.stat().st_size / 2**20,
    }
    if table:
        figures.update(_table_times(result))
    return {**figures, "peak_kib": _peak_kib()}


def _table_times(result: Any) -> dict[str, float]:
    """The terminal table: every finding (a file, a pipe) and what a terminal shows."""
    from maa_guard.reporters import OutputFormat, RenderOptions, render
    from maa_guard.reporters.layout import TERMINAL_ROWS

    figures: dict[str, float] = {}
    for name, width, rows in (
        ("all", 120, None),
        ("120", 120, TERMINAL_ROWS),
        ("80", 80, TERMINAL_ROWS),
    ):
        started = time.perf_counter()
        text = render(result, OutputFormat.TABLE, RenderOptions(width=width, max_rows=rows))
        figures[f"table_{name}"] = time.perf_counter() - started
        figures[f"table_{name}_lines"] = text.count("\n")
    return figures


def child_encode(path: Path) -> dict[str, float]:
    """``snapshot_to_json`` in its two steps, after a load: ``codec.encode`` (the snapshot as
    plain JSON data) and the text; then the encoder it replaced, on the same snapshot."""
    import gc

    from maa_guard.snapshot.codec import encode
    from maa_guard.snapshot.file import load_snapshot

    started = time.perf_counter()
    snapshot = load_snapshot(path)
    loaded = time.perf_counter()
    data = encode(snapshot)
    encoded = time.perf_counter()
    json.dumps(data, indent=1, ensure_ascii=False)
    written = time.perf_counter()
    del data
    gc.collect()
    before = time.perf_counter()
    reflection_encode(snapshot)
    return {
        "load": loaded - started,
        "encode": encoded - loaded,
        "text": written - encoded,
        "reflection_encode": time.perf_counter() - before,
    }


def reflection_encode(value: Any) -> Any:
    """The encoder before per-class encoders, kept as the yardstick: every value dispatched
    by ``dataclasses.is_dataclass`` and ``isinstance``, one call per value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            name: reflection_encode(getattr(value, attribute))
            for name, attribute in _field_names(type(value))
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, (tuple, list)):
        return [reflection_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: reflection_encode(item) for key, item in value.items()}
    return value


@functools.cache
def _field_names(cls: type) -> tuple[tuple[str, str], ...]:
    return tuple((json_name(cls, f), f.name) for f in dataclasses.fields(cls))


def _peak_kib() -> float:
    """This process's own high-water RSS.

    ``getrusage`` is no good here: on Linux its maxrss survives exec, so a child would report
    the parent's peak from generating the snapshot. VmHWM belongs to the process image.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_child(*arguments: str) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, __file__, "--child", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        sys.exit(f"benchmark child failed:\n{finished.stderr}")
    figures: dict[str, Any] = json.loads(finished.stdout)
    return figures


def best_wall_time(command: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, help="keep the generated snapshot here")
    parser.add_argument("--table", action="store_true", help="also time the terminal table")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *paths = args.child
        if mode == "encode":
            print(json.dumps(child_encode(Path(paths[0]))))
            return
        figures = (
            child_parse(Path(paths[0]))
            if mode == "parse"
            else child_scan(Path(paths[0]), Path(paths[1]), mode == "scan-table")
        )
        print(json.dumps(figures))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "bench-snapshot.json"
        if not (args.keep and path.exists()):
            path.write_text(json.dumps(generate(args.scale)), encoding="utf-8")
        size_mib = path.stat().st_size / 2**20
        parse = run_child("parse", str(path))
        mode = "scan-table" if args.table else "scan"
        scan = run_child(mode, str(path), str(Path(folder) / "report.json"))
        encoding = run_child("encode", str(path))
    report(parse, scan, size_mib)
    report_encode(encoding)


def report(parse: dict[str, Any], scan: dict[str, Any], size_mib: float) -> None:
    python = sys.executable
    baseline = best_wall_time([python, "-c", "pass"])
    help_time = best_wall_time([python, "-m", "maa_guard", "--help"])
    demo_time = best_wall_time([python, "-m", "maa_guard", "scan", "--demo", "--format", "json"])
    yardstick = parse["json_load"]
    work = scan["evaluate"] + scan["report"]
    total = scan["load"] + work
    peak_mib = scan["peak_kib"] / 1024
    print(
        f"snapshot file: {size_mib:.1f} MiB; {scan['findings']} findings; "
        f"JSON report {scan['report_mib']:.1f} MiB"
    )
    print(
        f"plain json.load:        {yardstick:.2f} s (1.00x), peak "
        f"{parse['peak_kib'] / 1024:.0f} MiB ({parse['peak_kib'] / 1024 / size_mib:.2f}x file)"
    )
    print(f"load + validate:        {scan['load']:.2f} s ({scan['load'] / yardstick:.2f}x)")
    print(f"evaluate:               {scan['evaluate']:.2f} s ({scan['evaluate'] / yardstick:.2f}x)")
    print(f"JSON report written:    {scan['report']:.2f} s ({scan['report'] / yardstick:.2f}x)")
    print(
        f"evaluate + report:      {work:.2f} s ({work / yardstick:.2f}x json.load; target <= 1.0x)"
    )
    print(f"load + evaluate + report: {total:.2f} s ({total / yardstick:.2f}x json.load)")
    for name, label in (("all", "every finding"), ("120", "terminal 120"), ("80", "terminal 80")):
        if f"table_{name}" in scan:
            print(
                f"table, {label + ':':<15} {scan[f'table_{name}']:.2f} s "
                f"({scan[f'table_{name}_lines']:.0f} lines; target <= 2 s)"
            )
    print(
        f"peak RSS of the scan:   {peak_mib:.0f} MiB ({peak_mib / size_mib:.2f}x file size; "
        "target <= 3x)"
    )
    print(f"python -c pass:         {baseline:.3f} s")
    print(
        f"maa-guard --help:       {help_time:.3f} s ({help_time - baseline:+.3f} s over python; "
        "target <= 0.3 s)"
    )
    print(
        f"maa-guard scan --demo:  {demo_time:.3f} s ({demo_time - baseline:+.3f} s over python; "
        "target <= 1 s)"
    )


def report_encode(figures: dict[str, Any]) -> None:
    load, encode, old = figures["load"], figures["encode"], figures["reflection_encode"]
    print(
        f"codec.encode:           {encode:.2f} s ({encode / load:.2f}x its load of "
        f"{load:.2f} s; target <= 0.7x)"
    )
    print(
        f"reflection encoder:     {old:.2f} s ({old / load:.2f}x load; codec.encode is "
        f"{old / encode:.1f}x faster, target >= 2x)"
    )
    print(f"snapshot text (indent=1): {figures['text']:.2f} s (json.dumps, pure Python)")


if __name__ == "__main__":
    main()
