"""`scan`, `inventory`, `rules`, `snapshot` and `permissions`: parsers and handlers.

Heavy modules are imported inside the handlers, so that building the parser stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SEVERITIES,
    SubParsers,
    add_input,
    add_live_options,
    add_output_options,
    check_outputs,
    live_options,
    output_files,
    resolve_connection,
    scan_request,
    stdout_format,
    terminal_color,
    terminal_rows,
    terminal_width,
)
from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from maa_guard.evaluate.display import DisplayFilter
    from maa_guard.evaluate.engine import ScanResult
    from maa_guard.history import HistoryRecorder
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan.pipeline import ScanRequest
    from maa_guard.scan.served import ServedRecording

STATUSES = ("fail", "error", "pass", "skipped")


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
    add_output_options(scan, OUTPUT_FORMATS["scan"])
    scan.add_argument(
        "--record", action="store_true", help="store the scan in the history (maa-guard diff)"
    )
    scan.add_argument(
        "--history", metavar="URL", help="history database: a SQLite path or a PostgreSQL URL"
    )
    _add_since(scan, "a live scan")
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
    _add_display_filters(scan)
    scan.set_defaults(handler=run_scan)


def _add_since(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--since",
        type=Path,
        metavar="FILE",
        help=f"{what} builds on the earlier snapshot FILE and its delta state (FILE's "
        ".delta.json), reading only what changed, and replaces them; a FILE not there yet "
        "is written by a full collection",
    )


def _add_display_filters(scan: argparse.ArgumentParser) -> None:
    shown = scan.add_argument_group(
        "display filters",
        "narrow what is shown and written (stdout and --output); the exit code, the summary "
        "counts, --write-baseline and --record still see every finding",
    )
    shown.add_argument(
        "--severity",
        choices=SEVERITIES,
        metavar="LEVEL",
        help="show only findings of this severity and above (critical, high, medium, low)",
    )
    shown.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        metavar="STATUS",
        help="show only findings with this status: fail, error, pass, skipped (repeatable)",
    )
    shown.add_argument(
        "--resource",
        metavar="TEXT",
        help="show only findings whose resource id or name contains TEXT, ignoring case",
    )
    shown.add_argument(
        "--framework",
        metavar="NAME",
        help="show only findings of rules mapped to a control of NAME: nist-800-53 or "
        "zero-trust-assessment (or the framework's full name)",
    )


def _add_inventory(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    inventory = commands.add_parser(
        "inventory", parents=[common], help="show policies, approver groups, members, exclusions"
    )
    add_input(inventory)
    add_output_options(inventory, OUTPUT_FORMATS["inventory"])
    inventory.set_defaults(handler=run_inventory)


def _add_rules(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    rules = commands.add_parser("rules", parents=[common], help="the rule catalogue")
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=[common], help="list the rules")
    add_output_options(listing, OUTPUT_FORMATS["rules list"])
    listing.add_argument(
        "--framework",
        metavar="NAME",
        help="only the rules mapped to a control of NAME (nist-800-53, zero-trust-assessment)",
    )
    listing.set_defaults(handler=run_rules_list)
    show = actions.add_parser("show", parents=[common], help="one rule in full")
    show.add_argument("rule_id", metavar="ID")
    add_output_options(show, OUTPUT_FORMATS["rules show"])
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
        "--since",
        type=Path,
        metavar="FILE",
        help="build on the earlier snapshot FILE and its delta state, reading only what "
        "changed (the new snapshot and its delta state go to --output)",
    )
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
    add_output_options(permissions, OUTPUT_FORMATS["permissions"])
    add_live_options(permissions)
    permissions.set_defaults(handler=run_permissions)


def run_scan(args: argparse.Namespace) -> int:
    from maa_guard.scan.served import demo_served_if

    with demo_served_if(args.demo) as served:
        return _run_scan(args, served)


def _run_scan(args: argparse.Namespace, served: ServedRecording | None) -> int:
    from maa_guard.cli.output import say_written
    from maa_guard.evaluate.engine import displayed
    from maa_guard.gate.decision import exit_code
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan.pipeline import run_scan as scan
    from maa_guard.scan.pipeline import write_outputs

    formats = OUTPUT_FORMATS["scan"]
    outputs = output_files(args, formats)
    since = [("--since", args.since)] if args.since is not None else []
    check_outputs(args, [*(output.path for output in outputs), args.write_baseline], since)
    recorder = _history_recorder(args)
    display = display_filter(args)  # an unknown --framework is exit 2 before any work
    flags = {
        "fail_on": args.fail_on,
        "exit_zero": args.exit_zero,
        "allow_incomplete": args.allow_incomplete,
        "rules": args.rule,
        "skip_rules": args.skip_rule,
        "baseline": args.baseline,
    }
    request = dataclasses.replace(_with_since(args, scan_request(args, flags)), served=served)
    result = scan(request, os.environ, Path.cwd(), date.today())
    chosen = stdout_format(args, formats)
    shown = displayed(result, display)  # what is shown; `result` decides
    files = [(OutputFormat(output.format), output.path) for output in outputs]
    write_outputs(shown, files, RenderOptions(show_suppressed=args.show_suppressed))
    if args.write_baseline:
        _write_baseline(result, args.write_baseline)
    if chosen is None:
        say_written(output.path for output in outputs)
    else:  # `| head` ends it quietly: the verdict decides the exit code
        options = RenderOptions(
            color=terminal_color(args),
            width=terminal_width(),
            show_suppressed=args.show_suppressed,
            max_rows=terminal_rows(),
        )
        _emit(shown, OutputFormat(chosen), options)
    if chosen != "table":  # the table shows its warnings itself
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if recorder is None:
        return exit_code(result)
    from maa_guard.cli.history import record_after_scan

    return record_after_scan(recorder, result, exit_code(result))


def _with_since(args: argparse.Namespace, request: ScanRequest) -> ScanRequest:
    """A live scan builds on ``--since FILE``, or with ``--record`` on the last snapshot it
    keeps of this tenant in the user data folder."""
    if request.live is None:
        if args.since is not None:
            raise UsageError(
                "--since builds on a live collection", "add --auth or --graph-endpoint"
            )
        return request
    from maa_guard.scan.since import recorded_snapshot_path, state_path

    since = args.since
    if since is None and args.record:
        connection = resolve_connection(args)
        endpoint = connection.graph_endpoint or connection.cloud
        tenant = os.environ.get("AZURE_TENANT_ID") or connection.tenant_id or ""
        since = recorded_snapshot_path(os.environ, endpoint, tenant)
    if since is None:
        return request
    check_outputs(args, [since, state_path(since)])
    own = args.since is None
    live = dataclasses.replace(request.live, since=since, own_copy=own)
    return dataclasses.replace(request, live=live)


def display_filter(args: argparse.Namespace) -> DisplayFilter:
    """--severity, --status, --resource and --framework as a filter (inactive when none is
    given)."""
    from maa_guard.catalogue import framework_named, rules_mapped_to
    from maa_guard.evaluate.display import DisplayFilter
    from maa_guard.model import Severity, Status

    statuses = tuple(Status(name) for name in dict.fromkeys(args.status or ()))
    severity = Severity.parse(args.severity) if args.severity else None
    framework = framework_named(args.framework) if args.framework is not None else None
    mapped = rules_mapped_to(framework) if framework is not None else frozenset()
    return DisplayFilter(severity, statuses, args.resource or None, framework, mapped)


def _history_recorder(args: argparse.Namespace) -> HistoryRecorder | None:
    """Checked before the scan: a bad URL or a missing driver is exit 2 before any work."""
    if not args.record:
        if args.history:
            raise UsageError("--history is used with --record", "add --record")
        return None
    from maa_guard.cli.history import history_recorder

    return history_recorder(args.history)


def _write_baseline(result: ScanResult, path: Path) -> None:
    from maa_guard.gate.baseline import baseline_document
    from maa_guard.storage.files import write_atomically

    write_atomically(path, baseline_document(result.findings, result.snapshot.tenant.id))


def _emit(result: ScanResult, output_format: OutputFormat, options: RenderOptions) -> None:
    from maa_guard.cli.output import write_stdout
    from maa_guard.reporters import render_chunks

    write_stdout(render_chunks(result, output_format, options), output_format.value)


def run_inventory(args: argparse.Namespace) -> int:
    from maa_guard.cli.output import deliver
    from maa_guard.reporters.inventory import render_inventory
    from maa_guard.scan.pipeline import settings_for, snapshot_for

    formats = OUTPUT_FORMATS["inventory"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    request = scan_request(args)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    color = terminal_color(args)

    def render(output_format: str, terminal: bool) -> str:
        return render_inventory(snapshot, settings, output_format == "json", color and terminal)

    deliver(render, stdout_format(args, formats), outputs)
    return 0


def run_rules_list(args: argparse.Namespace) -> int:
    from maa_guard.catalogue import framework_named
    from maa_guard.cli.output import deliver
    from maa_guard.reporters.rules_list import rules_table

    formats = OUTPUT_FORMATS["rules list"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    framework = framework_named(args.framework) if args.framework is not None else None
    color = terminal_color(args)

    def render(output_format: str, terminal: bool) -> str:
        width = terminal_width() if terminal else 120
        return rules_table(output_format == "json", color and terminal, framework, width)

    deliver(render, stdout_format(args, formats), outputs)
    return 0


def run_rules_show(args: argparse.Namespace) -> int:
    from maa_guard.catalogue.pages import find_rule, render_page, rule_json
    from maa_guard.cli.output import deliver

    formats = OUTPUT_FORMATS["rules show"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    rule = find_rule(args.rule_id)

    def render(output_format: str, terminal: bool) -> str:
        return rule_json(rule) if output_format == "json" else render_page(rule)

    deliver(render, stdout_format(args, formats), outputs)
    return 0


def run_rules_export(args: argparse.Namespace) -> int:
    from maa_guard.catalogue.pages import export_pages

    written = export_pages(args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    """Collect only: write the snapshot and its delta state (what ``--since`` builds on);
    exit 3 when a source is partial or failed."""
    from maa_guard.cli.options import check_outputs
    from maa_guard.scan.live import LiveOptions, collect_live_tracked
    from maa_guard.scan.pipeline import ScanRequest, settings_for
    from maa_guard.scan.since import state_path, write_collected

    check_outputs(args, [args.output, state_path(args.output)])
    options = live_options(args) or LiveOptions(
        None, args.cloud, None, args.timeout, args.days, args.quiet
    )
    options = dataclasses.replace(options, since=args.since)
    settings = settings_for(ScanRequest(None, False, args.config, {}), os.environ, Path.cwd())
    collected = collect_live_tracked(options, settings, os.environ)
    write_collected(args.output, collected)
    snapshot = collected.snapshot
    incomplete = sorted(
        name for name, status in snapshot.sources.items() if not status.state.usable
    )
    print(
        f"wrote {args.output}" + (f"; incomplete: {', '.join(incomplete)}" if incomplete else ""),
        file=sys.stderr,
    )
    return EXIT_INCOMPLETE if incomplete and not args.allow_incomplete else EXIT_OK


def run_permissions(args: argparse.Namespace) -> int:
    """The least-privilege application permissions; --check compares a token's roles."""
    from maa_guard.cli.output import deliver
    from maa_guard.collect import SOURCE_PERMISSIONS, missing_permissions
    from maa_guard.reporters.permissions import render_missing, render_needed
    from maa_guard.scan.live import LiveOptions, current_token, token_roles

    formats = OUTPUT_FORMATS["permissions"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    color = terminal_color(args)
    if not args.check:
        deliver(
            lambda fmt, terminal: render_needed(
                SOURCE_PERMISSIONS, fmt == "json", color and terminal
            ),
            stdout_format(args, formats),
            outputs,
        )
        return EXIT_OK
    options = live_options(args) or LiveOptions(None, args.cloud)
    missing = missing_permissions(token_roles(current_token(options, os.environ)))
    deliver(
        lambda fmt, terminal: render_missing(missing, fmt == "json", color and terminal),
        stdout_format(args, formats),
        outputs,
    )
    return EXIT_INCOMPLETE if missing else EXIT_OK
