"""Handlers for `exclusions draft | show | submit | export`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from maa_guard.commands import live_options
from maa_guard.errors import EXIT_OK, UsageError
from maa_guard.scan import ScanRequest, settings_for, snapshot_for


def _request(args: argparse.Namespace) -> ScanRequest:
    return ScanRequest(args.snapshot, args.demo, args.config, {}, live_options(args))


def run_exclusions_export(args: argparse.Namespace) -> int:
    """Write the tenant's exclusions as ``[[exclusions]]`` entries to start exclusions as code."""
    from maa_guard.exclusions_toml import export_exclusions
    from maa_guard.files import write_atomically

    if args.review_days < 1:
        raise UsageError("--review-days must be at least 1")
    request = _request(args)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    today = datetime.now(timezone.utc).date()
    text = export_exclusions(snapshot, today, settings.declared_exclusions, args.review_days)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK
