"""`fleet scan`: many tenants in one run (parser and handler)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SubParsers,
    add_output_options,
    bounded_int,
    check_outputs,
    output_files,
    stdout_format,
    terminal_color,
    terminal_width,
)
from maa_guard.errors import UsageError

if TYPE_CHECKING:
    from maa_guard.fleet.report import FleetRun
    from maa_guard.fleet.run import Recorder, TenantOutcome
    from maa_guard.fleet.tenants import FleetTenant
    from maa_guard.reporters import OutputFormat


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    fleet = commands.add_parser("fleet", parents=[common], help="scan many tenants in one run")
    actions = fleet.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    scan = actions.add_parser(
        "scan",
        parents=[common],
        help="scan every tenant of a tenants file, concurrently",
        epilog="exit code: the worst tenant's (2 a tenant could not be signed in to or "
        "configured, then 1 findings, then 3 incomplete, then 0)",
    )
    scan.add_argument("--tenants", type=Path, required=True, metavar="FILE", help="tenants TOML")
    scan.add_argument(
        "--parallel", type=bounded_int(256, low=1), default=4, metavar="N", help="tenants at once"
    )
    scan.add_argument(
        "--shard", metavar="K/N", help="scan only the K-th of N stable shares of the tenants"
    )
    scan.add_argument(
        "--out-dir", type=Path, metavar="DIR", help="write each tenant's reports here"
    )
    scan.add_argument(
        "--tenant-format",
        action="append",
        choices=("json", "html", "sarif", "junit", "markdown", "csv"),
        metavar="FORMAT",
        help="per-tenant report formats (default json and html; repeat the option)",
    )
    add_output_options(
        scan,
        OUTPUT_FORMATS["fleet scan"],
        output_help="also write the combined report to PATH, in FORMAT or the one its suffix "
        "names (.txt .json .html .htm); repeatable",
    )
    scan.add_argument("--record", action="store_true", help="record every scan in the history")
    scan.add_argument("--history", metavar="URL", help="history database (SQLite path or URL)")
    scan.add_argument("--quiet", action="store_true", help="no per-tenant progress lines")
    scan.set_defaults(handler=run_fleet_scan)


def run_fleet_scan(args: argparse.Namespace) -> int:
    from maa_guard.cli.output import deliver
    from maa_guard.fleet.report import FleetRun
    from maa_guard.fleet.run import FleetOptions, fleet_exit_code, scan_fleet, tenant_inputs
    from maa_guard.fleet.tenants import load_tenants, parse_shard, shard_of
    from maa_guard.reporters import OutputFormat

    combined = OUTPUT_FORMATS["fleet scan"]
    outputs = output_files(args, combined)
    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    tenants = load_tenants(args.tenants)
    shard = ""
    if args.shard:
        k, n = parse_shard(args.shard)
        tenants, shard = shard_of(tenants, k, n), f"{k}/{n}"
    formats = tuple(OutputFormat(f) for f in (args.tenant_format or ["json", "html"]))
    targets = [output.path for output in outputs] + _report_paths(tenants, args.out_dir, formats)
    check_outputs(args, targets, tenant_inputs(tenants))
    options = FleetOptions(
        environ=os.environ,
        cwd=Path.cwd(),
        today=date.today(),
        parallel=args.parallel,
        out_dir=_out_dir(args.out_dir),
        formats=formats,
        recorder=_recorder(args),
    )
    outcomes = scan_fleet(tenants, options, _progress(len(tenants), args.quiet))
    run = FleetRun(tuple(outcomes), fleet_exit_code(outcomes), datetime.now(timezone.utc), shard)
    color, width = terminal_color(args), terminal_width()
    deliver(
        lambda fmt, terminal: _combined(fmt, run, color and terminal, width if terminal else 120),
        stdout_format(args, combined),
        outputs,
    )
    return run.exit_code


def _report_paths(
    tenants: Sequence[FleetTenant], out_dir: Path | None, formats: Sequence[OutputFormat]
) -> list[Path]:
    from maa_guard.fleet.run import report_paths

    return [path for tenant in tenants for _, path in report_paths(tenant, out_dir, formats)]


def _out_dir(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out-dir {path}: {error.strerror}") from None
    return path


def _recorder(args: argparse.Namespace) -> Recorder | None:
    if not args.record:
        if args.history:
            raise UsageError("--history is used with --record", "add --record")
        return None
    from maa_guard.history import recorder_for

    return recorder_for(args.history)


def _progress(total: int, quiet: bool) -> Callable[[TenantOutcome], None]:
    done = 0

    def tell(outcome: TenantOutcome) -> None:
        nonlocal done
        done += 1
        if not quiet:
            from maa_guard.reporters.text import one_line

            print(
                f"[{done}/{total}] {one_line(outcome.name)}: {outcome.status} "
                f"({outcome.seconds:.1f} s)",
                file=sys.stderr,
            )

    return tell


def _combined(output_format: str, run: FleetRun, color: bool, width: int) -> str:
    from maa_guard.fleet.report import render_html, render_json, render_table

    if output_format == "table":
        return render_table(run, color, width)
    render: Callable[[FleetRun], str] = render_json if output_format == "json" else render_html
    return render(run)
