"""The scan workflow: inputs -> snapshot -> evaluate -> reports. No argument parsing here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from maa_guard import __version__
from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.config import Settings, find_config_file, load_settings
from maa_guard.errors import UsageError
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.gate.baseline import load_baseline
from maa_guard.reporters import OutputFormat, RenderOptions, render_chunks
from maa_guard.scan.live import LiveOptions, collect_demo, collect_live
from maa_guard.scan.served import ServedRecording, demo_path, demo_serving
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.file import load_snapshot
from maa_guard.snapshot.gcpause import paused_gc
from maa_guard.storage.files import write_all_atomically


@dataclass(frozen=True, slots=True)
class ScanRequest:
    snapshot: Path | None
    demo: bool
    config: Path | None
    flags: Mapping[str, Any]
    live: LiveOptions | None = None
    quiet: bool = False  # no progress display for --demo
    served: ServedRecording | None = None  # --demo: the demo tenant, served since the start


def snapshot_for(request: ScanRequest, settings: Settings, environ: Mapping[str, str]) -> Snapshot:
    inputs = [request.demo, request.snapshot is not None, request.live is not None]
    if sum(inputs) > 1:
        raise UsageError(
            "--demo, --snapshot and live collection (--auth, --graph-endpoint) exclude each other",
            "choose one input",
        )
    if request.demo:
        with demo_serving(request.served) as served:
            return collect_demo(served, settings, environ, quiet=request.quiet)
    if request.live is not None and request.live.since is not None:
        return _collect_since(request.live, settings, environ, request.live.since)
    if request.live is not None:
        return collect_live(request.live, settings, environ)
    if request.snapshot is None:
        raise UsageError(
            "no input: give --snapshot FILE, --demo, or --auth / --graph-endpoint to collect",
            "try 'maa-guard scan --demo'",
        )
    return load_snapshot(request.snapshot)


def _collect_since(
    live: LiveOptions, settings: Settings, environ: Mapping[str, str], since: Path
) -> Snapshot:
    """Collect building on ``since``, then replace it (and its delta state) with the new
    collection, so the next one builds on this one."""
    from maa_guard.scan.live import collect_live_tracked
    from maa_guard.scan.since import write_collected

    collected = collect_live_tracked(live, settings, environ)
    write_collected(since, collected, private=live.own_copy)
    return collected.snapshot


def settings_for(request: ScanRequest, environ: Mapping[str, str], cwd: Path) -> Settings:
    config_path = request.config
    if config_path is None and request.demo:
        config_path = demo_path("maa-guard.toml")
    config = find_config_file(config_path, cwd)
    return load_settings(load_catalogue(), config, environ, request.flags)


def run_scan(
    request: ScanRequest, environ: Mapping[str, str], cwd: Path, today: date
) -> ScanResult:
    settings = settings_for(request, environ, cwd)
    if not any(settings.selects(rule_id) for rule_id in load_catalogue()):
        raise UsageError(
            "no rule is selected",
            "check --rule, --skip-rule and [scan] rules, "
            "skip_rules and [rules.ID] enabled in the configuration",
        )
    snapshot = snapshot_for(request, settings, environ)
    baseline = load_baseline(settings.baseline) if settings.baseline else frozenset()
    return evaluate(
        snapshot, load_catalogue(), all_checks(), settings, today, baseline, __version__
    )


def write_outputs(
    result: ScanResult, outputs: Sequence[tuple[OutputFormat, Path]], options: RenderOptions
) -> None:
    """All files or none: a failing reporter leaves no partial set behind."""
    with paused_gc():
        write_all_atomically([(path, render_chunks(result, fmt, options)) for fmt, path in outputs])
