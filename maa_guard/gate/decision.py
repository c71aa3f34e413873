"""Turns a scan result into the process exit code."""

from __future__ import annotations

from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Status


def gating_failures(result: ScanResult) -> list[Finding]:
    """Failures that fail the gate: at or above --fail-on, not suppressed, not in the baseline.
    Every finding of the scan counts, also those a display filter hides."""
    threshold = result.settings.fail_on
    return [f for f in result.scanned if f.counts_as_failure and f.severity >= threshold]


def exit_code(result: ScanResult) -> int:
    """1 for gating failures; else 3 when a rule could not verify; else 0."""
    settings = result.settings
    if gating_failures(result) and not settings.exit_zero:
        return EXIT_FINDINGS
    incomplete = any(f.status is Status.ERROR for f in result.scanned)
    if incomplete and not settings.allow_incomplete:
        return EXIT_INCOMPLETE
    return EXIT_OK
