"""`fleet scan`: many tenants in one run (parser and handler)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import SubParsers, terminal_color, terminal_width
from maa_guard.errors import UsageError

if TYPE_CHECKING:
    from maa_guard.fleet.report import FleetRun
    from maa_guard.fleet.run import Recorder, TenantOutcome


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
    scan.add_argument("--parallel", type=int, default=4, metavar="N", help="tenants at once")
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
    scan.add_argument("--format", choices=("table", "json", "html"), help="combined report")
    scan.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="FORMAT=FILE",
        help="also write the combined report (json or html) to FILE",
    )
    scan.add_argument("--record", action="store_true", help="record every scan in the history")
    scan.add_argument("--history", metavar="URL", help="history database (SQLite path or URL)")
    scan.add_argument("--quiet", action="store_true", help="no per-tenant progress lines")
    scan.set_defaults(handler=run_fleet_scan)


COMBINED_FORMATS = ("json", "html")


def run_fleet_scan(args: argparse.Namespace) -> int:
    from maa_guard.fleet.report import FleetRun
    from maa_guard.fleet.run import FleetOptions, fleet_exit_code, scan_fleet
    from maa_guard.fleet.tenants import load_tenants, parse_shard, shard_of
    from maa_guard.reporters import OutputFormat
    from maa_guard.storage.files import write_all_atomically

    outputs = _combined_outputs(args.output)
    if args.parallel < 1:
        raise UsageError("--parallel must be at least 1")
    tenants = load_tenants(args.tenants)
    shard = ""
    if args.shard:
        k, n = parse_shard(args.shard)
        tenants, shard = shard_of(tenants, k, n), f"{k}/{n}"
    options = FleetOptions(
        environ=os.environ,
        cwd=Path.cwd(),
        today=date.today(),
        parallel=args.parallel,
        out_dir=_out_dir(args.out_dir),
        formats=tuple(OutputFormat(f) for f in (args.tenant_format or ["json", "html"])),
        recorder=_recorder(args),
    )
    outcomes = scan_fleet(tenants, options, _progress(len(tenants), args.quiet))
    run = FleetRun(tuple(outcomes), fleet_exit_code(outcomes), datetime.now(timezone.utc), shard)
    write_all_atomically([(path, [_combined(name, run)]) for name, path in outputs])
    _emit(run, args.format or ("table" if sys.stdout.isatty() else "json"), args)
    return run.exit_code


def _combined_outputs(specs: list[str]) -> list[tuple[str, Path]]:
    outputs = []
    for spec in specs:
        name, separator, path = spec.partition("=")
        if not separator or not path or name not in COMBINED_FORMATS:
            raise UsageError(
                f"--output {spec!r}: expected json=FILE or html=FILE",
                "e.g. --output html=fleet.html",
            )
        outputs.append((name, Path(path)))
    return outputs


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


def _emit(run: FleetRun, output_format: str, args: argparse.Namespace) -> None:
    if output_format == "table":
        from maa_guard.fleet.report import render_table

        sys.stdout.write(render_table(run, terminal_color(args), terminal_width()))
    else:
        sys.stdout.write(_combined(output_format, run))


def _combined(output_format: str, run: FleetRun) -> str:
    from maa_guard.fleet.report import render_html, render_json

    render: Callable[[FleetRun], str] = render_json if output_format == "json" else render_html
    return render(run)
