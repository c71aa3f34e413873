"""`exclusions draft | show | submit | export`: parsers and handlers."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from maa_guard.cli.options import (
    MAX_DAYS,
    SubParsers,
    add_live_options,
    bounded_int,
    check_outputs,
    command_line,
    connection_flags,
    scan_request,
)
from maa_guard.cli.output import write_stdout
from maa_guard.errors import EXIT_FINDINGS, EXIT_OK, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from maa_guard.approval import ApprovalClient
    from maa_guard.config import Settings
    from maa_guard.exclusions.draft import DraftApp, ExclusionDraft
    from maa_guard.exclusions.draft_build import DraftRequest
    from maa_guard.exclusions.draft_render import ReviewMismatch
    from maa_guard.review import Review
    from maa_guard.scan.live import LiveOptions
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
        help="draft even when a review says do-not-exclude or could not verify; the reason is "
        "recorded (submit reviews again and asks for its own --accept-risk)",
    )
    draft.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    _add_input(draft)
    draft.set_defaults(handler=run_exclusions_draft)


def _add_show(actions: SubParsers, common: argparse.ArgumentParser) -> None:
    show = actions.add_parser(
        "show",
        parents=[common],
        help="a draft as Markdown; exit 1 with a warning when its reviews do not match its change",
    )
    show.add_argument("draft", type=Path, metavar="FILE")
    show.set_defaults(handler=run_exclusions_show)


def _add_submit(actions: SubParsers, common: argparse.ArgumentParser) -> None:
    submit = actions.add_parser(
        "submit",
        parents=[common],
        help="review every app the draft adds again, live, then send the draft's write; MAA "
        "files an approval request",
    )
    submit.add_argument("draft", type=Path, metavar="FILE")
    submit.add_argument(
        "--accept-risk",
        default="",
        metavar="REASON",
        help="send even when the review at submit says do-not-exclude or could not verify; the "
        "reason goes into the state file's label and the justification the approver reads. A "
        "risk accepted in the draft does not count: anyone can edit a draft and compute its "
        "digest again",
    )
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
        timeout_help="time limit for each request to Graph, and for the review at submit as a "
        "whole, in seconds",
        collection=False,
    )
    review = submit.add_argument_group("the review at submit (read-only, as 'exclusions draft')")
    review.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default maa-guard.toml, or [tool.maa-guard] in pyproject.toml)",
    )
    review.add_argument(
        "--days", type=bounded_int(MAX_DAYS, low=1), default=30, help="audit window in days (30)"
    )
    review.add_argument("--quiet", action="store_true", help="no progress lines")
    submit.set_defaults(handler=run_exclusions_submit)


def _add_export(actions: SubParsers, common: argparse.ArgumentParser) -> None:
    export = actions.add_parser(
        "export", parents=[common], help="the tenant's exclusions as [[exclusions]] TOML"
    )
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    export.add_argument(
        "--review-days",
        type=bounded_int(MAX_DAYS),
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
    check_outputs(args, [args.output])
    request = _request(args)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    today = datetime.now(timezone.utc).date()
    text = export_exclusions(snapshot, today, settings.declared_exclusions, args.review_days)
    if args.output is None:
        write_stdout(text, "toml")
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
    check_outputs(args, [args.output])
    request = _request(args)
    _one_input(request)
    settings = settings_for(request, os.environ, Path.cwd())
    snapshot = snapshot_for(request, settings, os.environ)
    reviews = [_review(request, snapshot, app, draft_request.policy, settings) for app in args.add]
    now = datetime.now(timezone.utc)
    written = settings.written_exclusions_property
    draft_file = build_draft(
        snapshot,
        draft_request,
        reviews,
        written,
        now,
        declared=settings.declared_exclusions,
        trust=settings.trust_declared_exclusions,
    )
    write_atomically(args.output, draft_to_json(draft_file))
    print(_drafted(args.output, draft_file.draft, connection_flags(args)), file=sys.stderr)
    return EXIT_OK


def _drafted(path: Path, draft: ExclusionDraft, flags: Sequence[str]) -> str:
    """What was written, and the commands that follow (``flags``: the connection in use)."""
    from maa_guard.exclusions.draft import NO_PROPERTY, no_property_hint

    if draft.request is None:
        hint = no_property_hint(str(path))
        return f"wrote {path}, a draft without a Graph write: {NO_PROPERTY}; {hint}"
    return (
        f"wrote {path}: review it with the first command, then send it with the second\n"
        f"next: {command_line('exclusions', 'show', str(path))}\n"
        f"next: {command_line('exclusions', 'submit', str(path), *flags)}"
    )


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
    return _live_review(request.live, app, policy_id, settings)


def _live_review(live: LiveOptions, app: str, policy_id: str, settings: Settings) -> Review:
    """The review of one app for one policy, from a collection of just what it needs; the
    same for ``draft`` and ``submit``."""
    from maa_guard.review import review_app
    from maa_guard.review.collect import collect_live_for_review

    own = collect_live_for_review(live, app, settings, os.environ)
    resolved = own.service_principals[0].app_id if own.service_principals else app
    return review_app(own, resolved, settings, policy_ids=(policy_id,))


def run_exclusions_show(args: argparse.Namespace) -> int:
    """A draft as Markdown, after checking it is intact; exit 1 with a warning when its reviews
    do not match its change."""
    from maa_guard.exclusions.draft import load_draft
    from maa_guard.exclusions.draft_render import draft_to_markdown, review_mismatches

    draft_file = load_draft(args.draft)
    write_stdout(draft_to_markdown(draft_file), "markdown")
    mismatches = review_mismatches(draft_file)
    if not mismatches:
        return EXIT_OK
    _warn_mismatches(args.draft, mismatches)
    print(
        "hint: the draft was edited and its digest computed again; write a new draft with "
        "'maa-guard exclusions draft' ('exclusions submit' reviews every added app again)",
        file=sys.stderr,
    )
    return EXIT_FINDINGS


def _warn_mismatches(path: Path, mismatches: Sequence[ReviewMismatch]) -> None:
    from maa_guard.reporters.text import one_line

    problems = "; ".join(mismatch.describe(one_line) for mismatch in mismatches)
    print(f"warning: {path}: the reviews do not match the change: {problems}", file=sys.stderr)


def run_exclusions_submit(args: argparse.Namespace) -> int:
    """Review every app the draft adds again, live, then send the draft's write with its
    justification; MAA files an approval request for it."""
    from maa_guard.approval import REFERENCE_LENGTH, WriteRequest
    from maa_guard.approval.justification import check_justification
    from maa_guard.cli.approval import (
        approval_client,
        follow_up_flags,
        run_reported,
        submitted,
    )
    from maa_guard.exclusions.draft import ChangeAction, draft_document, load_draft
    from maa_guard.exclusions.draft_build import sent_justification
    from maa_guard.exclusions.draft_render import review_mismatches

    draft_file = load_draft(args.draft)
    draft = draft_file.draft
    if draft.request is None:
        raise _no_property(args.draft)
    accept_risk = args.accept_risk.strip()
    justification = sent_justification(draft.justification, draft.ticket, accept_risk)
    check_justification(justification, REFERENCE_LENGTH)
    adds = draft.change(ChangeAction.ADD)
    settings = _submit_settings(args) if adds else None
    mismatches = review_mismatches(draft_file)
    if mismatches:
        _warn_mismatches(args.draft, mismatches)
    body = {name: list(values) for name, values in draft.request.body.items()}
    write = WriteRequest(draft.request.method, draft.request.path, body)
    digest = str(draft_document(draft_file)["digest"])
    label = f"exclusions: {draft.policy.display_name}"
    label += f"; accepted risk: {accept_risk}" if accept_risk else ""
    with approval_client(args) as client:
        _check_still_current(client, draft, args.draft)
        if settings is not None:
            _review_again(args, draft, settings, accept_risk)
        return run_reported(
            args,
            client,
            lambda: submitted(
                client,
                write,
                justification,
                label=label,
                origin=digest,
                flags=follow_up_flags(args),
            ),
        )


def _submit_settings(args: argparse.Namespace) -> Settings:
    """The configuration the review at submit uses, found as ``exclusions draft`` finds it."""
    from maa_guard.scan.pipeline import ScanRequest, settings_for

    request = ScanRequest(None, False, args.config, {}, _submit_live(args), args.quiet)
    return settings_for(request, os.environ, Path.cwd())


def _submit_live(args: argparse.Namespace) -> LiveOptions:
    from maa_guard.scan.live import LiveOptions

    return LiveOptions(
        args.auth, args.cloud, args.graph_endpoint, args.timeout, args.days, args.quiet
    )


def _review_again(
    args: argparse.Namespace, draft: ExclusionDraft, settings: Settings, accept_risk: str
) -> None:
    """Every app the draft adds, reviewed live now, as ``exclusions draft`` reviews it: the
    reviews in the file are not trusted. Refuses (nothing sent) unless ``accept_risk``."""
    from maa_guard.exclusions.draft import ChangeAction
    from maa_guard.exclusions.draft_build import check_reviews

    live = _submit_live(args)
    reviews = []
    for app in draft.change(ChangeAction.ADD):
        review = _review_at_submit(live, app, draft.policy.id, settings, accept_risk)
        if review is not None:
            reviews.append(review)
    check_reviews(reviews, accept_risk, at_submit=True)
    if accept_risk:
        _tell_accepted(reviews, accept_risk)


def _review_at_submit(
    live: LiveOptions, app: DraftApp, policy_id: str, settings: Settings, accept_risk: str
) -> Review | None:
    """The app's review; None when it could not be looked up and the risk is accepted."""
    from maa_guard.exclusions.draft_build import SUBMIT_ACCEPT_RISK, DraftUnverified
    from maa_guard.reporters.text import one_line
    from maa_guard.review import CouldNotVerifyError

    try:
        review = _live_review(live, app.app_id, policy_id, settings)
    except CouldNotVerifyError as error:
        name = one_line(app.display_name or app.app_id)
        failure = f"could not look up {name} ({one_line(app.app_id)}): {error.message}"
        if not accept_risk:
            raise DraftUnverified(
                f"nothing was sent: the review at submit {failure}",
                "fix what the message names (often a read permission the sign-in lacks), or "
                f"record why the risk is accepted with {SUBMIT_ACCEPT_RISK}",
            ) from None
        print(
            f"warning: the review at submit {failure}; sending with the risk accepted at "
            f"submit: {one_line(accept_risk)}",
            file=sys.stderr,
        )
        return None
    if review.app.app_id.lower() != app.app_id.lower():
        # The write lists the draft's value: the review must be of the app it names.
        raise UsageError(
            f"the draft adds {one_line(app.app_id)!r}, which is not the appId of the app it "
            f"names ({one_line(review.app.display_name)}, appId {review.app.app_id})",
            "write a new draft with 'maa-guard exclusions draft'; do not edit the file",
        )
    return review


