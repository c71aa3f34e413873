"""`emulate`: serve a tenant as a loopback Graph emulator (parser and handler)."""

from __future__ import annotations

import argparse
from pathlib import Path

from maa_guard.cli.options import SubParsers
from maa_guard.errors import EXIT_OK


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register emulate."""
    emulate = commands.add_parser(
        "emulate", parents=[common], help="serve a tenant as a loopback Graph emulator"
    )
    emulate.add_argument(
        "--tenant",
        type=Path,
        required=True,
        metavar="FILE",
        help="an emulator fixture or a snapshot JSON file",
    )
    emulate.add_argument("--port", type=int, default=0)
    emulate.add_argument("--latency-ms", type=int, default=0)
    emulate.add_argument("--approval-mode", choices=("403", "412"), default="412")
    emulate.add_argument("--fault", action="append", default=[], metavar="KIND=VALUE")
    emulate.add_argument("--no-throttle", action="store_true")
    emulate.set_defaults(handler=run_emulate)


def run_emulate(args: argparse.Namespace) -> int:
    from maa_guard.emulator import serve_forever
    from maa_guard.emulator.faults import faults_from_options

    def announce(emulator: object) -> None:
        url = getattr(emulator, "url", "")
        print(
            f"Graph emulator: {url}/beta (app-only token: maa-guard-reader); Ctrl-C stops it",
            flush=True,
        )

    serve_forever(
        args.tenant,
        port=args.port,
        latency_ms=args.latency_ms,
        approval_mode=args.approval_mode,
        faults=faults_from_options(args.fault),
        throttle=not args.no_throttle,
        ready=announce,
    )
    return EXIT_OK
