"""Handler for `watch`: configuration, credentials and state wired to the watch runner."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from maa_guard.catalogue import load_catalogue
from maa_guard.config import Settings, find_config_file, load_settings
from maa_guard.errors import EXIT_OK
from maa_guard.live import LiveOptions
from maa_guard.model import Severity
from maa_guard.userdata import default_database
from maa_guard.watch.config import WatchConfig, load_watch_config, parse_duration
from maa_guard.watch.delivery import Deliverer
from maa_guard.watch.events import DetectOptions
from maa_guard.watch.notifiers import CHANNELS, Notifier
from maa_guard.watch.runner import Say, Watch, run_forever, run_once
from maa_guard.watch.sources import ScanOptions, live_reader
from maa_guard.watch.state import WatchStore

STATE_VARIABLE = "MAA_GUARD_STATE"
WATCH_TABLES = ("watch", "notify")
ConfigFile = tuple[Path, dict[str, Any]] | None


def run_watch(args: argparse.Namespace) -> int:
    environ = os.environ
    found = find_config_file(args.config, Path.cwd())
    config = watch_config(found, args)
    settings = core_settings(found, environ)
    notifiers = build_notifiers(config, environ)
    reader = live_reader(_live(args), settings, environ, _scan(args, config))
    say, warn = _speakers(args)
    if not config.receivers:
        warn("watch: no [[notify]] receivers configured: events are recorded, nothing is sent")
    with WatchStore.open(state_path(args.state, environ, config, found)) as store:
        deliverer = Deliverer(store, notifiers, config.portal_link, clock=utc_now)
        options = DetectOptions(
            warn_before=config.warn_before, notify_existing=args.notify_existing
        )
        watch = Watch(store, reader, config.receivers, deliverer, options, clock=utc_now)
        if args.once:
            return run_once(watch, say, warn)
        run_forever(watch, config.interval, time.sleep, say, warn)
    return EXIT_OK


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def watch_config(found: ConfigFile, args: argparse.Namespace) -> WatchConfig:
    config = load_watch_config(found[1], str(found[0])) if found else WatchConfig()
    changes: dict[str, Any] = {}
    if args.interval is not None:
        changes["interval"] = parse_duration(args.interval, "--interval")
    if args.warn_before is not None:
        changes["warn_before"] = parse_duration(args.warn_before, "--warn-before")
    if args.scan_severity is not None:
        changes["scan_severity"] = Severity.parse(args.scan_severity)
    return replace(config, **changes)


def core_settings(found: ConfigFile, environ: Mapping[str, str]) -> Settings:
    """The rest of the file goes to the shared settings loader without the watch tables."""
    core = None
    if found is not None:
        core = (found[0], {k: v for k, v in found[1].items() if k not in WATCH_TABLES})
    return load_settings(load_catalogue(), core, environ, {})


def build_notifiers(config: WatchConfig, environ: Mapping[str, str]) -> dict[str, Notifier]:
    """Every receiver's secrets are read now: a missing variable fails before any poll."""
    return {r.name: CHANNELS[r.channel].build(r.settings, environ) for r in config.receivers}


def state_path(
    flag: Path | None, environ: Mapping[str, str], config: WatchConfig, found: ConfigFile
) -> Path:
    """--state, then MAA_GUARD_STATE, then [watch] state (relative to the config file), then
    state.db in the user data folder (the change workflow's database file)."""
    if flag is not None:
        return flag
    if environ.get(STATE_VARIABLE, "").strip():
        return Path(environ[STATE_VARIABLE].strip())
    if config.state is not None:
        base = found[0].parent if found is not None else Path.cwd()
        return config.state if config.state.is_absolute() else base / config.state
    return default_database("state.db", environ)


def _live(args: argparse.Namespace) -> LiveOptions:
    return LiveOptions(
        auth=args.auth,
        cloud=args.cloud,
        graph_endpoint=args.graph_endpoint,
        timeout=args.timeout,
        days=args.days,
        quiet=True,
    )


def _scan(args: argparse.Namespace, config: WatchConfig) -> ScanOptions | None:
    return ScanOptions(config.scan_severity) if args.scan else None


def _speakers(args: argparse.Namespace) -> tuple[Say, Say]:
    def warn(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def say(line: str) -> None:
        if not args.quiet:
            warn(line)

    return say, warn
