"""`history list` and `diff` (recorded scans and drift): parsers and handlers.

Heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SubParsers,
    add_output_options,
    bounded_int,
    check_outputs,
    output_files,
    stdout_format,
    terminal_color,
    terminal_width,
)
from maa_guard.cli.output import deliver
from maa_guard.errors import EXIT_FINDINGS, EXIT_OK, MaaGuardError, UsageError

if TYPE_CHECKING:
    from maa_guard.evaluate.engine import ScanResult
    from maa_guard.history.drift import ScanSide
    from maa_guard.history.store import History, HistoryRecorder


_HISTORY_HELP = (
    "history database: sqlite:///PATH, a file path, or postgresql://... "
    "(default: $MAA_GUARD_HISTORY, else history.db in the user data folder)"
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    _add_history(commands, common)
    _add_diff(commands, common)


def _add_history(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    history = commands.add_parser("history", parents=[common], help="recorded scans")
    actions = history.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=[common], help="list the recorded scans")
    listing.add_argument("--tenant", metavar="ID", help="only this tenant's scans")
    listing.add_argument("--history", metavar="URL", help=_HISTORY_HELP)
    listing.add_argument(
        "--limit", type=bounded_int(10**9), metavar="N", help="only the N most recent scans"
    )
    add_output_options(listing, OUTPUT_FORMATS["history list"])
    listing.set_defaults(handler=run_history_list)


def _add_diff(commands: SubParsers, common: argparse.ArgumentParser) -> None:
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
    add_output_options(diff, OUTPUT_FORMATS["diff"])
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
    diff.set_defaults(handler=run_diff)


def history_recorder(url: str | None) -> HistoryRecorder:
    """For ``scan --record``: checks the URL and the driver before any work (exit 2)."""
    from maa_guard.history.store import recorder_for

    return recorder_for(url)


def record_after_scan(recorder: HistoryRecorder, result: ScanResult, exit_code: int) -> int:
    """Record once the reports are out. A failure is printed and never leaves the exit code 0:
    the scan's own non-zero code stands, otherwise the recording error's (2 or 3)."""
    try:
        recorded = recorder.record(result)
    except MaaGuardError as error:
        print(f"error: the scan was not recorded: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return exit_code or error.exit_code
    print(f"recorded scan {recorded.id} in {recorder.location.display}", file=sys.stderr)
    return exit_code


def run_history_list(args: argparse.Namespace) -> int:
    from maa_guard.history.listing import render_scans
    from maa_guard.history.store import open_history

    formats = OUTPUT_FORMATS["history list"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    with open_history(args.history, create=False) as history:
        scans = history.list(args.tenant, args.limit)
        display = history.location.display
    color, width = terminal_color(args), terminal_width(160)

    def render(output_format: str, terminal: bool) -> str:
        as_json = output_format == "json"
        if terminal:
            return render_scans(scans, display, as_json, color, width)
        return render_scans(scans, display, as_json, color=False)

    deliver(render, stdout_format(args, formats), outputs)
    return EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    from maa_guard.history.diff import compute_drift
    from maa_guard.history.render import DiffFormat, render_drift

    formats = OUTPUT_FORMATS["diff"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    before_ref, after_ref = _reference(args.before), _reference(args.after)
    with _lazy_history(args.history) as history:
        before, after = _sides(before_ref, after_ref, args, history)
    _check_tenants(before, after, args.tenant)
    drift = compute_drift(before, after)
    color, width = terminal_color(args), terminal_width(120)

    def render(output_format: str, terminal: bool) -> str:
        if terminal:
            return render_drift(drift, DiffFormat(output_format), color, width)
        return render_drift(drift, DiffFormat(output_format))

    deliver(render, stdout_format(args, formats), outputs)
    return EXIT_FINDINGS if args.fail_on_drift and drift.fails else EXIT_OK


# ---- which two scans ------------------------------------------------------------------------

Reference = int | Path | None


def _reference(text: str | None) -> Reference:
    """Digits name a recorded scan; anything else a snapshot file (``./12`` for a file named 12)."""
    if text is None:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    return Path(text)


class _LazyHistory:
    """Opens the history only when a recorded scan is needed: two files touch no database."""

    def __init__(self, url: str | None) -> None:
        self._url = url
        self._history: History | None = None

    def get(self) -> History:
        if self._history is None:
            from maa_guard.history.store import open_history

            self._history = open_history(self._url, create=False)
        return self._history

    def close(self) -> None:
        if self._history is not None:
            self._history.close()


@contextmanager
def _lazy_history(url: str | None) -> Iterator[_LazyHistory]:
    lazy = _LazyHistory(url)
    try:
        yield lazy
    finally:
        lazy.close()


def _sides(
    before: Reference, after: Reference, args: argparse.Namespace, history: _LazyHistory
) -> tuple[ScanSide, ScanSide]:
    if before is None:
        older, newer = history.get().latest_two(args.tenant)
        return _recorded(history, older.id), _recorded(history, newer.id)
    first = _side(before, args, history)
    if after is not None:
        return first, _side(after, args, history)
    return first, _latest_after(first, history)


def _side(reference: int | Path, args: argparse.Namespace, history: _LazyHistory) -> ScanSide:
    if isinstance(reference, int):
        return _recorded(history, reference)
    return _from_file(reference, args.config)


def _latest_after(first: ScanSide, history: _LazyHistory) -> ScanSide:
    tenant_id = first.snapshot.tenant.id
    latest = history.get().list(tenant_id, limit=1)
    if not latest:
        raise UsageError(
            f"tenant {tenant_id} has no recorded scan to compare {first.label} with",
            "give a second scan id or snapshot file",
        )
    if latest[0].id == first.scan_id:
        raise UsageError(
            f"{first.label} is the latest recorded scan of tenant {tenant_id}",
            "give a second scan id or snapshot file to compare it with",
        )
    return _recorded(history, latest[0].id)


def _recorded(history: _LazyHistory, scan_id: int) -> ScanSide:
    from maa_guard.history.drift import ScanSide

    store = history.get()
    scan = store.get(scan_id)
    snapshot, findings = store.load(scan_id)
    return ScanSide(snapshot, findings, scan_id=scan_id, tool_version=scan.tool_version)


def _from_file(path: Path, config: Path | None) -> ScanSide:
    """A snapshot file's findings: the current rules and config, as of its collection day."""
    from maa_guard import __version__
    from maa_guard.catalogue import load_catalogue
    from maa_guard.checks import all_checks
    from maa_guard.evaluate.engine import evaluate
    from maa_guard.history.drift import ScanSide
    from maa_guard.history.records import StoredFinding
    from maa_guard.scan.pipeline import ScanRequest, settings_for
    from maa_guard.snapshot.file import load_snapshot

    settings = settings_for(ScanRequest(path, False, config, {}), os.environ, Path.cwd())
    snapshot = load_snapshot(path)
    result = evaluate(
        snapshot,
        load_catalogue(),
        all_checks(),
        settings,
        snapshot.collected_at.date(),
        tool_version=__version__,
    )
    findings = tuple(StoredFinding.of(finding) for finding in result.findings)
    return ScanSide(snapshot, findings, path=str(path), tool_version=__version__)


def _check_tenants(before: ScanSide, after: ScanSide, tenant: str | None) -> None:
    ids = {before.snapshot.tenant.id.lower(), after.snapshot.tenant.id.lower()}
    if len(ids) != 1:
        raise UsageError(
            f"{before.label} and {after.label} are scans of different tenants",
            "compare two scans of one tenant",
        )
    if tenant is not None and tenant.strip().lower() not in ids:
        raise UsageError(
            f"{before.label} and {after.label} are not scans of tenant {tenant}",
            "leave out --tenant, or name scans of that tenant",
        )
