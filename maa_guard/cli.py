"""Command-line interface: argument parsing and wiring only."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from maa_guard import __version__
from maa_guard.errors import EXIT_INCOMPLETE, MaaGuardError

# Literal copies, so that `maa-guard --help` need not import the Graph stack to list them.
AUTH_METHODS = (
    "env",
    "certificate",
    "managed-identity",
    "workload-identity",
    "azure-cli",
    "device-code",
    "token",
)
CLOUDS = ("global", "usgov", "usgov-dod", "china")

Handler = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CommandGroup: TypeAlias = Callable[[SubParsers, argparse.ArgumentParser], None]
FORMATS = ("table", "json", "sarif", "junit", "html", "markdown", "csv")
SEVERITIES = ("critical", "high", "medium", "low")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log details and show tracebacks",
    )
    common.add_argument(
        "--no-color",
        action="store_true",
        default=argparse.SUPPRESS,
        help="plain terminal output (NO_COLOR is honoured too)",
    )
    parser = argparse.ArgumentParser(
        prog="maa-guard",
        parents=[common],
        description="Audit Microsoft Intune Multi Admin Approval: access policies, approver "
        "groups, app exclusions and approval requests.",
        epilog="exit codes: 0 pass, 1 findings at or above --fail-on, 2 usage/config/input "
        "error, 3 incomplete (a rule could not verify)",
    )
    parser.add_argument("--version", action="version", version=f"maa-guard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_scan(commands, common)
    _add_inventory(commands, common)
    _add_rules(commands, common)
    _add_live_commands(commands, common)
    for add_commands in _command_groups():
        add_commands(commands, common)
    return parser


def _command_groups() -> tuple[CommandGroup, ...]:
    """Parsers of the change-workflow commands live beside their handlers' modules."""
    from maa_guard import (
        cli_approval,
        cli_exclusions,
        cli_fleet,
        cli_history,
        cli_impact,
        cli_review,
        cli_watch,
    )

    return (
        cli_review.add_commands,
        cli_exclusions.add_commands,
        cli_approval.add_commands,
        cli_impact.add_commands,
        cli_history.add_commands,
        cli_fleet.add_commands,
        cli_watch.add_commands,
    )


def _add_input(command: argparse.ArgumentParser) -> None:
    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )


def add_live_options(
    command: argparse.ArgumentParser,
    *,
    title: str = "live collection (read-only)",
    timeout_help: str = "time budget for the whole collection (3600)",
    collection: bool = True,
) -> None:
    """Options for reaching Graph; naming --auth or --graph-endpoint collects live.

    ``collection=False`` (commands that send one write) leaves out --days and --quiet.
    """
    live = command.add_argument_group(title)
    live.add_argument(
        "--auth",
        choices=AUTH_METHODS,
        help="how to sign in (default: a chain of "
        "env, workload-identity, managed-identity, azure-cli)",
    )
    live.add_argument("--cloud", choices=CLOUDS, default="global", help="national cloud")
    live.add_argument(
        "--graph-endpoint", metavar="URL", help="Graph root to use instead (an emulator or a proxy)"
    )
    live.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS", help=timeout_help)
    if not collection:
        command.set_defaults(days=30, quiet=False)
        return
    live.add_argument("--days", type=int, default=30, help="audit window in days (30)")
    live.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_scan(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    scan = commands.add_parser("scan", parents=[common], help="run the rules over a tenant")
    _add_input(scan)
    add_live_options(scan)
    scan.add_argument(
        "--format",
        choices=FORMATS,
        help="standard output format (table on a terminal, json otherwise)",
    )
    scan.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="FORMAT=PATH",
        help="also write FORMAT to PATH (repeatable)",
    )
    scan.add_argument(
        "--record", action="store_true", help="store the scan in the history (maa-guard diff)"
    )
    scan.add_argument(
        "--history", metavar="URL", help="history database: a SQLite path or a PostgreSQL URL"
    )
    scan.add_argument("--fail-on", choices=SEVERITIES, help="lowest failing severity (high)")
    scan.add_argument(
        "--exit-zero", action="store_true", default=None, help="exit 0 even with failing findings"
    )
    scan.add_argument(
        "--allow-incomplete",
        action="store_true",
        default=None,
        help="do not exit 3 when a rule could not verify",
    )
    scan.add_argument("--rule", action="append", metavar="ID", help="run only this rule")
    scan.add_argument("--skip-rule", action="append", metavar="ID", help="do not run this rule")
    scan.add_argument("--baseline", metavar="FILE", help="only failures not in FILE count")
    scan.add_argument(
        "--write-baseline", type=Path, metavar="FILE", help="write the current failures to FILE"
    )
    scan.add_argument(
        "--show-suppressed",
        action="store_true",
        help="list suppressed findings in the terminal and Markdown",
    )
    scan.set_defaults(handler="run_scan")


