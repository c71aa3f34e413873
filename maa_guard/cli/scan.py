"""`scan`, `inventory`, `rules`, `snapshot` and `permissions`: parsers and handlers.

Heavy modules are imported inside the handlers, so that building the parser stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    SEVERITIES,
    SubParsers,
    add_input,
    add_live_options,
    live_options,
    scan_request,
    terminal_color,
    terminal_width,
)
from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from maa_guard.evaluate.engine import ScanResult
    from maa_guard.history import HistoryRecorder
    from maa_guard.reporters import OutputFormat, RenderOptions

FORMATS = ("table", "json", "sarif", "junit", "html", "markdown", "csv")


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register scan, inventory, rules, snapshot and permissions."""
    _add_scan(commands, common)
    _add_inventory(commands, common)
    _add_rules(commands, common)
    _add_live_commands(commands, common)


def _add_scan(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    scan = commands.add_parser("scan", parents=[common], help="run the rules over a tenant")
    add_input(scan)
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
    scan.set_defaults(handler=run_scan)


def _add_inventory(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    inventory = commands.add_parser(
        "inventory", parents=[common], help="show policies, approver groups, members, exclusions"
    )
    add_input(inventory)
    inventory.add_argument("--format", choices=("table", "json"), help="tree or JSON")
    inventory.set_defaults(handler=run_inventory)


def _add_rules(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    rules = commands.add_parser("rules", parents=[common], help="the rule catalogue")
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=[common], help="list the rules")
    listing.add_argument("--format", choices=("table", "json"))
    listing.set_defaults(handler=run_rules_list)
    show = actions.add_parser("show", parents=[common], help="one rule in full")
    show.add_argument("rule_id", metavar="ID")
    show.set_defaults(handler=run_rules_show)
    export = actions.add_parser("export", parents=[common], help="write Markdown rule pages")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    export.set_defaults(handler=run_rules_export)


def _add_live_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    snapshot = commands.add_parser(
        "snapshot", parents=[common], help="collect only: write a snapshot file"
    )
    snapshot.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    snapshot.add_argument("--config", type=Path, metavar="FILE", help="config file")
    snapshot.add_argument(
        "--allow-incomplete", action="store_true", help="exit 0 even when a source is not complete"
    )
    add_live_options(snapshot)
    snapshot.set_defaults(handler=run_snapshot)
    permissions = commands.add_parser(
        "permissions", parents=[common], help="the Graph application permissions maa-guard needs"
    )
    permissions.add_argument(
        "--check", action="store_true", help="compare with the roles of the token in use"
    )
    add_live_options(permissions)
    permissions.set_defaults(handler=run_permissions)


def run_scan(args: argparse.Namespace) -> int:
    from maa_guard.gate.decision import exit_code
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan.pipeline import parse_outputs, write_outputs
    from maa_guard.scan.pipeline import run_scan as scan

    outputs = parse_outputs(args.output)
    recorder = _history_recorder(args)
    flags = {
        "fail_on": args.fail_on,
        "exit_zero": args.exit_zero,
        "allow_incomplete": args.allow_incomplete,
        "rules": args.rule,
        "skip_rules": args.skip_rule,
        "baseline": args.baseline,
    }
    request = scan_request(args, flags)
    result = scan(request, os.environ, Path.cwd(), date.today())
    options = RenderOptions(
        color=terminal_color(args), width=terminal_width(), show_suppressed=args.show_suppressed
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
    if recorder is None:
        return exit_code(result)
    from maa_guard.cli.history import record_after_scan

    return record_after_scan(recorder, result, exit_code(result))


def _history_recorder(args: argparse.Namespace) -> HistoryRecorder | None:
    """Checked before the scan: a bad URL or a missing driver is exit 2 before any work."""
    if not args.record:
        if args.history:
            raise UsageError("--history is used with --record", "add --record")
        return None
    from maa_guard.cli.history import history_recorder

    return history_recorder(args.history)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _write_baseline(result: ScanResult, path: Path) -> None:
    from maa_guard.gate.baseline import baseline_document
    from maa_guard.storage.files import write_atomically

    write_atomically(path, baseline_document(result.findings, result.snapshot.tenant.id))


def _emit(result: ScanResult, output_format: OutputFormat, options: RenderOptions) -> None:
    from maa_guard.reporters import render_chunks

    last = ""
    for chunk in render_chunks(result, output_format, options):
        sys.stdout.write(chunk)
        last = chunk or last
    if not last.endswith("\n"):
        sys.stdout.write("\n")


def run_inventory(args: argparse.Namespace) -> int:
    from maa_guard.reporters.inventory import render_inventory
    from maa_guard.scan.pipeline import settings_for, snapshot_for

    request = scan_request(args)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    as_json = (args.format or ("table" if sys.stdout.isatty() else "json")) == "json"
    sys.stdout.write(render_inventory(snapshot, settings, as_json, terminal_color(args)))
    return 0


def run_rules_list(args: argparse.Namespace) -> int:
    from maa_guard.catalogue.pages import rules_table

    as_json = (args.format or ("table" if sys.stdout.isatty() else "json")) == "json"
    sys.stdout.write(rules_table(as_json, terminal_color(args)))
    return 0


def run_rules_show(args: argparse.Namespace) -> int:
    from maa_guard.catalogue.pages import rule_page

    sys.stdout.write(rule_page(args.rule_id.upper()))
    return 0


def run_rules_export(args: argparse.Namespace) -> int:
    from maa_guard.catalogue.pages import export_pages

    written = export_pages(args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    """Collect only: write the snapshot; exit 3 when a source is not complete."""
    from maa_guard.model import SourceState
    from maa_guard.scan.live import LiveOptions, collect_live
    from maa_guard.scan.pipeline import ScanRequest, settings_for
    from maa_guard.snapshot.file import snapshot_to_json
    from maa_guard.storage.files import write_atomically

    options = live_options(args) or LiveOptions(
        None, args.cloud, None, args.timeout, args.days, args.quiet
    )
    settings = settings_for(ScanRequest(None, False, args.config, {}), os.environ, Path.cwd())
    snapshot = collect_live(options, settings, os.environ)
    write_atomically(args.output, snapshot_to_json(snapshot))
    incomplete = sorted(
        name
        for name, status in snapshot.sources.items()
        if status.state is not SourceState.COMPLETE
    )
    print(
        f"wrote {args.output}" + (f"; incomplete: {', '.join(incomplete)}" if incomplete else ""),
        file=sys.stderr,
    )
    return EXIT_INCOMPLETE if incomplete and not args.allow_incomplete else EXIT_OK


def run_permissions(args: argparse.Namespace) -> int:
    """The least-privilege application permissions; --check compares a token's roles."""
    import json

    from maa_guard.collect import SOURCE_PERMISSIONS, missing_permissions
    from maa_guard.scan.live import LiveOptions, current_token, token_roles

    if not args.check:
        rows = {source: list(perms) for source, perms in SOURCE_PERMISSIONS.items()}
        needed = sorted({p for perms in rows.values() for p in perms})
        print(json.dumps({"permissions": needed, "by_source": rows}, indent=2))
        return EXIT_OK
    options = live_options(args) or LiveOptions(None, args.cloud)
    missing = missing_permissions(token_roles(current_token(options, os.environ)))
    print(json.dumps({"missing_by_source": {s: list(p) for s, p in missing.items()}}, indent=2))
    return EXIT_INCOMPLETE if missing else EXIT_OK
