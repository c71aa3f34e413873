"""The command line: the parser assembled from one module per command group, and ``main``.

Each group module (``scan``, ``explain``, ``init``, ``probe``, ``emulate``, ``review``,
``exclusions``, ``approval``, ``impact``, ``history``, ``fleet``, ``watch``, ``completion``)
holds its parsers and its handlers; ``options`` holds the option groups they share and
``output`` writes what they render. The top of the tool: it may import every stage, and
nothing imports it.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias, cast

from maa_guard import __version__
from maa_guard.cli.options import Handler, SubParsers, connection_in_use
from maa_guard.errors import EXIT_INCOMPLETE, EXIT_OK, MaaGuardError

CommandGroup: TypeAlias = Callable[[SubParsers, argparse.ArgumentParser], None]
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)'")


class _Parser(argparse.ArgumentParser):
    """Adds "did you mean" to a mistyped command or choice."""

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.search(message)
        if found is not None:
            close = difflib.get_close_matches(found.group(1), self._choices(), n=1)
            if close:
                message = f"{message}; did you mean {close[0]!r}?"
        super().error(message)

    def _choices(self) -> list[str]:
        names: list[str] = []
        for action in self._actions:
            if action.choices is not None:
                names.extend(str(choice) for choice in action.choices)
        return names


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log details and show tracebacks",
    )
    common.add_argument(
        "--no-color",
        action="store_true",
        default=argparse.SUPPRESS,
        help="plain terminal output (NO_COLOR is honoured too)",
    )
    parser = _Parser(
        prog="maa-guard",
        parents=[common],
        description="Audit Microsoft Intune Multi Admin Approval: access policies, approver "
        "groups, app exclusions and approval requests.",
        epilog="exit codes: 0 pass, 1 findings at or above --fail-on, 2 usage/config/input "
        "error, 3 incomplete (a rule could not verify)",
    )
    parser.add_argument("--version", action="version", version=f"maa-guard {__version__}")
    # The subcommands' parsers are _Parser too (argparse uses the parent's class).
    commands = cast(SubParsers, parser.add_subparsers(dest="command", metavar="COMMAND"))
    commands.required = True
    for add_commands in _command_groups():
        add_commands(commands, common)
    return parser


def _command_groups() -> tuple[CommandGroup, ...]:
    """In the order ``maa-guard --help`` lists them."""
    from maa_guard.cli import (
        approval,
        completion,
        emulate,
        exclusions,
        explain,
        fleet,
        history,
        impact,
        init,
        probe,
        review,
        scan,
        watch,
    )

    return (
        scan.add_commands,
        explain.add_commands,
        init.add_commands,
        probe.add_commands,
        emulate.add_commands,
        review.add_commands,
        exclusions.add_commands,
        approval.add_commands,
        impact.add_commands,
        history.add_commands,
        fleet.add_commands,
        watch.add_commands,
        completion.add_commands,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not arguments:
        parser.print_help()
        return EXIT_OK
    args = parser.parse_args(arguments)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        handler: Handler = args.handler
        with connection_in_use(args):
            return handler(args)
    except MaaGuardError as error:
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        print(f"error: internal error: {error!r}", file=sys.stderr)
        print("hint: rerun with --debug and report the traceback", file=sys.stderr)
        return EXIT_INCOMPLETE
