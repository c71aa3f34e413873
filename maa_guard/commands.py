"""The commands behind the command line: each turns parsed arguments into work and output."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from maa_guard.engine import ScanResult
    from maa_guard.history import HistoryRecorder
    from maa_guard.live import LiveOptions
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan import ScanRequest


def terminal_color(args: argparse.Namespace) -> bool:
    return (
        not getattr(args, "no_color", False)
        and "NO_COLOR" not in os.environ
        and sys.stdout.isatty()
    )


def terminal_width(default: int = 120) -> int:
    return shutil.get_terminal_size((default, 40)).columns if sys.stdout.isatty() else default


def scan_request(
    args: argparse.Namespace,
    flags: Mapping[str, Any] | None = None,
    live: LiveOptions | None = None,
) -> ScanRequest:
    """The input a command names: --snapshot, --demo or live collection, and its config."""
    from maa_guard.scan import ScanRequest

    chosen = live if live is not None else live_options(args)
    quiet = bool(getattr(args, "quiet", False))
    return ScanRequest(args.snapshot, args.demo, args.config, flags or {}, chosen, quiet)


def run_scan(args: argparse.Namespace) -> int:
    from maa_guard.gate import exit_code
    from maa_guard.reporters import OutputFormat, RenderOptions
    from maa_guard.scan import parse_outputs, write_outputs
    from maa_guard.scan import run_scan as scan

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
    from maa_guard.commands_history import record_after_scan

    return record_after_scan(recorder, result, exit_code(result))


def _history_recorder(args: argparse.Namespace) -> HistoryRecorder | None:
    """Checked before the scan: a bad URL or a missing driver is exit 2 before any work."""
    if not args.record:
        if args.history:
            raise UsageError("--history is used with --record", "add --record")
        return None
    from maa_guard.commands_history import history_recorder

    return history_recorder(args.history)


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


def run_inventory(args: argparse.Namespace) -> int:
    from maa_guard.inventory import render_inventory
    from maa_guard.scan import settings_for, snapshot_for

    request = scan_request(args)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    as_json = (args.format or ("table" if sys.stdout.isatty() else "json")) == "json"
    sys.stdout.write(render_inventory(snapshot, settings, as_json, terminal_color(args)))
    return 0


def run_rules_list(args: argparse.Namespace) -> int:
    from maa_guard.rules_docs import rules_table

    as_json = (args.format or ("table" if sys.stdout.isatty() else "json")) == "json"
    sys.stdout.write(rules_table(as_json, terminal_color(args)))
    return 0


def run_rules_show(args: argparse.Namespace) -> int:
    from maa_guard.rules_docs import rule_page

    sys.stdout.write(rule_page(args.rule_id.upper()))
    return 0


def run_rules_export(args: argparse.Namespace) -> int:
    from maa_guard.rules_docs import export_pages

    written = export_pages(args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def live_options(args: argparse.Namespace) -> LiveOptions | None:
    """Collect live when an authentication method or a Graph endpoint is named."""
    from maa_guard.live import LiveOptions

    if getattr(args, "auth", None) is None and getattr(args, "graph_endpoint", None) is None:
        return None
    return LiveOptions(
        args.auth, args.cloud, args.graph_endpoint, args.timeout, args.days, args.quiet
    )


def run_snapshot(args: argparse.Namespace) -> int:
    """Collect only: write the snapshot; exit 3 when a source is not complete."""
    from maa_guard.files import write_atomically
    from maa_guard.live import LiveOptions, collect_live
    from maa_guard.model import SourceState
    from maa_guard.scan import ScanRequest, settings_for
    from maa_guard.snapshot_file import snapshot_to_json

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
    from maa_guard.live import LiveOptions, current_token, token_roles

    if not args.check:
        rows = {source: list(perms) for source, perms in SOURCE_PERMISSIONS.items()}
        needed = sorted({p for perms in rows.values() for p in perms})
        print(json.dumps({"permissions": needed, "by_source": rows}, indent=2))
        return EXIT_OK
    options = live_options(args) or LiveOptions(None, args.cloud)
    missing = missing_permissions(token_roles(current_token(options, os.environ)))
    print(json.dumps({"missing_by_source": {s: list(p) for s, p in missing.items()}}, indent=2))
    return EXIT_INCOMPLETE if missing else EXIT_OK


def run_emulate(args: argparse.Namespace) -> int:
    from maa_guard.emulator import serve_forever
    from maa_guard.emulator.faults import faults_from_options

    def announce(emulator: object) -> None:
        url = getattr(emulator, "url", "")
        print(
            f"Graph emulator: {url}/beta (app-only token: maa-guard-reader); Ctrl-C stops it",
            flush=True,
        )

    serve_forever(
        args.tenant,
        port=args.port,
        latency_ms=args.latency_ms,
        approval_mode=args.approval_mode,
        faults=faults_from_options(args.fault),
        throttle=not args.no_throttle,
        ready=announce,
    )
    return EXIT_OK
