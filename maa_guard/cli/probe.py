"""`probe`: what the tenant's Graph really sends, as a report safe to paste in a public issue.

Parsed arguments -> observations (read-only GETs) -> report without tenant text -> files and
terminal.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SubParsers,
    add_live_options,
    add_output_options,
    check_outputs,
    output_files,
    stdout_format,
    terminal_color,
    terminal_width,
)
from maa_guard.errors import EXIT_OK

if TYPE_CHECKING:
    from maa_guard.probe.report import ProbeReport

DESCRIPTION = (
    "Read every Graph endpoint maa-guard reads (first page only), then report what came back: "
    "HTTP status and permission per endpoint, the properties and enum members of access "
    "policies and approval requests, MAA's audit categories and events, and whether each "
    "assumption in docs/assumptions.md holds. No tenant text, ids only as salted hashes."
)
EPILOG = (
    "exit codes: 0 the probe ran (whatever Graph answered), 2 bad input or no token could be "
    "got (as for every command), 3 Graph could not be reached or rejected the token. See "
    "docs/probe.md."
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    probe = commands.add_parser(
        "probe",
        parents=[common],
        help="report what the tenant's Graph really sends (safe to share)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_live_options(probe, timeout_help="time budget for the whole probe (3600)")
    add_output_options(probe, OUTPUT_FORMATS["probe"])
    probe.set_defaults(handler=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    from maa_guard.cli.output import deliver
    from maa_guard.probe.render import render

    formats = OUTPUT_FORMATS["probe"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    report = probe_report(args)
    color, width = terminal_color(args), terminal_width()

    def rendered(output_format: str, terminal: bool) -> str:
        if terminal:
            return render(report, output_format, color, width)
        return render(report, output_format)

    deliver(rendered, stdout_format(args, formats), outputs)
    return EXIT_OK


def probe_report(args: argparse.Namespace) -> ProbeReport:
    from maa_guard import __version__
    from maa_guard.probe.model import build_report
    from maa_guard.probe.observe import ProbeRequest, probe_tenant
    from maa_guard.probe.redact import Redactor

    request = ProbeRequest(args.auth, args.cloud, args.graph_endpoint, args.timeout, args.days)
    observations = probe_tenant(request, os.environ)
    return build_report(
        observations,
        Redactor(),
        tool_version=__version__,
        generated_at=datetime.now(timezone.utc).replace(microsecond=0),
        cloud=args.cloud,
        custom_endpoint=args.graph_endpoint is not None,
    )
