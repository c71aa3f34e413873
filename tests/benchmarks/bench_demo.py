"""Benchmark: what ``maa-guard scan --demo`` costs, in wall time and in Graph requests.

Not a test: it prints figures. Run from the repository root:

    python tests/benchmarks/bench_demo.py [--runs 15]

1. Wall time of ``maa-guard scan --demo --format json`` against the yardstick ``python -c
   "import msgraph_core, azure.identity"`` (the libraries any Graph client starts with): each
   is run ``--runs`` times, the two alternating so a change in the machine's load hits both
   alike; medians are compared. ``hyperfine -N --warmup 3 'maa-guard scan --demo --format
   json' 'python -c "import msgraph_core, azure.identity"'`` measures the same.
2. The Graph requests of ``scan --demo`` and ``review --demo APP``, from the emulator's request
   log (tests/test_request_counts.py asserts them exactly).

Targets: ``scan --demo`` within 2x of the import yardstick; ``review --demo`` in at most 15
HTTP requests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from maa_guard.cli import main as maa_guard
from maa_guard.emulator import LoggedRequest
from maa_guard.scan.served import ServedRecording

IMPORTS = "import msgraph_core, azure.identity"
REVIEWED_APP = "Intune Tag Sync"


def demo_command() -> list[str]:
    """The installed ``maa-guard`` script, or ``python -m maa_guard`` without one."""
    script = Path(sys.executable).with_name("maa-guard")
    found = str(script) if script.exists() else shutil.which("maa-guard")
    launcher = [found] if found else [sys.executable, "-m", "maa_guard"]
    return [*launcher, "scan", "--demo", "--format", "json"]


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Each command's median over ``runs``, the commands taking turns (after one warm-up)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        wall_time(command)
    for turn in range(runs):
        order = list(commands.items())
        for name, command in order if turn % 2 == 0 else reversed(order):
            times[name].append(wall_time(command))
    return {name: statistics.median(values) for name, values in times.items()}


def request_log(arguments: list[str]) -> list[LoggedRequest]:
    """Runs ``maa-guard ARGUMENTS`` in this process; the log of the emulator serving the demo,
    taken just before the command ends it."""
    logs: list[list[LoggedRequest]] = []
    close = ServedRecording.close

    def logged_close(served: ServedRecording) -> None:
        logs.append(served.requests())
        close(served)

    ServedRecording.close = logged_close  # type: ignore[method-assign]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            maa_guard(arguments)
    finally:
        ServedRecording.close = close  # type: ignore[method-assign]
    (log,) = logs
    return log


def describe(log: list[LoggedRequest]) -> str:
    sent = [r for r in log if not r.in_batch]
    batches = sum(r.path == "/beta/$batch" for r in sent)
    calls = sum(r.path != "/beta/$batch" for r in log)
    audit = sum(r.path == "/beta/deviceManagement/auditEvents" for r in log)
    return (
        f"{len(sent)} HTTP requests ({batches} of them $batch), {calls} Graph calls, "
        f"{audit} audit-log pages"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    commands = {"demo": demo_command(), "imports": [sys.executable, "-c", IMPORTS]}
    times = medians(commands, args.runs)
    ratio = times["demo"] / times["imports"]
    print(f"median of {args.runs} runs each, taking turns:")
    print(f"  python -c {IMPORTS!r}: {times['imports']:.3f} s")
    print(f"  maa-guard scan --demo:  {times['demo']:.3f} s ({ratio:.2f}x; target <= 2x)")
    scan = request_log(["scan", "--demo", "--format", "json"])
    review = request_log(["review", "--demo", REVIEWED_APP, "--format", "json"])
    print("Graph requests (emulator log):")
    print(f"  scan --demo:   {describe(scan)}")
    print(f"  review --demo: {describe(review)} (target: at most 15 HTTP requests)")


if __name__ == "__main__":
    main()
