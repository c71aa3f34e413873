"""Parser for `impact` (which automation MAA will break)."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
    from maa_guard.cli import add_live_options

    impact = commands.add_parser(
        "impact",
        parents=[common],
        help="which app-only automation MAA will block, and the ways out",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    _add_input(impact)
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
    impact.set_defaults(handler="maa_guard.commands_impact:run_impact")


def _add_input(command: argparse.ArgumentParser) -> None:
    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )
