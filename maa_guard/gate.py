"""Turns a scan result into the process exit code."""

from __future__ import annotations

from maa_guard.engine import ScanResult
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from maa_guard.model import Status


def exit_code(result: ScanResult) -> int:
    """1 for counted failures at or above --fail-on; else 3 when a rule could not verify."""
    settings = result.settings
    failing = any(f.counts_as_failure and f.severity >= settings.fail_on for f in result.findings)
    if failing and not settings.exit_zero:
        return EXIT_FINDINGS
    incomplete = any(f.status is Status.ERROR for f in result.findings)
    if incomplete and not settings.allow_incomplete:
        return EXIT_INCOMPLETE
    return EXIT_OK
