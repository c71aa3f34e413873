"""`impact`: which automation MAA will break (parser and handler).

Parsed arguments -> snapshot -> impact report -> files and terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    SubParsers,
    add_input,
    add_live_options,
    live_options,
    scan_request,
    terminal_color,
    terminal_width,
)
from maa_guard.errors import UsageError

if TYPE_CHECKING:
    from maa_guard.impact.model import ImpactReport
    from maa_guard.impact.render import ImpactFormat, ImpactRenderOptions
    from maa_guard.scan.live import LiveOptions


FORMATS = ("table", "json", "csv", "html")
DESCRIPTION = (
    "For every app-only identity that wrote to Intune in the audit window, or that holds "
    "Intune write permissions and signed in: what it wrote, whether an access policy gates "
    "it, whether it is excluded or already uses the approval flow, and a verdict: "
    "will-be-blocked, unprotected-workload, excluded, inactive, read-only, maa-aware."
)
EPILOG = (
    "exit codes: 0 no app will be blocked, 1 at least one will-be-blocked app, 2 bad input, "
    "3 incomplete (a data source could not be read). --days: the audit window (live: 30 by "
    "default; a snapshot: its own window unless --days narrows it). See docs/impact.md."
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    impact = commands.add_parser(
        "impact",
        parents=[common],
        help="which app-only automation MAA will block, and the ways out",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_input(impact)
    add_live_options(impact)
    impact.set_defaults(days=None)  # None: a snapshot keeps its own window
    impact.add_argument(
        "--format",
        choices=FORMATS,
        help="standard output format (table on a terminal, json otherwise)",
    )
    impact.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="[FORMAT=]FILE",
        help="write the report to FILE, in FORMAT or by the file's extension "
        "(.txt .json .csv .html); repeatable; standard output then stays empty unless "
        "--format is given",
    )
    impact.set_defaults(handler=run_impact)


EXTENSIONS = {".txt": "table", ".json": "json", ".csv": "csv", ".html": "html", ".htm": "html"}


def run_impact(args: argparse.Namespace) -> int:
    from maa_guard.impact.render import ImpactRenderOptions, render_chunks
    from maa_guard.storage.files import write_all_atomically

    outputs = parse_outputs(args.output)
    stdout_format = _stdout_format(args.format, bool(outputs))
    report = impact_report(args)
    plain = ImpactRenderOptions()
    write_all_atomically([(path, render_chunks(report, fmt, plain)) for fmt, path in outputs])
    if stdout_format is not None:
        _emit(
            report,
            stdout_format,
            ImpactRenderOptions(color=terminal_color(args), width=terminal_width()),
        )
    if stdout_format is None or stdout_format.value != "table":  # the table says it itself
        for name, status in report.incomplete_sources.items():
            print(f"warning: incomplete: {_one_line(status.describe(name))}", file=sys.stderr)
    return report.exit_code


def impact_report(args: argparse.Namespace) -> ImpactReport:
    """Load or collect the snapshot the way `scan` does, then compute the report."""
    from maa_guard.impact.compute import compute_impact, narrow_window
    from maa_guard.scan.pipeline import settings_for, snapshot_for

    live = _live_options(args)
    request = scan_request(args, live=live)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    if live is None:
        snapshot = narrow_window(snapshot, args.days)
    return compute_impact(snapshot, settings.declared_exclusions)


def _live_options(args: argparse.Namespace) -> LiveOptions | None:
    from maa_guard.scan.live import DEFAULT_DAYS

    days = DEFAULT_DAYS if args.days is None else args.days
    return live_options(argparse.Namespace(**{**vars(args), "days": days}))


def parse_outputs(specs: Sequence[str]) -> list[tuple[ImpactFormat, Path]]:
    """``-o [FORMAT=]FILE`` values, checked before any work is done."""
    outputs = [_output(spec) for spec in specs]
    paths = [path.resolve() for _, path in outputs]
    if len(set(paths)) != len(paths):
        raise UsageError("two -o options name the same file", "give each report its own file")
    return outputs


def _output(spec: str) -> tuple[ImpactFormat, Path]:
    from maa_guard.impact.render import ImpactFormat

    name, separator, rest = spec.partition("=")
    if separator and name.strip().lower() in {f.value for f in ImpactFormat}:
        if not rest:
            raise UsageError(f"-o {spec!r}: no file after '='", "e.g. -o html=impact.html")
        return ImpactFormat(name.strip().lower()), Path(rest)
    if not spec:
        raise UsageError("-o needs a file name", "e.g. -o impact.html")
    by_extension = EXTENSIONS.get(Path(spec).suffix.lower())
    if by_extension is None:
        choices = ", ".join(f.value for f in ImpactFormat)
        raise UsageError(
            f"-o {spec!r}: cannot tell the format from the file name",
            f"write FORMAT=FILE, with FORMAT one of {choices}",
        )
    return ImpactFormat(by_extension), Path(spec)


def _stdout_format(name: str | None, has_outputs: bool) -> ImpactFormat | None:
    from maa_guard.impact.render import ImpactFormat

    if name is None and has_outputs:
        return None
    return ImpactFormat(name or ("table" if sys.stdout.isatty() else "json"))


def _emit(report: ImpactReport, output_format: ImpactFormat, options: ImpactRenderOptions) -> None:
    from maa_guard.impact.render import render_chunks

    try:
        for chunk in render_chunks(report, output_format, options):
            sys.stdout.write(chunk)
        sys.stdout.flush()
    except BrokenPipeError:  # `maa-guard impact | head`: the verdict still decides the exit code
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _one_line(text: str) -> str:
    from maa_guard.reporters.text import one_line

    return one_line(text)
