"""Benchmark: `maa-guard impact` over the large synthetic tenant of bench_scan.py.

Not a test: it prints figures. Run from the repository root:

    python tests/benchmarks/bench_impact.py [--scale 1.0] [--keep FILE] [--table]

--table also times the terminal table: written whole to a file (every row, as a pipe gets it)
and as a terminal shows it (the first rows, the rest counted), at 120 and at 80 columns.

One child process loads the snapshot (200,000 audit events, 50,000 service principals at
scale 1), then computes the impact report and renders it, timing each stage. Memory is the
process's high-water RSS (VmHWM): the load's peak over the RSS before it, and the impact's peak
over the RSS after the load (the peak is reset between the two through /proc/self/clear_refs).

Target: impact time and peak memory within 0.5x of the load's; the terminal table within 2 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_scan import generate


def _status_kib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    return 0.0


def _reset_peak() -> bool:
    """Linux lets a process reset its own VmHWM to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(path: Path, folder: Path, table: bool) -> dict[str, Any]:
    from maa_guard.impact.compute import compute_impact
    from maa_guard.impact.render import ImpactFormat, render_chunks
    from maa_guard.snapshot.file import load_snapshot
    from maa_guard.storage.files import write_all_atomically

    figures: dict[str, Any] = {}
    rss_start = _status_kib("VmRSS")
    started = time.perf_counter()
    snapshot = load_snapshot(path)
    figures["load"] = time.perf_counter() - started
    figures["load_peak_mib"] = (_status_kib("VmHWM") - rss_start) / 1024
    figures["peak_reset"] = _reset_peak()
    rss_loaded = _status_kib("VmRSS")
    started = time.perf_counter()
    report = compute_impact(snapshot, (), "bench")
    figures["impact"] = time.perf_counter() - started
    figures["impact_peak_mib"] = (_status_kib("VmHWM") - rss_loaded) / 1024
    figures["rows"] = len(report.rows)
    figures["by_verdict"] = {v.value: n for v, n in report.by_verdict.items()}
    formats = [ImpactFormat.JSON, ImpactFormat.CSV, ImpactFormat.HTML]
    formats += [ImpactFormat.TABLE] if table else []
    for output_format in formats:
        out = folder / f"impact.{output_format.value}"
        started = time.perf_counter()
        write_all_atomically([(out, render_chunks(report, output_format))])
        figures[f"render_{output_format.value}"] = time.perf_counter() - started
        figures[f"size_{output_format.value}_mib"] = out.stat().st_size / 2**20
    if table:
        figures.update(_terminal(report))
    figures["total_peak_mib"] = (_status_kib("VmHWM") - rss_loaded) / 1024
    figures["events"] = len(snapshot.audit_events)
    return figures


def _terminal(report: Any) -> dict[str, float]:
    """What `maa-guard impact` prints on a terminal of 120 and of 80 columns."""
    from maa_guard.impact.render import ImpactFormat, ImpactRenderOptions, render
    from maa_guard.reporters.layout import TERMINAL_ROWS

    figures = {}
    for width in (120, 80):
        options = ImpactRenderOptions(width=width, max_rows=TERMINAL_ROWS)
        started = time.perf_counter()
        text = render(report, ImpactFormat.TABLE, options)
        figures[f"terminal_{width}"] = time.perf_counter() - started
        figures[f"terminal_{width}_lines"] = text.count("\n")
    return figures


def run_child(path: Path, folder: Path, table: bool) -> dict[str, Any]:
    arguments = [sys.executable, __file__, "--child", str(path), str(folder)]
    finished = subprocess.run(
        [*arguments, *(["--table"] if table else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        sys.exit(f"benchmark child failed:\n{finished.stderr}")
    figures: dict[str, Any] = json.loads(finished.stdout)
    return figures


def report(figures: dict[str, Any], size_mib: float) -> None:
    load, impact = figures["load"], figures["impact"]
    load_mib, impact_mib = figures["load_peak_mib"], figures["impact_peak_mib"]
    print(
        f"snapshot file: {size_mib:.1f} MiB, {figures['events']} audit events; "
        f"{figures['rows']} impact rows {figures['by_verdict']}"
    )
    print(f"load snapshot:      {load:.2f} s, peak +{load_mib:.0f} MiB (1.00x)")
    print(
        f"impact (compute):   {impact:.3f} s ({impact / load:.3f}x load; target <= 0.5x), "
        f"peak +{impact_mib:.1f} MiB ({impact_mib / load_mib:.3f}x load; target <= 0.5x)"
    )
    for name in ("json", "csv", "html", "table"):
        if f"render_{name}" in figures:
            seconds = figures[f"render_{name}"]
            print(
                f"render {name:<5}       {seconds:.2f} s ({seconds / load:.2f}x load), "
                f"{figures[f'size_{name}_mib']:.1f} MiB"
            )
    for width in (120, 80):
        if f"terminal_{width}" in figures:
            print(
                f"terminal {width} cols: {figures[f'terminal_{width}']:.2f} s "
                f"({figures[f'terminal_{width}_lines']} lines; target <= 2 s)"
            )
    print(
        f"peak over the loaded snapshot, compute and every render: "
        f"+{figures['total_peak_mib']:.0f} MiB ({figures['total_peak_mib'] / load_mib:.2f}x load)"
    )
    if not figures["peak_reset"]:
        print("warning: /proc/self/clear_refs refused: impact peaks include the load's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, help="keep the generated snapshot here")
    parser.add_argument("--table", action="store_true", help="also render the terminal table")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), args.table)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "bench-snapshot.json"
        if not (args.keep and path.exists()):
            path.write_text(json.dumps(generate(args.scale)), encoding="utf-8")
        figures = run_child(path, Path(folder), args.table)
        report(figures, path.stat().st_size / 2**20)


if __name__ == "__main__":
    main()
