"""Command-line interface: argument parsing and wiring only."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard import __version__
from maa_guard.errors import EXIT_INCOMPLETE, MaaGuardError

if TYPE_CHECKING:
    from maa_guard.engine import ScanResult
    from maa_guard.reporters import OutputFormat, RenderOptions

Handler = Callable[[argparse.Namespace], int]
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
    return parser


def _add_input(command: argparse.ArgumentParser) -> None:
    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )


def _add_scan(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    scan = commands.add_parser("scan", parents=[common], help="run the rules over a tenant")
    _add_input(scan)
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
    scan.set_defaults(handler=_run_scan)


def _add_inventory(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    inventory = commands.add_parser(
        "inventory", parents=[common], help="show policies, approver groups, members, exclusions"
    )
    _add_input(inventory)
    inventory.add_argument("--format", choices=("table", "json"), help="tree or JSON")
    inventory.set_defaults(handler=_run_inventory)


def _add_rules(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    rules = commands.add_parser("rules", parents=[common], help="the rule catalogue")
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=[common], help="list the rules")
    listing.add_argument("--format", choices=("table", "json"))
    listing.set_defaults(handler=_run_rules_list)
    show = actions.add_parser("show", parents=[common], help="one rule in full")
    show.add_argument("rule_id", metavar="ID")
    show.set_defaults(handler=_run_rules_show)
    export = actions.add_parser("export", parents=[common], help="write Markdown rule pages")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    export.set_defaults(handler=_run_rules_export)


def _color(args: argparse.Namespace) -> bool:
    return (
        not getattr(args, "no_color", False)
        and "NO_COLOR" not in os.environ
        and sys.stdout.isatty()
    )


def _width() -> int:
    return shutil.get_terminal_size((120, 40)).columns if sys.stdout.isatty() else 120


def _run_scan(args: argparse.Namespace) -> int:
    from maa_guard.gate import exit_code
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan import ScanRequest, parse_outputs, run_scan, write_outputs

    outputs = parse_outputs(args.output)
    flags = {
        "fail_on": args.fail_on,
        "exit_zero": args.exit_zero,
        "allow_incomplete": args.allow_incomplete,
        "rules": args.rule,
        "skip_rules": args.skip_rule,
        "baseline": args.baseline,
    }
    request = ScanRequest(args.snapshot, args.demo, args.config, flags)
    result = run_scan(request, os.environ, Path.cwd(), date.today())
    options = RenderOptions(
        color=_color(args), width=_width(), show_suppressed=args.show_suppressed
    )
    stdout_format = OutputFormat(args.format or ("table" if sys.stdout.isatty() else "json"))
    write_outputs(result, [*outputs], options)
    if args.write_baseline:
        _write_baseline(result, args.write_baseline)
    try:
        _emit(result, stdout_format, options)
    except BrokenPipeError:  # `maa-guard scan ... | head`: the verdict still decides the exit code
        _silence_stdout()
    if stdout_format is not OutputFormat.TABLE:  # the table shows its warnings itself
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return exit_code(result)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _write_baseline(result: ScanResult, path: Path) -> None:
    from maa_guard.baseline import baseline_document
    from maa_guard.files import write_atomically

    write_atomically(path, baseline_document(result.findings, result.snapshot.tenant.id))


def _emit(result: ScanResult, output_format: OutputFormat, options: RenderOptions) -> None:
    from maa_guard.reporters import render_chunks

    last = ""
    for chunk in render_chunks(result, output_format, options):
        sys.stdout.write(chunk)
        last = chunk or last
    if not last.endswith("\n"):
        sys.stdout.write("\n")


def _run_inventory(args: argparse.Namespace) -> int:
    from maa_guard.inventory import render_inventory
    from maa_guard.scan import ScanRequest, settings_for, snapshot_for

    request = ScanRequest(args.snapshot, args.demo, args.config, {})
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request)
    as_json = (args.format or ("table" if sys.stdout.isatty() else "json")) == "json"
    sys.stdout.write(render_inventory(snapshot, settings, as_json, _color(args)))
    return 0


def _run_rules_list(args: argparse.Namespace) -> int:
    from maa_guard.rules_docs import rules_table

    as_json = (args.format or ("table" if sys.stdout.isatty() else "json")) == "json"
    sys.stdout.write(rules_table(as_json, _color(args)))
    return 0


def _run_rules_show(args: argparse.Namespace) -> int:
    from maa_guard.rules_docs import rule_page

    sys.stdout.write(rule_page(args.rule_id.upper()))
    return 0


def _run_rules_export(args: argparse.Namespace) -> int:
    from maa_guard.rules_docs import export_pages

    written = export_pages(args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        handler: Handler = args.handler
        return handler(args)
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
