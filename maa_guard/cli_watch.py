"""Parser for `watch` (poll MAA requests and changes, notify receivers exactly once)."""

from __future__ import annotations

import argparse
from pathlib import Path

from maa_guard.cli import SEVERITIES, add_live_options

WATCH_EPILOG = (
    "exit codes with --once: 0 read everything and delivered everything due, 2 configuration "
    "error (also: a receiver refused a message), 3 a source could not be read or a message is "
    "still queued for a receiver that is down (retried by the next run)"
)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="poll MAA requests and changes; notify Teams, Slack, webhooks and e-mail",
        epilog=WATCH_EPILOG,
    )
    watch.add_argument(
        "--interval", metavar="DURATION", help="time between polls, e.g. 5m (default 5m)"
    )
    watch.add_argument("--once", action="store_true", help="poll and deliver once, then exit")
    watch.add_argument(
        "--scan", action="store_true", help="also run the rules and tell new failing findings"
    )
    watch.add_argument(
        "--scan-severity",
        choices=SEVERITIES,
        help="lowest severity of a new finding to tell (default high)",
    )
    watch.add_argument(
        "--warn-before",
        metavar="DURATION",
        help="warn when a pending request expires within this time (default 12h)",
    )
    watch.add_argument(
        "--notify-existing",
        action="store_true",
        help="on the first run, announce the requests already open (default: a quiet baseline)",
    )
    watch.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="SQLite state file (default: MAA_GUARD_STATE, [watch] state, or state.db in the "
        "user data folder)",
    )
    watch.add_argument("--config", type=Path, metavar="FILE", help="config file")
    add_live_options(watch)
    watch.set_defaults(handler="maa_guard.commands_watch:run_watch")