def _tell_accepted(reviews: Sequence[Review], accept_risk: str) -> None:
    """Say on stderr what the accepted risk lets through."""
    from maa_guard.exclusions.draft_build import refused_summary
    from maa_guard.reporters.text import one_line

    accepted = f"sending with the risk accepted at submit: {one_line(accept_risk)}"
    refused = refused_summary(reviews)
    if refused:
        print(
            f"warning: the review at submit says do-not-exclude: {refused}; {accepted}",
            file=sys.stderr,
        )
    unverified = [one_line(r.app.display_name or r.app.app_id) for r in reviews if not r.complete]
    if unverified:
        print(
            f"warning: the review at submit of {', '.join(unverified)} could not verify "
            f"everything it needs; {accepted}",
            file=sys.stderr,
        )


def _no_property(path: Path) -> UsageError:
    from maa_guard.exclusions.draft import NO_PROPERTY, no_property_hint

    return UsageError(NO_PROPERTY, no_property_hint(str(path)))


def _check_still_current(client: ApprovalClient, draft: ExclusionDraft, path: Path) -> None:
    """The write replaces the whole list: refuse when the tenant or the list is not the one the
    draft was made from, rather than undo a change made since; and when the tenant's policies
    no longer carry the property the draft writes."""
    from maa_guard.exclusions.draft import stale_reason

    caller = client.caller()
    if caller.tenant and caller.tenant.lower() != draft.tenant_id.lower():
        raise UsageError(
            f"the draft is for tenant {draft.tenant_id}, but the sign-in is to tenant "
            f"{caller.tenant}",
            "sign in to the draft's tenant",
        )
    _check_property(client, draft, path)
    policy_path = f"/deviceManagement/operationApprovalPolicies/{draft.policy.id}"
    live = client.run(client.graph.get(policy_path))
    reason = stale_reason(draft, live)
    if reason:
        raise UsageError(
            f"the policy changed since the draft was written: {reason}",
            "write a new draft with 'maa-guard exclusions draft'",
        )


def _check_property(client: ApprovalClient, draft: ExclusionDraft, path: Path) -> None:
    """The property the draft writes must be the one the tenant's access policies carry now."""
    from maa_guard.collect.intune import collect_policies
    from maa_guard.exclusions.draft_build import DraftUnverified
    from maa_guard.model import SourceState

    found = client.run(collect_policies(client.graph, draft.exclusions_property))
    status = found.policies.status
    if status.state is not SourceState.COMPLETE:
        raise DraftUnverified(
            "nothing was sent: the tenant's access policies could not be read completely "
            f"({status.describe('access_policies')})",
            "fix what the message names (often a permission), then submit again",
        )
    if found.property_name is None:
        raise _no_property(path)
    if found.property_name != draft.exclusions_property:
        raise UsageError(
            f"the tenant's access policies carry the exclusion property "
            f"{found.property_name!r}, but the draft writes {draft.exclusions_property!r}",
            f'set graph.exclusions_property = "{found.property_name}" and write a new draft',
        )
