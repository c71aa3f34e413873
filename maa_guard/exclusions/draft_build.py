"""Building an exclusion change request from a snapshot and the reviews of the apps added.

Refusals, in the order they are checked:

- the tenant's current exclusions could not be read completely: exit 3, because the write
  replaces the policy's whole list and a list built from partial data could drop an exclusion
  (a tenant whose access policies carry no exclusion property gets a draft without a write,
  from the audit log's exclusions: nothing is computed that could drop one);
- an unknown or ambiguous policy, an app removed that is not excluded (or, with a property to
  write, that only the audit log shows; without one, that neither the audit log nor the
  ``[[exclusions]]`` declaration shows), an app both added and removed, no change, more than 50
  exclusions, a bad justification: exit 2;
- a review that says ``do-not-exclude`` (exit 1) or could not verify (exit 3), unless
  ``--accept-risk REASON``, which the draft records.

``exclusions submit`` applies :func:`check_reviews` again to the reviews it makes live, with its
own ``--accept-risk`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from maa_guard import __version__
from maa_guard.config import DeclaredExclusion
from maa_guard.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, MaaGuardError, UsageError
from maa_guard.exclusions import effective_exclusions, tenant_exclusions_of
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
from maa_guard.exclusions.provenance import TRUSTED, UNTRUSTED, trusted_exclusions
from maa_guard.model import ExclusionSource, SourceState
from maa_guard.reporters.text import one_line
from maa_guard.review import Review, Verdict, review_to_json
from maa_guard.review.model import SourceFact
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


def sent_justification(justification: str, ticket: str, accepted_risk: str = "") -> str:
    """What the approver reads: the justification, and the ticket and the risk accepted at
    submit when there are."""
    notes = [f"ticket {ticket}"] if ticket else []
    notes += [f"accepted risk: {accepted_risk}"] if accepted_risk else []
    return f"{justification} ({'; '.join(notes)})" if notes else justification


def build_draft(
    snapshot: Snapshot,
    request: DraftRequest,
    reviews: Sequence[Review],
    exclusions_property: str,
    now: datetime,
    *,
    declared: Sequence[DeclaredExclusion] = (),
    trust: bool = False,
) -> DraftFile:
    """The draft for ``request``; ``reviews`` are of the apps to add, reviewed for this policy.

    ``exclusions_property``: the policy property the write sets, when the tenant shows one.
    ``declared`` and ``trust``: the configuration's ``[[exclusions]]`` and
    ``graph.trust_declared_exclusions``, which count only when the tenant shows no property.
    """
    snapshot = trusted_exclusions(snapshot, trust)
    writable = not shows_no_exclusion_property(snapshot)
    _check_exclusions_readable(snapshot, writable)
    property_name = exclusions_property if writable else ""
    policy = find_policy(snapshot, request.policy)
    current, removals = _removals(snapshot, policy, request.removes, declared, writable)
    changes = [AppChange(ChangeAction.ADD, _app_of(review)) for review in reviews] + removals
    check_changes(current, changes, property_name)
    check_reviews(reviews, request.accept_risk)
    draft = ExclusionDraft(
        tenant_id=snapshot.tenant.id,
        created_at=now,
        tool_version=__version__,
        policy=DraftPolicy(policy.id, policy.display_name, policy.policy_type),
        exclusions_property=property_name,
        current=current,
        changes=tuple(changes),
        justification=request.justification,
        ticket=request.ticket,
        accepted_risk=request.accept_risk,
        request=planned_write(policy.id, current, changes, property_name),
    )
    return DraftFile(draft, tuple(review_to_json(review) for review in reviews))


def shows_no_exclusion_property(snapshot: Snapshot) -> bool:
    """No access policy carried an exclusion property when the snapshot was collected: the
    exclusions source is ``declared`` (which it is only then, whatever its reason says), or
    ``partial`` for that reason alone; the audit log was read."""
    status = snapshot.source_state("exclusions")
    if status.state is SourceState.DECLARED:
        return True
    if status.state is not SourceState.PARTIAL:
        return False
    return status.reason.startswith((UNTRUSTED, TRUSTED))


def _check_exclusions_readable(snapshot: Snapshot, writable: bool) -> None:
    for source in ("access_policies", "exclusions") if writable else ("access_policies",):
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


def declared_exclusions(
    snapshot: Snapshot, policy: AccessPolicy, declared: Sequence[DeclaredExclusion]
) -> tuple[DraftApp, ...]:
    """The apps the ``[[exclusions]]`` declaration excludes from this policy."""
    return tuple(
        DraftApp(
            app_id=item.app_id,
            display_name=item.display_name,
            service_principal_id=item.service_principal_id,
            sources=(ExclusionSource.DECLARED.value,),
        )
        for item in effective_exclusions(snapshot, declared)
        if item.declared is not None and item.policy_exists and item.policy_id == policy.id
    )


def _merged(current: Sequence[DraftApp], more: Sequence[DraftApp]) -> tuple[DraftApp, ...]:
    """One entry per app, with every source that shows it."""
    merged: dict[str, DraftApp] = {}
    for app in (*current, *more):
        seen = merged.get(app.app_id.lower())
        if seen is None:
            merged[app.app_id.lower()] = app
            continue
        merged[app.app_id.lower()] = DraftApp(
            app_id=seen.app_id,
            display_name=seen.display_name or app.display_name,
            service_principal_id=seen.service_principal_id or app.service_principal_id,
            sources=tuple(sorted({*seen.sources, *app.sources})),
        )
    return tuple(merged.values())


def _removals(
    snapshot: Snapshot,
    policy: AccessPolicy,
    removes: Sequence[str],
    declared: Sequence[DeclaredExclusion],
    writable: bool,
) -> tuple[tuple[DraftApp, ...], list[AppChange]]:
    """The policy's exclusions now, and the apps ``removes`` names. With a property, only the
    tenant's exclusions count; without one, the declaration's too."""
    current = current_exclusions(snapshot, policy)
    if writable:
        return current, [
            AppChange(ChangeAction.REMOVE, _removed(r, current, policy, True)) for r in removes
        ]
    known = _merged(current, declared_exclusions(snapshot, policy, declared))
    removals = [AppChange(ChangeAction.REMOVE, _removed(r, known, policy, False)) for r in removes]
    return _current_without_property(snapshot, current, known, removals), removals


def _current_without_property(
    snapshot: Snapshot,
    current: Sequence[DraftApp],
    known: Sequence[DraftApp],
    removals: Sequence[AppChange],
) -> tuple[DraftApp, ...]:
    """Without a property, the exclusions now: the audit log's and, when the declaration is the
    inventory (the exclusions source is ``declared``), the declared ones; when it is not, of the
    declared ones only those removed, the declaration being the only sign of them."""
    if snapshot.source_state("exclusions").state is SourceState.DECLARED:
        return tuple(known)
    return _merged(current, [change.app for change in removals])


def _app_of(review: Review) -> DraftApp:
    app = review.app
    return DraftApp(app.app_id, app.display_name, app.service_principal_id)


def _removed(
    reference: str, current: Sequence[DraftApp], policy: AccessPolicy, writable: bool
) -> DraftApp:
    """The excluded app ``reference`` names. ``current``: with a property, the tenant's
    exclusions; without one, those the audit log or the declaration shows."""
    candidates = [
        Candidate(app.service_principal_id or app.app_id, app.app_id, app.display_name)
        for app in current
    ]
    try:
        chosen = choose(reference, candidates)
    except AppReferenceError as error:
        if error.matches:
            raise
        raise _not_excluded(reference, current, policy, writable) from None
    return next(app for app in current if app.app_id == chosen.app_id)


def _not_excluded(
    reference: str, current: Sequence[DraftApp], policy: AccessPolicy, writable: bool
) -> UsageError:
    names = ", ".join(f"'{one_line(a.display_name or a.app_id)}'" for a in current)
    lead = f"'{one_line(reference)}' is not excluded from policy '{one_line(policy.display_name)}'"
    if writable:
        return UsageError(lead, f"it excludes: {names}" if names else "it excludes no application")
    known = f"; known: {names}" if names else ""
    return UsageError(
        f"{lead} as far as maa-guard can tell: the tenant's access policies carry no exclusion "
        "property (Microsoft Graph publishes none), so the policy's list cannot be checked, "
        "and neither the audit log nor the [[exclusions]] declaration shows it",
        "look for it on the access policy's Exclusions tab in the Intune admin center (Tenant "
        f"administration > Multi Admin Approval > Access policies) and remove it there{known}",
    )


# At submit the risk counts only when accepted there: anyone can edit a draft's accepted risk
# and compute its digest again.
SUBMIT_ACCEPT_RISK = (
    "'exclusions submit --accept-risk REASON' (a risk accepted in the draft does not count: "
    "anyone can edit a draft and compute its digest again)"
)


def check_reviews(reviews: Sequence[Review], accept_risk: str, *, at_submit: bool = False) -> None:
    """Refuse a ``do-not-exclude`` review (exit 1), then an unverified one (exit 3), unless the
    risk is accepted. ``at_submit``: the reviews ``exclusions submit`` made, nothing sent."""
    if accept_risk.strip():
        return
    lead = "nothing was sent: the review at submit" if at_submit else "the review"
    accept = SUBMIT_ACCEPT_RISK if at_submit else "--accept-risk REASON"
    refused = refused_summary(reviews)
    if refused:
        raise DraftRefused(
            f"{lead} says do-not-exclude: {refused}",
            f"harden the app (see 'maa-guard review APP'), or record why the risk is accepted "
            f"with {accept}",
        )
    unverified = [r for r in reviews if not r.complete]
    if not unverified:
        return
    names = ", ".join(one_line(r.app.display_name or r.app.app_id) for r in unverified)
    if not at_submit:
        raise DraftUnverified(
            f"the review of {names} could not verify everything it needs",
            "fix what 'maa-guard review APP' reports as incomplete, or --accept-risk REASON",
        )
    raise DraftUnverified(
        f"{lead} of {names} could not verify everything it needs: "
        + "; ".join(_unverified(r) for r in unverified),
        "fix what the message names (often a read permission the sign-in lacks), or record why "
        f"the risk is accepted with {accept}",
    )


def refused_summary(reviews: Sequence[Review]) -> str:
    """The ``do-not-exclude`` reviews and their failing rules, or ""."""
    refused = [r for r in reviews if r.verdict is Verdict.DO_NOT_EXCLUDE]
    return "; ".join(_reasons(r) for r in refused)


def _unverified(review: Review) -> str:
    """What the review could not verify: its incomplete sources, else its rules in error."""
    sources = [one_line(_described(s)) for s in review.incomplete_sources]
    rules = [f"{c.rule_id} could not verify ({one_line(c.message)})" for c in review.unverified]
    return "; ".join(sources or rules)


def _described(source: SourceFact) -> str:
    """As ``SourceStatus.describe``, naming the missing permission once."""
    text = f"{source.name} is {source.state.value}" + (
        f" ({source.reason})" if source.reason else ""
    )
    missing = source.missing_permission
    return f"{text}; missing permission {missing}" if missing and missing not in text else text


def _reasons(review: Review) -> str:
    rules = ", ".join(f"{c.rule_id} {c.slug}" for c in review.reasons)
    return f"{one_line(review.app.display_name or review.app.app_id)} ({rules})"
