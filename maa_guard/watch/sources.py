"""The live Reader: Graph reads for every poll, plus the rules when ``--scan`` is given.

``--scan`` collects a full snapshot and evaluates the rules as ``maa-guard scan`` does
(``collect_live`` + ``evaluate``); a failing, unsuppressed, not baselined finding at or above
the scan severity is remembered by fingerprint, and one not seen by the previous poll is told.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from maa_guard import __version__
from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.config import Settings
from maa_guard.evaluate.engine import evaluate
from maa_guard.gate.baseline import load_baseline
from maa_guard.model import Finding, Severity, Status
from maa_guard.scan.live import LiveOptions, collect_live, collect_live_tracked
from maa_guard.scan.since import write_collected
from maa_guard.snapshot import Snapshot
from maa_guard.watch.model import FindingState, Observation, Reading
from maa_guard.watch.observe import ReadOptions, read_sync
from maa_guard.watch.runner import Reader


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """``snapshot``: where the last poll's snapshot is kept, and built on (only what changed
    since it is read); None collects in full every poll."""

    severity: Severity
    today: Callable[[], date] = date.today
    snapshot: Path | None = None


def live_reader(
    live: LiveOptions,
    settings: Settings,
    environ: Mapping[str, str],
    scan: ScanOptions | None,
) -> Reader:
    """Credentials are built once, here, so a bad ``--auth`` fails before the first poll."""
    from maa_guard.collect import GraphClient, build_credential, resolve_endpoint

    endpoint = resolve_endpoint(live.cloud, live.graph_endpoint)
    credential = build_credential(live.auth, endpoint, environ)
    options = ReadOptions(exclusions_property=settings.exclusions_property)

    def read(previous: Observation | None, now: datetime) -> Reading:
        reading = read_sync(
            lambda: GraphClient(credential, endpoint, timeout=live.timeout), previous, now, options
        )
        if scan is None:
            return reading
        findings, complete = scan_findings(live, settings, environ, scan)
        return dataclasses.replace(reading, findings=findings, findings_complete=complete)

    return read


def scan_findings(
    live: LiveOptions, settings: Settings, environ: Mapping[str, str], scan: ScanOptions
) -> tuple[dict[str, FindingState], bool]:
    snapshot = _collected(dataclasses.replace(live, quiet=True), settings, environ, scan.snapshot)
    baseline = load_baseline(settings.baseline) if settings.baseline else frozenset()
    result = evaluate(
        snapshot, load_catalogue(), all_checks(), settings, scan.today(), baseline, __version__
    )
    failing = {
        f.fingerprint: finding_state(f)
        for f in result.findings
        if f.counts_as_failure and f.severity >= scan.severity
    }
    complete = not any(f.status is Status.ERROR for f in result.findings)
    return failing, complete


def _collected(
    live: LiveOptions, settings: Settings, environ: Mapping[str, str], kept: Path | None
) -> Snapshot:
    if kept is None:
        return collect_live(live, settings, environ)
    own = dataclasses.replace(live, since=kept, own_copy=True)
    collected = collect_live_tracked(own, settings, environ)
    write_collected(kept, collected, private=True)
    return collected.snapshot


def finding_state(finding: Finding) -> FindingState:
    return FindingState(
        fingerprint=finding.fingerprint,
        rule_id=finding.rule_id,
        title=finding.title,
        severity=finding.severity,
        resource_id=finding.resource.id,
        resource_name=finding.resource.display_name,
        message=finding.message,
    )
