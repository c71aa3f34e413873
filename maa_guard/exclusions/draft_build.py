"""Building an exclusion change request from a snapshot and the reviews of the apps added.

Refusals, in the order they are checked:

- the tenant's current exclusions could not be read completely: exit 3, because the write
  replaces the policy's whole list and a list built from partial data could drop an exclusion;
- an unknown or ambiguous policy, an app removed that is not excluded, an app both added and
  removed, no change, more than 50 exclusions, a bad justification: exit 2;
- a review that says ``do-not-exclude`` (exit 1) or could not verify (exit 3), unless
  ``--accept-risk REASON``, which the draft records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from maa_guard import __version__
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, MaaGuardError, UsageError
from maa_guard.exclusions import tenant_exclusions_of
from maa_guard.exclusions.draft import (
    AppChange,
    ChangeAction,
    DraftApp,
    DraftFile,
    DraftPolicy,
    ExclusionDraft,
    check_changes,
    planned_write,
)
from maa_guard.model import SourceState
from maa_guard.reporters.text import one_line
from maa_guard.review import Review, Verdict, review_to_json
from maa_guard.review.resolve import AppReferenceError, Candidate, choose
from maa_guard.snapshot import AccessPolicy, Snapshot


class DraftRefused(MaaGuardError):
    """A review says the app must not be excluded: exit 1 unless the risk is accepted."""

    exit_code = EXIT_FINDINGS


class DraftUnverified(MaaGuardError):
    """What the draft depends on could not be read completely: exit 3."""

    exit_code = EXIT_INCOMPLETE


@dataclass(frozen=True, slots=True)
class DraftRequest:
    policy: str
    removes: tuple[str, ...]
    justification: str
    ticket: str = ""
    accept_risk: str = ""


def sent_justification(justification: str, ticket: str) -> str:
    """What the approver reads: the justification, and the ticket when there is one."""
    return f"{justification} (ticket {ticket})" if ticket else justification


def build_draft(
    snapshot: Snapshot,
    request: DraftRequest,
    reviews: Sequence[Review],
    exclusions_property: str,
    now: datetime,
) -> DraftFile:
    """The draft for ``request``; ``reviews`` are of the apps to add, reviewed for this policy."""
    _check_exclusions_readable(snapshot)
    policy = find_policy(snapshot, request.policy)
    current = current_exclusions(snapshot, policy)
    changes = [AppChange(ChangeAction.ADD, _app_of(review)) for review in reviews]
    changes += [
        AppChange(ChangeAction.REMOVE, _removed(ref, current, policy)) for ref in request.removes
    ]
    check_changes(current, changes)
    _check_reviews(reviews, request.accept_risk)
    draft = ExclusionDraft(
        tenant_id=snapshot.tenant.id,
        created_at=now,
        tool_version=__version__,
        policy=DraftPolicy(policy.id, policy.display_name, policy.policy_type),
        exclusions_property=exclusions_property,
        current=current,
        changes=tuple(changes),
        justification=request.justification,
        ticket=request.ticket,
        accepted_risk=request.accept_risk,
        request=planned_write(policy.id, current, changes, exclusions_property),
    )
    return DraftFile(draft, tuple(review_to_json(review) for review in reviews))


def _check_exclusions_readable(snapshot: Snapshot) -> None:
    for source in ("access_policies", "exclusions"):
        status = snapshot.source_state(source)
        if status.state is not SourceState.COMPLETE:
            raise DraftUnverified(
                f"the tenant's exclusions could not be read completely ({status.describe(source)}),"
                " so the policy's new list cannot be computed safely",
                "fix what the message names (often a permission), then draft again",
            )


def find_policy(snapshot: Snapshot, reference: str) -> AccessPolicy:
    """A policy by id, or by exact display name (case-insensitive) when only one has it."""
    wanted = reference.strip().lower()
    by_id = [p for p in snapshot.policies if p.id.lower() == wanted]
    by_name = [p for p in snapshot.policies if p.display_name.lower() == wanted]
    matches = by_id or by_name
    if len(matches) == 1:
        return matches[0]
    listed = "; ".join(
        f"'{one_line(p.display_name)}' ({p.id})" for p in (matches or snapshot.policies)
    )
    if matches:
        raise UsageError(
            f"{len(matches)} access policies are named '{one_line(reference)}': {listed}",
            "give the policy id",
        )
    raise UsageError(
        f"no access policy is named '{one_line(reference)}'",
        f"the tenant's policies: {listed}" if listed else "the tenant has no access policies",
    )


def current_exclusions(snapshot: Snapshot, policy: AccessPolicy) -> tuple[DraftApp, ...]:
    """The policy's exclusions in the tenant, one per app, with every source that shows it."""
    names = {sp.app_id.lower(): sp for sp in snapshot.service_principals}
    current: dict[str, DraftApp] = {}
    for exclusion in tenant_exclusions_of(policy):
        key = exclusion.app_id.lower()
        sp = names.get(key)
        seen = current.get(key)
        current[key] = DraftApp(
            app_id=exclusion.app_id,
            display_name=exclusion.display_name or (sp.display_name if sp else ""),
            service_principal_id=exclusion.service_principal_id or (sp.id if sp else None),
            sources=tuple(sorted({*(seen.sources if seen else ()), exclusion.source.value})),
        )
    return tuple(current.values())


def _app_of(review: Review) -> DraftApp:
    app = review.app
    return DraftApp(app.app_id, app.display_name, app.service_principal_id)


def _removed(reference: str, current: Sequence[DraftApp], policy: AccessPolicy) -> DraftApp:
    candidates = [
        Candidate(app.service_principal_id or app.app_id, app.app_id, app.display_name)
        for app in current
    ]
    try:
        chosen = choose(reference, candidates)
    except AppReferenceError as error:
        if error.matches:
            raise
        names = ", ".join(f"'{one_line(a.display_name or a.app_id)}'" for a in current)
        raise UsageError(
            f"'{one_line(reference)}' is not excluded from policy "
            f"'{one_line(policy.display_name)}'",
            f"it excludes: {names}" if names else "it excludes no application",
        ) from None
    return next(app for app in current if app.app_id == chosen.app_id)


def _check_reviews(reviews: Sequence[Review], accept_risk: str) -> None:
    if accept_risk.strip():
        return
    unverified = [r for r in reviews if not r.complete]
    refused = [r for r in reviews if r.verdict is Verdict.DO_NOT_EXCLUDE]
    if refused:
        raise DraftRefused(
            "the review says do-not-exclude: " + "; ".join(_reasons(r) for r in refused),
            "harden the app (see 'maa-guard review APP'), or record why the risk is accepted "
            "with --accept-risk REASON",
        )
    if unverified:
        names = ", ".join(one_line(r.app.display_name or r.app.app_id) for r in unverified)
        raise DraftUnverified(
            f"the review of {names} could not verify everything it needs",
            "fix what 'maa-guard review APP' reports as incomplete, or --accept-risk REASON",
        )


def _reasons(review: Review) -> str:
    rules = ", ".join(f"{c.rule_id} {c.slug}" for c in review.reasons)
    return f"{one_line(review.app.display_name or review.app.app_id)} ({rules})"
