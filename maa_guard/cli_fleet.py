"""Parser for `fleet scan` (many tenants in one run)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
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
    scan.set_defaults(handler="maa_guard.commands_fleet:run_fleet_scan")
