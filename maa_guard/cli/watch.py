"""`watch`: poll MAA requests and changes, notify receivers exactly once (parser and handler).

The handler wires configuration, credentials and state to the watch runner; the watch modules
are imported only when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maa_guard.cli.options import SEVERITIES, SubParsers, add_live_options
from maa_guard.errors import EXIT_OK

if TYPE_CHECKING:
    from maa_guard.config import Settings
    from maa_guard.scan.live import LiveOptions
    from maa_guard.watch.config import WatchConfig
    from maa_guard.watch.notifiers import Notifier
    from maa_guard.watch.runner import Say
    from maa_guard.watch.sources import ScanOptions

WATCH_EPILOG = (
    "exit codes with --once: 0 read everything and delivered everything due, 2 configuration "
    "error (also: a receiver refused a message), 3 a source could not be read or a message is "
    "still queued for a receiver that is down (retried by the next run)"
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="poll MAA requests and changes; notify Teams, Slack, webhooks and e-mail",
        epilog=WATCH_EPILOG,
    )
    watch.add_argument(
        "--interval", metavar="DURATION", help="time between polls, e.g. 5m (default 5m)"
    )
    watch.add_argument("--once", action="store_true", help="poll and deliver once, then exit")
    watch.add_argument(
        "--scan", action="store_true", help="also run the rules and tell new failing findings"
    )
    watch.add_argument(
        "--scan-severity",
        choices=SEVERITIES,
        help="lowest severity of a new finding to tell (default high)",
    )
    watch.add_argument(
        "--warn-before",
        metavar="DURATION",
        help="warn when a pending request expires within this time (default 12h)",
    )
    watch.add_argument(
        "--notify-existing",
        action="store_true",
        help="on the first run, announce the requests already open (default: a quiet baseline)",
    )
    watch.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="SQLite state file (default: MAA_GUARD_STATE, [watch] state, or state.db in the "
        "user data folder)",
    )
    watch.add_argument("--config", type=Path, metavar="FILE", help="config file")
    add_live_options(watch)
    watch.set_defaults(handler=run_watch)


STATE_VARIABLE = "MAA_GUARD_STATE"
WATCH_TABLES = ("watch", "notify")
ConfigFile = tuple[Path, dict[str, Any]] | None


def run_watch(args: argparse.Namespace) -> int:
    from maa_guard.config import find_config_file
    from maa_guard.watch.delivery import Deliverer
    from maa_guard.watch.events import DetectOptions
    from maa_guard.watch.runner import Watch, run_forever, run_once
    from maa_guard.watch.sources import live_reader
    from maa_guard.watch.state import WatchStore

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
    from maa_guard.model import Severity
    from maa_guard.watch.config import WatchConfig, load_watch_config, parse_duration

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
    from maa_guard.catalogue import load_catalogue
    from maa_guard.config import load_settings

    core = None
    if found is not None:
        core = (found[0], {k: v for k, v in found[1].items() if k not in WATCH_TABLES})
    return load_settings(load_catalogue(), core, environ, {})


def build_notifiers(config: WatchConfig, environ: Mapping[str, str]) -> dict[str, Notifier]:
    """Every receiver's secrets are read now: a missing variable fails before any poll."""
    from maa_guard.watch.notifiers import CHANNELS

    return {r.name: CHANNELS[r.channel].build(r.settings, environ) for r in config.receivers}


def state_path(
    flag: Path | None, environ: Mapping[str, str], config: WatchConfig, found: ConfigFile
) -> Path:
    """--state, then MAA_GUARD_STATE, then [watch] state (relative to the config file), then
    state.db in the user data folder (the change workflow's database file)."""
    from maa_guard.storage.userdata import default_database

    if flag is not None:
        return flag
    if environ.get(STATE_VARIABLE, "").strip():
        return Path(environ[STATE_VARIABLE].strip())
    if config.state is not None:
        base = found[0].parent if found is not None else Path.cwd()
        return config.state if config.state.is_absolute() else base / config.state
    return default_database("state.db", environ)


def _live(args: argparse.Namespace) -> LiveOptions:
    from maa_guard.scan.live import LiveOptions

    return LiveOptions(
        auth=args.auth,
        cloud=args.cloud,
        graph_endpoint=args.graph_endpoint,
        timeout=args.timeout,
        days=args.days,
        quiet=True,
    )


def _scan(args: argparse.Namespace, config: WatchConfig) -> ScanOptions | None:
    from maa_guard.watch.sources import ScanOptions

    return ScanOptions(config.scan_severity) if args.scan else None


def _speakers(args: argparse.Namespace) -> tuple[Say, Say]:
    def warn(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def say(line: str) -> None:
        if not args.quiet:
            warn(line)

    return say, warn
