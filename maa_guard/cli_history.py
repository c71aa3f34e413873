"""Parsers for `history list` and `diff` (recorded scans and drift)."""

from __future__ import annotations

import argparse
from pathlib import Path

_HANDLERS = "maa_guard.commands_history"
_HISTORY_HELP = (
    "history database: sqlite:///PATH, a file path, or postgresql://... "
    "(default: $MAA_GUARD_HISTORY, else history.db in the user data folder)"
)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
    _add_history(commands, common)
    _add_diff(commands, common)


def _add_history(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    history = commands.add_parser("history", parents=[common], help="recorded scans")
    actions = history.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=[common], help="list the recorded scans")
    listing.add_argument("--tenant", metavar="ID", help="only this tenant's scans")
    listing.add_argument("--history", metavar="URL", help=_HISTORY_HELP)
    listing.add_argument("--limit", type=int, metavar="N", help="only the N most recent scans")
    listing.add_argument("--format", choices=("table", "json"), help="table or JSON")
    listing.set_defaults(handler=f"{_HANDLERS}:run_history_list")


def _add_diff(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    diff = commands.add_parser(
        "diff",
        parents=[common],
        help="what changed between two scans: policies, approvers, exclusions, credentials, "
        "findings",
        epilog="A and B are recorded scan ids (digits) or snapshot files. Without them: the last "
        "two scans of the tenant; with A only: A against the tenant's latest scan. "
        "Exit 0, or 1 with --fail-on-drift when the tenant changed or a finding is new; "
        "2 bad input; 3 history unreachable.",
    )
    diff.add_argument("before", nargs="?", metavar="A", help="the earlier scan id or snapshot")
    diff.add_argument("after", nargs="?", metavar="B", help="the later scan id or snapshot")
    diff.add_argument("--tenant", metavar="ID", help="the tenant whose last two scans to compare")
    diff.add_argument("--history", metavar="URL", help=_HISTORY_HELP)
    diff.add_argument("--format", choices=("table", "json", "markdown"), help="output format")
    diff.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE")
    diff.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 1 when the tenant changed or a failing finding is new",
    )
    diff.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config for evaluating snapshot files (recorded scans keep their findings)",
    )
    diff.set_defaults(handler=f"{_HANDLERS}:run_diff")
