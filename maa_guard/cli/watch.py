"""`watch`: poll MAA requests and changes, notify receivers exactly once (parser and handlers).

``watch [run]`` polls; ``watch test-notify`` sends one marked test message to every receiver;
``watch outbox`` lists the messages in the state file, read-only. The handlers wire
configuration, credentials and state to the watch modules, which are imported only when one
runs.
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

from maa_guard.cli.options import (
    OUTPUT_FORMATS,
    SEVERITIES,
    SubParsers,
    add_live_options,
    add_output_options,
    check_outputs,
    output_files,
    stdout_format,
    terminal_color,
    terminal_width,
)
from maa_guard.cli.output import deliver, write_stdout
from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from maa_guard.config import Settings
    from maa_guard.scan.live import LiveOptions
    from maa_guard.watch.config import ReceiverConfig, WatchConfig
    from maa_guard.watch.delivery import Trial
    from maa_guard.watch.notifiers import Notifier
    from maa_guard.watch.runner import Say
    from maa_guard.watch.sources import ScanOptions

WATCH_EPILOG = (
    "exit codes with --once: 0 read everything and delivered everything due, 2 configuration "
    "error (also: a receiver refused a message), 3 a source could not be read or a message is "
    "still queued for a receiver that is down (retried by the next run). test-notify: 0 every "
    "receiver took the test message, 2 one refused it (configuration), 3 one is unreachable. "
    "outbox: 0 listed, 2 no state file"
)
ACTIONS = ("run", "test-notify", "outbox")
# maa_guard.watch.outbox.STATUS_FILTERS, copied so that --help imports no watch module.
OUTBOX_STATUSES = ("queued", "sending", "blocked", "delivered", "failed")
# The options of one action only, and the flag an error names each by. --auth, --cloud and
# --graph-endpoint are left out: the connection may come from the environment or the config
# file (cli.options.resolve_connection), which the other actions simply do not use.
_ONLY_FOR = {
    "run": {
        "interval": "--interval",
        "once": "--once",
        "scan": "--scan",
        "scan_severity": "--scan-severity",
        "warn_before": "--warn-before",
        "notify_existing": "--notify-existing",
        "timeout": "--timeout",
        "days": "--days",
    },
    "outbox": {"status": "--status", "format": "--format", "output": "--output"},
}
_STATE_ACTIONS = ("run", "outbox")


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="poll MAA requests and changes; notify Teams, Slack, webhooks and e-mail",
        usage="%(prog)s [run | test-notify | outbox] [options]",
        epilog=WATCH_EPILOG,
    )
    watch.add_argument(
        "action",
        nargs="?",
        choices=ACTIONS,
        default="run",
        metavar="ACTION",
        help="run (default): poll and notify; test-notify: send a test message to every "
        "receiver; outbox: list the queued, refused and delivered messages",
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
    outbox = watch.add_argument_group("outbox")
    outbox.add_argument(
        "--status",
        choices=OUTBOX_STATUSES,
        help="only these messages (failed: refused, or queued again after a failed attempt)",
    )
    add_output_options(outbox, OUTPUT_FORMATS["watch outbox"])
    add_live_options(watch)
    unset = {dest: watch.get_default(dest) for names in _ONLY_FOR.values() for dest in names}
    watch.set_defaults(handler=run_watch, watch_unset=unset)


STATE_VARIABLE = "MAA_GUARD_STATE"
WATCH_TABLES = ("watch", "notify")
ConfigFile = tuple[Path, dict[str, Any]] | None


def run_watch(args: argparse.Namespace) -> int:
    _reject_other_options(args)
    if args.action == "test-notify":
        return run_test_notify(args)
    if args.action == "outbox":
        return run_outbox(args)
    return run_polls(args)


def _reject_other_options(args: argparse.Namespace) -> None:
    """An option of another action is an error, not silently ignored."""
    for action, options in _ONLY_FOR.items():
        if action == args.action:
            continue
        for dest, flag in options.items():
            if getattr(args, dest) != args.watch_unset[dest]:
                raise UsageError(
                    f"watch {args.action}: {flag} belongs to 'watch {action}'",
                    f"use it as 'maa-guard watch {action} {flag} ...', or leave it out",
                )
    if args.action not in _STATE_ACTIONS and args.state is not None:
        raise UsageError(
            f"watch {args.action}: --state is not used here (nothing is read or recorded)",
            "leave --state out",
        )


def run_polls(args: argparse.Namespace) -> int:
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
    state = state_path(args.state, environ, config, found)
    reader = live_reader(_live(args), settings, environ, _scan(args, config, state))
    say, warn = _speakers(args)
    if not config.receivers:
        warn("watch: no [[notify]] receivers configured: events are recorded, nothing is sent")
    with WatchStore.open(state) as store:
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


def _scan(args: argparse.Namespace, config: WatchConfig, state: Path) -> ScanOptions | None:
    """``--scan`` keeps its last snapshot beside the state database (``state.snapshot.json``
    for ``state.db``): each poll's collection reads only what changed since the last."""
    from maa_guard.watch.sources import ScanOptions

    snapshot = state.with_name(f"{state.stem}.snapshot.json")
    return ScanOptions(config.scan_severity, snapshot=snapshot) if args.scan else None


