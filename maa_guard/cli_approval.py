"""Parsers for `request submit` and `requests list | status | wait | complete | cancel`."""

from __future__ import annotations

import argparse
from pathlib import Path

_HANDLERS = "maa_guard.commands_approval"
_EXIT_CODES = (
    "exit codes: 0 done (see each command), 1 refused / rejected / cancelled / expired / not "
    "approved, 2 bad input (nothing sent, state untouched), 3 outcome unknown or timed out. "
    "No command approves or rejects: that is a person's job in the Intune admin center."
)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register this group's subcommands; handlers are named ``"module:function"``."""
    request = commands.add_parser(
        "request",
        parents=[common],
        help="send any MAA-protected Intune write through MAA approval",
        epilog=_EXIT_CODES,
    )
    actions = request.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    _add_submit(actions, common)
    requests = commands.add_parser(
        "requests",
        parents=[common],
        help="follow approval requests: list, status, wait, complete, cancel",
        epilog=_EXIT_CODES,
    )
    follow = requests.add_subparsers(dest="action", metavar="ACTION")
    follow.required = True
    _add_list(follow, common)
    for name, summary in _CODE_ACTIONS.items():
        _add_code_action(follow, common, name, summary)


_CODE_ACTIONS = {
    "status": "the request's status, approver, notes and expiry (exit 0)",
    "wait": "poll until approved (0), rejected / cancelled / expired (1), or --timeout (3)",
    "complete": "resend the approved change with its code (0 applied, 1 not approved)",
    "cancel": "cancel your own pending request through cancelMyRequest (0 cancelled)",
}


def _add_submit(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    submit = actions.add_parser(
        "submit",
        parents=[common],
        help="send the write with a justification; MAA files an approval request",
        description="Exit 0: filed (pending, code shown) or applied without approval (said "
        "plainly); 1 refused (409 duplicate, 403, 400...); 2 bad input; 3 outcome unknown.",
    )
    submit.add_argument("--method", required=True, choices=("POST", "PATCH", "PUT", "DELETE"))
    submit.add_argument(
        "--url",
        required=True,
        metavar="PATH",
        help="Graph path, e.g. /deviceAppManagement/mobileApps/{id} (sent to /beta unless it "
        "starts with /v1.0/)",
    )
    submit.add_argument(
        "--body", metavar="FILE", help="JSON object to send ('-' reads standard input)"
    )
    submit.add_argument(
        "--justification",
        required=True,
        metavar="TEXT",
        help="why: at most 1024 characters including maa-guard's 29-character reference",
    )
    submit.add_argument("--label", default="", metavar="TEXT", help="a note for 'requests list'")
    _add_common(submit, "time limit for the write, in seconds (at most 100 are used)")
    submit.set_defaults(handler=f"{_HANDLERS}:run_request_submit")


def _add_list(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="the changes in the state file, reconciled with the service's request list",
    )
    listing.add_argument(
        "--offline", action="store_true", help="show the state file only; do not call Graph"
    )
    _add_common(listing, "time limit for one Graph request, in seconds (at most 100 are used)")
    listing.set_defaults(handler=f"{_HANDLERS}:run_requests_list")


def _add_code_action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    name: str,
    summary: str,
) -> None:
    action = actions.add_parser(name, parents=[common], help=summary)
    action.add_argument("code", metavar="CODE", help="the approval code (a GUID)")
    timeout_help = (
        "how long to wait for a decision, in seconds (3600)"
        if name == "wait"
        else "time limit for one Graph request, in seconds (at most 100 are used)"
    )
    _add_common(action, timeout_help)
    action.set_defaults(handler=f"{_HANDLERS}:run_requests_{name}")


def _add_common(command: argparse.ArgumentParser, timeout_help: str) -> None:
    from maa_guard.cli import add_live_options

    command.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="state database (default: MAA_GUARD_STATE, else state.db in the user data folder)",
    )
    command.add_argument("--format", choices=("table", "json"), help="table or JSON")
    add_live_options(command, title="Graph connection", timeout_help=timeout_help, collection=False)
