"""`exclusions draft | show | submit | export`: parsers and handlers."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import SubParsers, add_live_options, scan_request
from maa_guard.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from maa_guard.approval import ApprovalClient
    from maa_guard.config import Settings
    from maa_guard.exclusions.draft import ExclusionDraft
    from maa_guard.exclusions.draft_build import DraftRequest
    from maa_guard.review import Review
    from maa_guard.scan.pipeline import ScanRequest
    from maa_guard.snapshot import Snapshot


def add_commands(commands: SubParsers, common: argparse.ArgumentParser) -> None:
    """Register this group's subcommands."""
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
    command.add_argument("--snapshot", type=Path, metavar="FILE", help="a snapshot JSON file")
    command.add_argument("--demo", action="store_true", help="use the bundled demo tenant")
    command.add_argument("--config", type=Path, metavar="FILE", help="config file")
    add_live_options(command)


def _add_draft(actions: SubParsers, common: argparse.ArgumentParser) -> None:
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
    draft.set_defaults(handler=run_exclusions_draft)


def _add_show(actions: SubParsers, common: argparse.ArgumentParser) -> None:
    show = actions.add_parser("show", parents=[common], help="a draft as Markdown")
    show.add_argument("draft", type=Path, metavar="FILE")
    show.set_defaults(handler=run_exclusions_show)


def _add_submit(actions: SubParsers, common: argparse.ArgumentParser) -> None:
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
    submit.set_defaults(handler=run_exclusions_submit)


def _add_export(actions: SubParsers, common: argparse.ArgumentParser) -> None:
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
    export.set_defaults(handler=run_exclusions_export)


def _request(args: argparse.Namespace) -> ScanRequest:
    return scan_request(args)


def run_exclusions_export(args: argparse.Namespace) -> int:
    """Write the tenant's exclusions as ``[[exclusions]]`` entries to start exclusions as code."""
    from maa_guard.exclusions.export import export_exclusions
    from maa_guard.scan.pipeline import settings_for, snapshot_for
    from maa_guard.storage.files import write_atomically

    if args.review_days < 1:
        raise UsageError("--review-days must be at least 1")
    request = _request(args)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    today = datetime.now(timezone.utc).date()
    text = export_exclusions(snapshot, today, settings.declared_exclusions, args.review_days)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def run_exclusions_draft(args: argparse.Namespace) -> int:
    """Review every app added, then write the change request file (nothing is sent)."""
    from maa_guard.exclusions.draft import draft_to_json
    from maa_guard.exclusions.draft_build import build_draft
    from maa_guard.scan.pipeline import settings_for, snapshot_for
    from maa_guard.storage.files import write_atomically

    draft_request = _draft_request(args)
    request = _request(args)
    _one_input(request)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    reviews = [_review(request, snapshot, app, draft_request.policy, settings) for app in args.add]
    now = datetime.now(timezone.utc)
    draft_file = build_draft(snapshot, draft_request, reviews, settings.exclusions_property, now)
    write_atomically(args.output, draft_to_json(draft_file))
    print(
        f"wrote {args.output}: review it with 'maa-guard exclusions show {args.output}', "
        f"then send it with 'maa-guard exclusions submit {args.output}'",
        file=sys.stderr,
    )
    return EXIT_OK


def _draft_request(args: argparse.Namespace) -> DraftRequest:
    from maa_guard.approval.justification import REFERENCE_LENGTH, check_justification
    from maa_guard.exclusions.draft_build import DraftRequest, sent_justification

    draft_request = DraftRequest(
        policy=args.policy,
        removes=tuple(args.remove),
        justification=args.justification.strip(),
        ticket=args.ticket.strip(),
        accept_risk=args.accept_risk.strip(),
    )
    check_justification(draft_request.justification)
    check_justification(
        sent_justification(draft_request.justification, draft_request.ticket), REFERENCE_LENGTH
    )
    return draft_request


def _one_input(request: ScanRequest) -> None:
    inputs = [request.demo, request.snapshot is not None, request.live is not None]
    if sum(inputs) != 1:
        raise UsageError(
            "give one input: --snapshot FILE, --demo, or --auth / --graph-endpoint to collect",
            "e.g. maa-guard exclusions draft --demo --policy 'Apps - Windows' --add APP ...",
        )


def _review(
    request: ScanRequest, snapshot: Snapshot, app: str, policy_ref: str, settings: Settings
) -> Review:
    """Offline from the snapshot; live through a collection of just what the app needs."""
    from maa_guard.exclusions.draft_build import find_policy
    from maa_guard.review import review_app

    policy_id = find_policy(snapshot, policy_ref).id
    if request.live is None:
        return review_app(snapshot, app, settings, policy_ids=(policy_id,))
    from maa_guard.review.collect import collect_live_for_review

    own = collect_live_for_review(request.live, app, settings, os.environ)
    resolved = own.service_principals[0].app_id if own.service_principals else app
    return review_app(own, resolved, settings, policy_ids=(policy_id,))


def run_exclusions_show(args: argparse.Namespace) -> int:
    """A draft as Markdown, after checking it is intact."""
    from maa_guard.exclusions.draft import load_draft
    from maa_guard.exclusions.draft_render import draft_to_markdown

    sys.stdout.write(draft_to_markdown(load_draft(args.draft)))
    return EXIT_OK


def run_exclusions_submit(args: argparse.Namespace) -> int:
    """Send a draft's write with its justification; MAA files an approval request for it."""
    from maa_guard.approval import REFERENCE_LENGTH, WriteRequest
    from maa_guard.approval.justification import check_justification
    from maa_guard.cli.approval import approval_client, run_reported, submitted
    from maa_guard.exclusions.draft import draft_document, load_draft
    from maa_guard.exclusions.draft_build import sent_justification

    draft_file = load_draft(args.draft)
    draft = draft_file.draft
    justification = sent_justification(draft.justification, draft.ticket)
    check_justification(justification, REFERENCE_LENGTH)
    body = {name: list(values) for name, values in draft.request.body.items()}
    write = WriteRequest(draft.request.method, draft.request.path, body)
    digest = str(draft_document(draft_file)["digest"])
    label = f"exclusions: {draft.policy.display_name}"
    with approval_client(args) as client:
        _check_still_current(client, draft)
        return run_reported(
            args,
            client,
            lambda: submitted(client, write, justification, label=label, origin=digest),
        )


def _check_still_current(client: ApprovalClient, draft: ExclusionDraft) -> None:
    """The write replaces the whole list: refuse when the tenant or the list is not the one the
    draft was made from, rather than undo a change made since."""
    from maa_guard.exclusions.draft import stale_reason

    caller = client.caller()
    if caller.tenant and caller.tenant.lower() != draft.tenant_id.lower():
        raise UsageError(
            f"the draft is for tenant {draft.tenant_id}, but the sign-in is to tenant "
            f"{caller.tenant}",
            "sign in to the draft's tenant",
        )
    path = f"/deviceManagement/operationApprovalPolicies/{draft.policy.id}"
    live = client.run(client.graph.get(path))
    reason = stale_reason(draft, live)
    if reason:
        raise UsageError(
            f"the policy changed since the draft was written: {reason}",
            "write a new draft with 'maa-guard exclusions draft'",
        )
