"""`request submit` and `requests list | status | wait | complete | cancel`: parsers and handlers.

Input is checked before the state file is opened or anything is sent, so bad input (exit 2)
leaves the state file exactly as it was. A refusal, an unknown outcome or a request that is not
approved is printed as a report on standard output (JSON with ``--format json``) and as an
``error:`` / ``hint:`` pair on standard error, and exits with that error's code.

Other commands that send a write through MAA (``exclusions submit``) reuse
:func:`approval_client`, :func:`submitted` and :func:`run_reported`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maa_guard.cli.options import (
    CLOUDS,
    Handler,
    SubParsers,
    add_live_options,
    command_line,
    connection_flags,
    resolve_connection,
    terminal_color,
    terminal_width,
)
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, InputError, MaaGuardError

if TYPE_CHECKING:
    from maa_guard.approval import (
        ApprovalClient,
        RequestState,
        StateStore,
        TrackedChange,
        WriteRequest,
    )
    from maa_guard.approval.render import Report


_EXIT_CODES = (
    "exit codes: 0 done (see each command), 1 refused / rejected / cancelled / expired / not "
    "approved, 2 bad input (nothing sent, state untouched), 3 outcome unknown or timed out. "
    "No command approves, rejects or cancels approvals (a --url that would is refused, exit 2): "
    "that is a person's job in the Intune admin center."
)


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
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


def _add_submit(actions: SubParsers, common: argparse.ArgumentParser) -> None:
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
    submit.set_defaults(handler=run_request_submit)


def _add_list(actions: SubParsers, common: argparse.ArgumentParser) -> None:
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="the changes in the state file, reconciled with the service's request list",
    )
    listing.add_argument(
        "--offline", action="store_true", help="show the state file only; do not call Graph"
    )
    _add_common(listing, "time limit for one Graph request, in seconds (at most 100 are used)")
    listing.set_defaults(handler=run_requests_list)


def _add_code_action(
    actions: SubParsers,
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
    action.set_defaults(handler=_CODE_HANDLERS[name])


def _add_common(command: argparse.ArgumentParser, timeout_help: str) -> None:
    command.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="state database (default: MAA_GUARD_STATE, else state.db in the user data folder)",
    )
    command.add_argument("--format", choices=("table", "json"), help="table or JSON")
    add_live_options(command, title="Graph connection", timeout_help=timeout_help, collection=False)


Outcome = tuple["Report", int]
_WAIT_EXIT = {
    "approved": EXIT_OK,
    "completed": EXIT_OK,
    "rejected": EXIT_FINDINGS,
    "cancelled": EXIT_FINDINGS,
    "expired": EXIT_FINDINGS,
}


# ---- handlers -------------------------------------------------------------------------------


def run_request_submit(args: argparse.Namespace) -> int:
    write = _checked_submission(args)
    with approval_client(args) as client:
        return run_reported(
            args,
            client,
            lambda: submitted(
                client, write, args.justification, label=args.label, flags=follow_up_flags(args)
            ),
        )


def run_requests_list(args: argparse.Namespace) -> int:
    """The state file's changes; those open against the endpoint in use are refreshed from the
    service first. Whatever was not refreshed is said so (exit 0); a request list that could
    not be read is exit 3."""
    from maa_guard.approval.render import changes_report

    if args.offline:
        with _state(args) as state:
            rows = [stored.tracked for stored in state.changes()]
        note = f"the list is {NOT_REFRESHED}: --offline reads the state file only"
        return _emit(args, changes_report(rows, [note]), EXIT_OK)
    with approval_client(args) as client:
        elsewhere = _open_elsewhere(client)
        stale = [_not_refreshed(args, root, count) for root, count in elsewhere.items()]
        try:
            contacted = _open_here(client)
            recovered = client.reconcile()
        except MaaGuardError as error:
            notes = [
                f"the service's request list could not be read: {error.message}",
                f"the list is {NOT_REFRESHED}",
                *stale,
            ]
            return _emit(args, changes_report(client.tracked(), notes), EXIT_INCOMPLETE)
        if not contacted and not stale:
            root = client.endpoint.root
            stale = [f"the list is {NOT_REFRESHED}: no open change was recorded against {root}"]
        notes = [*client.warnings, *(_recovered(change) for change in recovered), *stale]
        return _emit(args, changes_report(client.tracked(), notes), EXIT_OK)


NOT_REFRESHED = "from local state, not refreshed"


def _open_here(client: ApprovalClient) -> bool:
    """Whether the state file has open changes for the endpoint in use (the ones
    :meth:`ApprovalClient.reconcile` reads the service for)."""
    from maa_guard.approval.recovery import OPEN_PHASES

    root = client.endpoint.root
    return any(row.tracked.endpoint == root for row in client.state.changes(OPEN_PHASES))


def _open_elsewhere(client: ApprovalClient) -> dict[str, int]:
    """How many open changes each other endpoint has: this connection cannot refresh them."""
    from maa_guard.approval.recovery import OPEN_PHASES

    counts: dict[str, int] = {}
    for row in client.state.changes(OPEN_PHASES):
        if row.tracked.endpoint != client.endpoint.root:
            counts[row.tracked.endpoint] = counts.get(row.tracked.endpoint, 0) + 1
    return counts


def _not_refreshed(args: argparse.Namespace, root: str, count: int) -> str:
    changes = "change" if count == 1 else "changes"
    refresh = command_line("requests", "list", *_reaching(root), *_state_flags(args))
    return (
        f"{count} open {changes} recorded against {root}: {NOT_REFRESHED}; to refresh them: "
        f"{refresh}"
    )


def _reaching(root: str) -> list[str]:
    """The flags that reach the Graph root a change was recorded against."""
    from maa_guard.collect import CLOUDS as KNOWN_CLOUDS

    for name in CLOUDS:
        if KNOWN_CLOUDS[name].graph == root:
            return ["--cloud", name] if name != "global" else []
    return ["--graph-endpoint", root]


def run_requests_status(args: argparse.Namespace) -> int:
    code = _checked_code(args.code)
    with approval_client(args) as client:
        return run_reported(args, client, lambda: _state_outcome(client.status(code), EXIT_OK))


def run_requests_wait(args: argparse.Namespace) -> int:
    code = _checked_code(args.code)
    if args.timeout < 0:
        raise InputError("--timeout must be 0 or more seconds")
    with approval_client(args) as client:
        state = client.wait(code, timeout=args.timeout)
        exit_code = _WAIT_EXIT.get(state.status.value, EXIT_INCOMPLETE)
        waited = f" after waiting {args.timeout:g} s" if exit_code == EXIT_INCOMPLETE else ""
        return run_reported(args, client, lambda: _state_outcome(state, exit_code, waited))


def run_requests_complete(args: argparse.Namespace) -> int:
    from maa_guard.approval.render import completed_report

    code = _checked_code(args.code)
    with approval_client(args) as client:
        return run_reported(
            args, client, lambda: (completed_report(client.complete(code), client.warnings), 0)
        )


def run_requests_cancel(args: argparse.Namespace) -> int:
    code = _checked_code(args.code)
    with approval_client(args) as client:
        return run_reported(args, client, lambda: _state_outcome(client.cancel(code), EXIT_OK))


# ---- outcomes -------------------------------------------------------------------------------


def submitted(
    client: ApprovalClient,
    write: WriteRequest,
    justification: str,
    *,
    label: str = "",
    origin: str | None = None,
    flags: Sequence[str] = (),
) -> Outcome:
    """Submit and report: pending (exit 0, the code shown, and the commands to run next with
    ``flags``: see :func:`follow_up_flags`) or applied without approval (0)."""
    from maa_guard.approval import Pending
    from maa_guard.approval.render import completed_report, next_steps, pending_report

    outcome = client.submit(write, justification, label=label, origin=origin)
    if isinstance(outcome, Pending):
        steps = next_steps(outcome.code, flags)
        return pending_report(outcome, client.warnings, steps), EXIT_OK
    return completed_report(outcome, client.warnings), EXIT_OK


def _state_outcome(state: RequestState, exit_code: int, suffix: str = "") -> Outcome:
    from maa_guard.approval.render import state_report

    title = f"request {state.code} is {state.status.value}{suffix}"
    return state_report(state, title), exit_code


def _recovered(change: TrackedChange) -> str:
    return f"change {change.change_id}: {change.outcome}" + (
        f" (code {change.code})" if change.code else ""
    )


def run_reported(
    args: argparse.Namespace, client: ApprovalClient, work: Callable[[], Outcome]
) -> int:
    """A refusal, an unknown outcome or a request not approved: reported, then its exit code."""
    from maa_guard.approval import NotApproved, OutcomeUnknown, WriteRefused

    try:
        report, exit_code = work()
    except (WriteRefused, OutcomeUnknown, NotApproved) as error:
        _emit(args, _failure(error), error.exit_code, client.warnings)
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    return _emit(args, report, exit_code, client.warnings)


def _failure(error: MaaGuardError) -> Report:
    from maa_guard.approval import DuplicateRequest, NotApproved, OutcomeUnknown
    from maa_guard.approval.render import failure_report, state_report

    if isinstance(error, NotApproved):
        report = state_report(error.state, error.message, "fail")
        report.document["outcome"] = "not-approved"
        return report
    change_id = getattr(error, "change_id", None)
    if isinstance(error, DuplicateRequest):
        return failure_report("duplicate", error.message, error.hint, change_id, error.match)
    outcome = "unknown" if isinstance(error, OutcomeUnknown) else "refused"
    return failure_report(outcome, error.message, error.hint, change_id)


def _emit(
    args: argparse.Namespace, report: Report, exit_code: int, warnings: Sequence[str] = ()
) -> int:
    from maa_guard.approval.render import render_json, render_text
    from maa_guard.cli.output import write_stdout

    chosen = getattr(args, "format", None)
    as_json = (chosen or ("table" if sys.stdout.isatty() else "json")) == "json"
    if as_json:
        write_stdout(render_json(report), "json")
    else:
        write_stdout(render_text(report, terminal_color(args), terminal_width()), "table")
    for warning in warnings:
        if warning not in report.notes:
            print(f"warning: {_inert(warning)}", file=sys.stderr)
    return exit_code


def _inert(text: str) -> str:
    from maa_guard.reporters.text import one_line

    return one_line(text)


# ---- input ----------------------------------------------------------------------------------


def _checked_submission(args: argparse.Namespace) -> WriteRequest:
    """Every input problem is found here, before the state file is opened (exit 2)."""
    from maa_guard.approval import REFERENCE_LENGTH, WriteRequest
    from maa_guard.approval.justification import check_justification
    from maa_guard.approval.write import refuse_approval_writes

    refuse_approval_writes(args.method, args.url)
    check_justification(args.justification, REFERENCE_LENGTH)
    body = _read_body(args.body) if args.body is not None else None
    return WriteRequest(args.method, args.url, body)


def _read_body(name: str) -> dict[str, Any]:
    from maa_guard.storage.jsontext import load_json_text

    origin = "standard input" if name == "-" else name
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the body file {name}: {error.strerror}") from None
    try:
        body = load_json_text(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"the body ({origin}) is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"the body ({origin}) is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})",
            "give the JSON object Graph expects for this write",
        ) from None
    if not isinstance(body, dict):
        raise InputError(f"the body ({origin}) must be a JSON object")
    return body


def _checked_code(code: str) -> str:
    from maa_guard.approval import checked_code

    return checked_code(code)


# ---- connection -----------------------------------------------------------------------------


@contextmanager
def _state(args: argparse.Namespace) -> Iterator[StateStore]:
    from maa_guard.approval import StateStore, default_state_path

    with StateStore(args.state or default_state_path(os.environ)) as state:
        yield state


def follow_up_flags(args: argparse.Namespace) -> list[str]:
    """The connection and the state file in use (--auth, --graph-endpoint, --cloud, --state),
    for the commands a report asks to run next."""
    return [*connection_flags(args), *_state_flags(args)]


def _state_flags(args: argparse.Namespace) -> list[str]:
    state = getattr(args, "state", None)
    return [] if state is None else ["--state", str(state)]


@contextmanager
def approval_client(args: argparse.Namespace) -> Iterator[ApprovalClient]:
    """Endpoint and credential as the live commands build them (the connection from the flags,
    the environment or the config file); the state file opened last."""
    from maa_guard.approval import ApprovalClient, StateStore, default_state_path
    from maa_guard.approval.transport import DEFAULT_REQUEST_TIMEOUT
    from maa_guard.collect import build_credential, resolve_endpoint

    waiting = getattr(args, "action", "") == "wait"
    if args.timeout <= 0 and not waiting:
        raise InputError("--timeout must be more than 0 seconds")
    connection = resolve_connection(args)
    endpoint = resolve_endpoint(connection.cloud, connection.graph_endpoint)
    credential = build_credential(
        connection.auth, endpoint, connection.credential_environ(os.environ)
    )
    limit = DEFAULT_REQUEST_TIMEOUT if waiting else min(DEFAULT_REQUEST_TIMEOUT, args.timeout)
    state = StateStore(args.state or default_state_path(os.environ))
    with ApprovalClient(
        credential, endpoint, state, request_timeout=limit, close_state=True
    ) as client:
        yield client


_CODE_HANDLERS: dict[str, Handler] = {
    "status": run_requests_status,
    "wait": run_requests_wait,
    "complete": run_requests_complete,
    "cancel": run_requests_cancel,
}