def _speakers(args: argparse.Namespace) -> tuple[Say, Say]:
    def warn(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def say(line: str) -> None:
        if not args.quiet:
            warn(line)

    return say, warn


# ---- test-notify -----------------------------------------------------------------------------


def run_test_notify(args: argparse.Namespace) -> int:
    """One marked test message to every receiver, outside the outbox; a line per receiver."""
    from maa_guard.config import find_config_file
    from maa_guard.watch.delivery import send_trials

    found = find_config_file(args.config, Path.cwd())
    config = watch_config(found, args)
    if not config.receivers:
        raise UsageError(
            "watch test-notify: no [[notify]] receivers configured",
            "add [[notify]] tables to maa-guard.toml (docs/watch.md), or name the file with "
            "--config",
        )
    environ = os.environ

    def build(receiver: ReceiverConfig) -> Notifier:
        from maa_guard.watch.notifiers import CHANNELS

        return CHANNELS[receiver.channel].build(receiver.settings, environ)

    trials = send_trials(config.receivers, build, config.portal_link, utc_now())
    write_stdout("".join(trial_line(trial) + "\n" for trial in trials), "table")
    return trial_exit_code(trials)


def trial_line(trial: Trial) -> str:
    from maa_guard.reporters.text import one_line
    from maa_guard.watch.notifiers import Outcome

    detail = one_line(trial.detail)
    if trial.outcome is Outcome.DELIVERED:
        return f"{trial.receiver}: delivered ({detail})"
    if trial.outcome is Outcome.REJECTED:
        return f"{trial.receiver}: failed: refused ({detail}); fix the receiver's configuration"
    if trial.outcome is Outcome.RETRY:
        return f"{trial.receiver}: failed: unreachable ({detail})"
    return f"{trial.receiver}: not sent ({detail})"


def trial_exit_code(trials: list[Trial]) -> int:
    """2 when a receiver refused (its configuration is wrong), else 3 when one is unreachable."""
    from maa_guard.watch.notifiers import Outcome

    outcomes = {trial.outcome for trial in trials}
    if Outcome.REJECTED in outcomes:
        return EXIT_USAGE
    if Outcome.RETRY in outcomes:
        return EXIT_INCOMPLETE
    return EXIT_OK


# ---- outbox ----------------------------------------------------------------------------------


def run_outbox(args: argparse.Namespace) -> int:
    """The outbox of the state file the watch would use, read-only."""
    from maa_guard.config import find_config_file
    from maa_guard.watch.outbox import render_outbox, select
    from maa_guard.watch.state import read_outbox

    formats = OUTPUT_FORMATS["watch outbox"]
    outputs = output_files(args, formats)
    found = find_config_file(args.config, Path.cwd())
    path = state_path(args.state, os.environ, watch_config(found, args), found)
    check_outputs(args, [output.path for output in outputs], [("the state file", path)])
    entries = select(read_outbox(path), args.status)
    color, width = terminal_color(args), terminal_width(160)

    def render(output_format: str, terminal: bool) -> str:
        as_json = output_format == "json"
        if terminal:
            return render_outbox(entries, str(path), as_json, color, width)
        return render_outbox(entries, str(path), as_json, color=False)

    deliver(render, stdout_format(args, formats), outputs)
    return EXIT_OK
