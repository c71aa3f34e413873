"""Parser for `impact` (which automation MAA will break)."""

from __future__ import annotations

import argparse


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
