"""`review APP`, the pre-exclusion review (parser and handler).

The handler resolves the input, reviews the app, renders, and exits by the verdict.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SubParsers,
    add_input,
    add_live_options,
    add_output_options,
    check_outputs,
    output_files,
    scan_request,
    stdout_format,
    terminal_color,
)
from maa_guard.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from maa_guard.cli.options import OutputFile
    from maa_guard.config import Settings
    from maa_guard.review.model import Review
    from maa_guard.scan.pipeline import ScanRequest
    from maa_guard.scan.served import ServedRecording


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
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
    add_input(review)
    review.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="ID|NAME",
        help="assess exclusion from this access policy (repeatable; default: the policies "
        "gating the workloads the app writes to, or every policy if it wrote nothing)",
    )
    add_output_options(review, OUTPUT_FORMATS["review"])
    add_live_options(review)
    review.set_defaults(handler=run_review)


def run_review(args: argparse.Namespace) -> int:
    """Exit 0 for ok, 1 for needs-hardening or do-not-exclude, 3 when incomplete."""
    from maa_guard.scan.served import demo_served_if

    with demo_served_if(args.demo) as served:
        return _run_review(args, served)


def _run_review(args: argparse.Namespace, served: ServedRecording | None) -> int:
    from maa_guard.scan.pipeline import settings_for

    formats = OUTPUT_FORMATS["review"]
    outputs = output_files(args, formats)
    check_outputs(args, [output.path for output in outputs])
    request = dataclasses.replace(scan_request(args), served=served)
    chosen = stdout_format(args, formats)
    settings = settings_for(request, os.environ, Path.cwd())
    review = _review(request, args.app, settings, tuple(args.policy))
    _write(review, outputs, announce=chosen is None)
    if chosen is not None:
        _print(review, chosen, terminal_color(args))
    return review.exit_code


def _review(
    request: ScanRequest, app_ref: str, settings: Settings, policies: tuple[str, ...]
) -> Review:
    from maa_guard.review import review_app
    from maa_guard.scan.pipeline import snapshot_for
    from maa_guard.scan.served import demo_path, demo_serving
    from maa_guard.snapshot.file import load_snapshot

    inputs = [request.demo, request.snapshot is not None, request.live is not None]
    if sum(inputs) != 1:
        raise UsageError(
            "give one input: --snapshot FILE, --demo, or --auth / --graph-endpoint to collect",
            "e.g. maa-guard review --demo 'Intune Tag Sync'",
        )
    if request.snapshot is not None:
        snapshot = snapshot_for(request, settings, os.environ)
        return review_app(snapshot, app_ref, settings, policy_ids=policies)
    from maa_guard.review.collect import collect_demo_for_review, collect_live_for_review

    if request.live is None:
        recorded = load_snapshot(demo_path("snapshot.json"))
        with demo_serving(request.served) as served:
            snapshot = collect_demo_for_review(
                recorded, served, app_ref, settings, os.environ, quiet=request.quiet
            )
    else:
        snapshot = collect_live_for_review(request.live, app_ref, settings, os.environ)
    # The app was resolved while collecting; the snapshot holds its service principal alone.
    resolved = snapshot.service_principals[0].app_id if snapshot.service_principals else app_ref
    return review_app(snapshot, resolved, settings, policy_ids=policies)


def render_review(review: Review, output_format: str, color: bool = False) -> str:
    from maa_guard.review import review_to_markdown, review_to_terminal
    from maa_guard.review.document import review_to_text

    if output_format == "json":
        return review_to_text(review)
    if output_format == "markdown":
        return review_to_markdown(review)
    width = shutil.get_terminal_size((120, 40)).columns if color else 120
    return review_to_terminal(review, color, width)


def _write(review: Review, outputs: Sequence[OutputFile], announce: bool) -> None:
    """All files or none; ``announce``: one line on standard error with the verdict."""
    from maa_guard.reporters.text import one_line
    from maa_guard.storage.files import write_all_atomically

    write_all_atomically([(file.path, [render_review(review, file.format)]) for file in outputs])
    if outputs and announce:
        name = one_line(review.app.display_name or review.app.app_id)
        written = ", ".join(str(file.path) for file in outputs)
        print(f"review of {name}: {review.verdict.value}; wrote {written}", file=sys.stderr)


def _print(review: Review, output_format: str, color: bool) -> None:
    """`maa-guard review ... | head` ends quietly: the verdict still decides the exit code."""
    from maa_guard.cli.output import write_stdout

    text = render_review(review, output_format, color and output_format == "table")
    write_stdout(text, output_format)
