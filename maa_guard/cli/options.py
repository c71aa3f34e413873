"""Option groups shared by the commands, and reading them back: input, connection, terminal.

Light to import: every command module adds these groups while ``maa-guard --help`` builds the
parser, so heavy modules are imported inside the functions that turn parsed options into work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from maa_guard.scan.live import LiveOptions
    from maa_guard.scan.pipeline import ScanRequest

# Literal copies, so that `maa-guard --help` need not import the Graph stack to list them.
AUTH_METHODS = (
    "env",
    "certificate",
    "managed-identity",
    "workload-identity",
    "azure-cli",
    "device-code",
    "token",
)
CLOUDS = ("global", "usgov", "usgov-dod", "china")
SEVERITIES = ("critical", "high", "medium", "low")

Handler = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_input(command: argparse.ArgumentParser) -> None:
    """--snapshot FILE, --demo and --config: where the tenant comes from."""
    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )


def add_live_options(
    command: argparse.ArgumentParser,
    *,
    title: str = "live collection (read-only)",
    timeout_help: str = "time budget for the whole collection (3600)",
    collection: bool = True,
) -> None:
    """Options for reaching Graph; naming --auth or --graph-endpoint collects live.

    ``collection=False`` (commands that send one write) leaves out --days and --quiet.
    """
    live = command.add_argument_group(title)
    live.add_argument(
        "--auth",
        choices=AUTH_METHODS,
        help="how to sign in (default: a chain of "
        "env, workload-identity, managed-identity, azure-cli)",
    )
    live.add_argument("--cloud", choices=CLOUDS, default="global", help="national cloud")
    live.add_argument(
        "--graph-endpoint", metavar="URL", help="Graph root to use instead (an emulator or a proxy)"
    )
    live.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS", help=timeout_help)
    if not collection:
        command.set_defaults(days=30, quiet=False)
        return
    live.add_argument("--days", type=int, default=30, help="audit window in days (30)")
    live.add_argument("--quiet", action="store_true", help="no progress lines")


def terminal_color(args: argparse.Namespace) -> bool:
    return (
        not getattr(args, "no_color", False)
        and "NO_COLOR" not in os.environ
        and sys.stdout.isatty()
    )


def terminal_width(default: int = 120) -> int:
    return shutil.get_terminal_size((default, 40)).columns if sys.stdout.isatty() else default


def live_options(args: argparse.Namespace) -> LiveOptions | None:
    """Collect live when an authentication method or a Graph endpoint is named."""
    from maa_guard.scan.live import LiveOptions

    if getattr(args, "auth", None) is None and getattr(args, "graph_endpoint", None) is None:
        return None
    return LiveOptions(
        args.auth, args.cloud, args.graph_endpoint, args.timeout, args.days, args.quiet
    )


def scan_request(
    args: argparse.Namespace,
    flags: Mapping[str, Any] | None = None,
    live: LiveOptions | None = None,
) -> ScanRequest:
    """The input a command names: --snapshot, --demo or live collection, and its config."""
    from maa_guard.scan.pipeline import ScanRequest

    chosen = live if live is not None else live_options(args)
    quiet = bool(getattr(args, "quiet", False))
    return ScanRequest(args.snapshot, args.demo, args.config, flags or {}, chosen, quiet)
