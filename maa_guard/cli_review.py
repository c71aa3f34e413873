"""Parser for `review APP` (pre-exclusion review)."""

from __future__ import annotations

import argparse
from pathlib import Path

REVIEW_FORMATS = ("table", "json", "markdown")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
    from maa_guard.cli import add_live_options

    review = commands.add_parser(
        "review",
        parents=[common],
        help="review an app before excluding it from MAA: ok, needs-hardening or do-not-exclude",
        epilog="exit codes: 0 ok, 1 needs-hardening or do-not-exclude, 2 bad input "
        "(unknown or ambiguous APP), 3 could not verify (never 0)",
    )
    review.add_argument(
        "app", metavar="APP", help="appId, service principal object id or exact display name"
    )
    review.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    review.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    review.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )
    review.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="ID|NAME",
        help="assess exclusion from this access policy (repeatable; default: the policies "
        "gating the workloads the app writes to, or every policy if it wrote nothing)",
    )
    review.add_argument(
        "--format",
        choices=REVIEW_FORMATS,
        help="output format (table on a terminal, json otherwise; with -o, from its suffix)",
    )
    review.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the review to FILE instead"
    )
    add_live_options(review)
    review.set_defaults(handler="maa_guard.commands_review:run_review")
