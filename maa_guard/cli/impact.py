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
    OUTPUT_FORMATS,
    SubParsers,
    add_input,
    add_live_options,
    add_output_options,
    check_outputs,
    live_options,
    output_files,
    scan_request,
    stdout_format,
    terminal_color,
    terminal_rows,
    terminal_width,
)

if TYPE_CHECKING:
    from maa_guard.impact.model import ImpactReport
    from maa_guard.impact.render import ImpactFormat, ImpactRenderOptions
    from maa_guard.scan.live import LiveOptions


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
    add_output_options(impact, OUTPUT_FORMATS["impact"])
    _add_display_filters(impact)
    impact.set_defaults(handler=run_impact)


# Literal copy of impact.model.Verdict, so that `--help` need not import the impact stage.
VERDICTS = (
    "will-be-blocked",
    "unprotected-workload",
    "excluded",
    "inactive",
    "read-only",
    "maa-aware",
)


def _add_display_filters(impact: argparse.ArgumentParser) -> None:
    shown = impact.add_argument_group(
        "display filters",
        "narrow the rows shown and written (stdout and -o); the exit code still counts every app",
    )
    shown.add_argument(
        "--verdict",
        action="append",
        choices=VERDICTS,
        metavar="VERDICT",
        help=f"show only apps with this verdict: {', '.join(VERDICTS)} (repeatable)",
    )
    shown.add_argument(
        "--resource",
        metavar="TEXT",
        help="show only apps whose appId or name contains TEXT, ignoring case",
    )


def run_impact(args: argparse.Namespace) -> int:
    from maa_guard.cli.output import say_written
    from maa_guard.impact.render import ImpactFormat, ImpactRenderOptions, render_chunks
    from maa_guard.storage.files import write_all_atomically

    formats = OUTPUT_FORMATS["impact"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    chosen = stdout_format(args, formats)
    report = impact_report(args)
    shown = shown_rows(report, args.verdict or (), args.resource)  # `report` decides the exit
    plain = ImpactRenderOptions()
    write_all_atomically(
        [(file.path, render_chunks(shown, ImpactFormat(file.format), plain)) for file in outputs]
    )
    if chosen is None:
        say_written(output.path for output in outputs)
    else:
        _emit(
            shown,
            ImpactFormat(chosen),
            ImpactRenderOptions(terminal_color(args), terminal_width(), terminal_rows()),
        )
    if chosen != "table":  # the table says it itself
        for name, status in report.incomplete_sources.items():
            print(f"warning: incomplete: {_one_line(status.describe(name))}", file=sys.stderr)
        if report.unknown_requestor_reason:
            print(f"warning: incomplete: {report.unknown_requestor_reason}", file=sys.stderr)
    if shown is not report:
        print(
            f"{len(shown.rows)} of {len(report.rows)} apps shown; the exit code "
            f"({report.exit_code}) counts every app",
            file=sys.stderr,
        )
    return report.exit_code


def shown_rows(report: ImpactReport, verdicts: Sequence[str], text: str | None) -> ImpactReport:
    """A copy of the report with only the rows the display filters let through (the same
    report when none is given): by verdict, and by a case-insensitive part of appId or name."""
    from dataclasses import replace

    if not verdicts and not text:
        return report
    needle = (text or "").casefold()
    rows = tuple(
        row
        for row in report.rows
        if (not verdicts or row.verdict.value in verdicts)
        and (needle in row.app_id.casefold() or needle in row.display_name.casefold())
    )
    return replace(report, rows=rows, unfiltered=report)


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


def _emit(report: ImpactReport, output_format: ImpactFormat, options: ImpactRenderOptions) -> None:
    """`maa-guard impact | head` ends quietly: the verdict still decides the exit code."""
    from maa_guard.cli.output import write_stdout
    from maa_guard.impact.render import render_chunks

    write_stdout(render_chunks(report, output_format, options), output_format.value)


def _one_line(text: str) -> str:
    from maa_guard.reporters.text import one_line

    return one_line(text)