def _add_inventory(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    inventory = commands.add_parser(
        "inventory", parents=[common], help="show policies, approver groups, members, exclusions"
    )
    _add_input(inventory)
    inventory.add_argument("--format", choices=("table", "json"), help="tree or JSON")
    inventory.set_defaults(handler="run_inventory")


def _add_rules(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    rules = commands.add_parser("rules", parents=[common], help="the rule catalogue")
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=[common], help="list the rules")
    listing.add_argument("--format", choices=("table", "json"))
    listing.set_defaults(handler="run_rules_list")
    show = actions.add_parser("show", parents=[common], help="one rule in full")
    show.add_argument("rule_id", metavar="ID")
    show.set_defaults(handler="run_rules_show")
    export = actions.add_parser("export", parents=[common], help="write Markdown rule pages")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    export.set_defaults(handler="run_rules_export")


def _add_live_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    snapshot = commands.add_parser(
        "snapshot", parents=[common], help="collect only: write a snapshot file"
    )
    snapshot.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    snapshot.add_argument("--config", type=Path, metavar="FILE", help="config file")
    snapshot.add_argument(
        "--allow-incomplete", action="store_true", help="exit 0 even when a source is not complete"
    )
    add_live_options(snapshot)
    snapshot.set_defaults(handler="run_snapshot")
    permissions = commands.add_parser(
        "permissions", parents=[common], help="the Graph application permissions maa-guard needs"
    )
    permissions.add_argument(
        "--check", action="store_true", help="compare with the roles of the token in use"
    )
    add_live_options(permissions)
    permissions.set_defaults(handler="run_permissions")
    emulate = commands.add_parser(
        "emulate", parents=[common], help="serve a tenant as a loopback Graph emulator"
    )
    emulate.add_argument(
        "--tenant",
        type=Path,
        required=True,
        metavar="FILE",
        help="an emulator fixture or a snapshot JSON file",
    )
    emulate.add_argument("--port", type=int, default=0)
    emulate.add_argument("--latency-ms", type=int, default=0)
    emulate.add_argument("--approval-mode", choices=("403", "412"), default="412")
    emulate.add_argument("--fault", action="append", default=[], metavar="KIND=VALUE")
    emulate.add_argument("--no-throttle", action="store_true")
    emulate.set_defaults(handler="run_emulate")


def resolve_handler(name: str) -> Handler:
    """``run_x`` names a function in :mod:`maa_guard.commands`; ``module:run_x`` one elsewhere.
    Imported only when called, so that ``--help`` stays fast."""
    module_name, _, function = name.rpartition(":")
    module = importlib.import_module(module_name or "maa_guard.commands")
    handler: Handler = getattr(module, function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return resolve_handler(args.handler)(args)
    except MaaGuardError as error:
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        print(f"error: internal error: {error!r}", file=sys.stderr)
        print("hint: rerun with --debug and report the traceback", file=sys.stderr)
        return EXIT_INCOMPLETE
