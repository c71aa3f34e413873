"""`completion SHELL`: the shell completion script, generated from the parser by argcomplete."""

from __future__ import annotations

import argparse

from maa_guard.cli.options import SubParsers
from maa_guard.errors import EXIT_OK

SHELLS = ("bash", "zsh", "fish")
PROGRAM = "maa-guard"


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register completion."""
    completion = commands.add_parser(
        "completion",
        parents=[common],
        help="print the shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL. Install it with, for example: "
        'eval "$(maa-guard completion bash)" in ~/.bashrc.',
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    completion.set_defaults(handler=run_completion)


def run_completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode([PROGRAM], shell=args.shell), end="")
    return EXIT_OK
