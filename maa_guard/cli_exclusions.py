"""Parsers for `exclusions draft | show | submit | export`."""

from __future__ import annotations

import argparse
from pathlib import Path

_HANDLERS = "maa_guard.commands_exclusions"


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
    group = commands.add_parser(
        "exclusions",
        parents=[common],
        help="draft, show and submit exclusion changes (through MAA); export exclusions as code",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    _add_draft(actions, common)
    _add_show(actions, common)
    _add_submit(actions, common)
    _add_export(actions, common)


def _add_input(command: argparse.ArgumentParser) -> None:
    from maa_guard.cli import add_live_options

    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument("--config", type=Path, metavar="FILE", help="config file")
    add_live_options(command)


def _add_draft(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    draft = actions.add_parser(
        "draft",
        parents=[common],
        help="write an exclusion change request file (reviews every app being added)",
    )
    draft.add_argument("--policy", required=True, metavar="ID|NAME", help="the access policy")
    draft.add_argument("--add", action="append", default=[], metavar="APP", help="exclude APP")
    draft.add_argument(
        "--remove", action="append", default=[], metavar="APP", help="stop excluding APP"
    )
    draft.add_argument("--justification", required=True, metavar="TEXT")
    draft.add_argument("--ticket", default="", metavar="REF", help="change ticket reference")
    draft.add_argument(
        "--accept-risk",
        default="",
        metavar="REASON",
        help="draft even when a review says do-not-exclude; the reason is recorded",
    )
    draft.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    _add_input(draft)
    draft.set_defaults(handler=f"{_HANDLERS}:run_exclusions_draft")


def _add_show(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    show = actions.add_parser("show", parents=[common], help="a draft as Markdown")
    show.add_argument("draft", type=Path, metavar="FILE")
    show.set_defaults(handler=f"{_HANDLERS}:run_exclusions_show")


def _add_submit(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from maa_guard.cli import add_live_options

    submit = actions.add_parser(
        "submit", parents=[common], help="send a draft's write; MAA files an approval request"
    )
    submit.add_argument("draft", type=Path, metavar="FILE")
    submit.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="state database (default: MAA_GUARD_STATE, else state.db in the user data folder)",
    )
    submit.add_argument("--format", choices=("table", "json"), help="table or JSON")
    add_live_options(
        submit,
        title="Graph connection",
        timeout_help="time limit for each request to Graph, in seconds",
        collection=False,
    )
    submit.set_defaults(handler=f"{_HANDLERS}:run_exclusions_submit")


def _add_export(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    export = actions.add_parser(
        "export", parents=[common], help="the tenant's exclusions as [[exclusions]] TOML"
    )
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    export.add_argument(
        "--review-days",
        type=int,
        default=90,
        metavar="N",
        help="review_by date for new entries, N days from today (default 90)",
    )
    _add_input(export)
    export.set_defaults(handler=f"{_HANDLERS}:run_exclusions_export")
