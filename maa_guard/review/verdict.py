"""``review_app``: evaluate MAA401-MAA407 on one app as if it were excluded, and decide.

Pure: a snapshot in, a :class:`Review` out. The snapshot may be a full scan snapshot (offline,
``--demo``, the one ``exclusions draft`` has collected) or the narrow one
``collect_for_review`` reads live.

Verdict mapping (docs/review.md): a failing rule at or above ``fail_on`` (default high, the
threshold that would make ``maa-guard scan`` fail once the app is excluded) gives
``do-not-exclude``; any other failing rule gives ``needs-hardening``; no failure gives ``ok``.
A rule that could not verify, or a review source that is not complete, never gives ``ok``:
the verdict is the best it could be, at least ``needs-hardening``, and the review is
incomplete (exit 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from maa_guard import __version__
from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.config import Settings
from maa_guard.errors import UsageError
from maa_guard.evaluate.context import Context
from maa_guard.evaluate.engine import evaluate
from maa_guard.exclusions import resolve_policy
from maa_guard.exclusions.provenance import trusted_exclusions
from maa_guard.model import ExclusionSource, Finding, Severity, SourceState, Status
from maa_guard.reporters.text import one_line
from maa_guard.review.facts import app_facts, app_only_writes, writes_by_workload
from maa_guard.review.model import (
    REVIEW_RULES,
    REVIEW_SOURCES,
    PolicyRef,
    Review,
    RuleResult,
    Scope,
    SourceFact,
    Verdict,
    WorkloadWrites,
)
from maa_guard.review.resolve import AppReferenceError, Candidate, CouldNotVerifyError, choose
from maa_guard.snapshot import AccessPolicy, Exclusion, ServicePrincipal, Snapshot, SourceStatus

NO_POLICY = AccessPolicy(
    id="(none)",
    display_name="(no access policy in the tenant)",
    policy_type="unknown",
    approver_group_ids=(),
)
_OFFLINE_HINT = (
    "a snapshot holds only the service principals of excluded apps and of apps that wrote to "
    "Intune; review any other app live (--auth or --graph-endpoint)"
)


def review_app(
    snapshot: Snapshot,
    app_ref: str,
    settings: Settings,
    as_of: datetime | None = None,
    *,
    policy_ids: Sequence[str] = (),
    tool_version: str = __version__,
) -> Review:
    """The review of the app ``app_ref`` names, as if excluded.

    ``as_of``: the moment credentials and staleness are judged at (default: the snapshot's
    collection time, as ``scan`` does). ``policy_ids``: assess exclusion from exactly these
    policies (ids or exact names); by default from those gating its writes.
    """
    snapshot = trusted_exclusions(snapshot, settings.trust_declared_exclusions)
    sp = find_app(snapshot, app_ref)
    moment = as_of or snapshot.collected_at
    writes = writes_by_workload(app_only_writes(snapshot, sp.app_id), snapshot.policies)
    scope, targets = _targets(snapshot, writes, policy_ids)
    already = _already_excluded(snapshot, sp, settings)
    known = snapshot.source_state("exclusions").state.usable
    excluded_from = tuple(
        PolicyRef(p.id, p.display_name, p.policy_type, _already(p.id, already, known))
        for p in targets
    )
    hypothetical = review_snapshot(snapshot, sp, {p.id for p in targets}, moment)
    checks = _evaluate(hypothetical, settings, moment, tool_version)
    sources = _sources(snapshot)
    complete = all(s.state.usable for s in sources) and not any(
        c.status is Status.ERROR for c in checks
    )
    return Review(
        tool_version=tool_version,
        tenant_id=snapshot.tenant.id,
        tenant_name=snapshot.tenant.display_name,
        collected_at=snapshot.collected_at,
        reviewed_at=moment,
        window_start=snapshot.window.start,
        window_end=snapshot.window.end,
        app=app_facts(snapshot, sp),
        writes=writes,
        scope=scope,
        excluded_from=excluded_from,
        fail_on=settings.fail_on,
        verdict=decide(checks, settings.fail_on, complete),
        complete=complete,
        checks=checks,
        sources=sources,
        notes=_notes(scope, writes, snapshot.policies)
        + _elsewhere(snapshot.policies, already - {p.id for p in targets})
        + _unknown(snapshot, excluded_from),
    )


def decide(checks: Sequence[RuleResult], fail_on: Severity, complete: bool) -> Verdict:
    failing = [c for c in checks if c.status is Status.FAIL]
    if any(c.severity >= fail_on for c in failing):
        return Verdict.DO_NOT_EXCLUDE
    if failing or not complete:
        return Verdict.NEEDS_HARDENING
    return Verdict.OK


def find_app(snapshot: Snapshot, app_ref: str) -> ServicePrincipal:
    """The service principal ``app_ref`` names in the snapshot (exit 2 when none or several;
    exit 3 when none and the snapshot's service principals are incomplete)."""
    by_id = {sp.id.lower(): sp for sp in snapshot.service_principals}
    candidates = [
        Candidate(sp.id, sp.app_id, sp.display_name) for sp in snapshot.service_principals
    ]
    status = snapshot.source_state("service_principals")
    try:
        chosen = choose(app_ref, candidates, _OFFLINE_HINT)
    except AppReferenceError as error:
        if error.matches or status.state is SourceState.COMPLETE:
            raise
        raise CouldNotVerifyError(
            f"{error.message}; could not verify: "
            + one_line(status.describe("service_principals")),
            "collect again with Application.Read.All granted",
        ) from None
    return by_id[chosen.service_principal_id.lower()]


def _targets(
    snapshot: Snapshot, writes: Sequence[WorkloadWrites], policy_ids: Sequence[str]
) -> tuple[Scope, tuple[AccessPolicy, ...]]:
    if policy_ids:
        chosen = {p.id: p for p in (_policy(snapshot, ref) for ref in policy_ids)}
        return Scope.REQUESTED, tuple(chosen.values())
    written = {policy_id for w in writes for policy_id in w.policy_ids}
    gated = tuple(p for p in snapshot.policies if p.id in written)
    if gated:
        return Scope.WRITTEN_WORKLOADS, gated
    return Scope.EVERY_POLICY, snapshot.policies or (NO_POLICY,)


def _policy(snapshot: Snapshot, reference: str) -> AccessPolicy:
    policy = resolve_policy(reference, snapshot.policies)
    if policy is None:
        raise UsageError(
            f"unknown access policy {reference!r}",
            "'maa-guard inventory' lists the policies by id and name",
        )
    return policy


def _already_excluded(snapshot: Snapshot, sp: ServicePrincipal, settings: Settings) -> set[str]:
    """Policies this app is already excluded from as far as the snapshot can tell: the tenant
    shows it (policy property or audit log), or the declaration names it and is the inventory
    (the exclusions source is ``declared``)."""
    context = Context(snapshot, settings.declared_exclusions)
    own = context.exclusions_by_app.get(sp.app_id.lower(), [])
    return {item.policy_id for item in own if context.exempts(item)}


def _already(policy_id: str, already: set[str], known: bool) -> bool | None:
    """Excluded; else not, when every exclusion is known; else unknown (None)."""
    if policy_id in already:
        return True
    return False if known else None


def _unknown(snapshot: Snapshot, excluded_from: Sequence[PolicyRef]) -> tuple[str, ...]:
    """Why ``already_excluded`` is unknown, when it is."""
    if all(p.already_excluded is not None for p in excluded_from):
        return ()
    status = snapshot.source_state("exclusions")
    return (
        "whether it is already excluded is unknown unless an exclusion of it is seen: "
        + one_line(status.describe("exclusions")),
    )


def review_snapshot(
    snapshot: Snapshot, sp: ServicePrincipal, target_ids: set[str], moment: datetime
) -> Snapshot:
    """The snapshot the rules see: this app alone, excluded from the targets (and wherever it
    already is), judged at ``moment``. Other apps and their exclusions are left out."""
    policies = snapshot.policies or (NO_POLICY,)
    sources = dict(snapshot.sources)
    # The exclusions under review are known by construction; only the policies can be missing.
    policy_status = snapshot.source_state("access_policies")
    sources["exclusions"] = policy_status
    return dataclasses.replace(
        snapshot,
        collected_at=moment,
        sources=sources,
        policies=tuple(_excluding(p, sp, p.id in target_ids) for p in policies),
        service_principals=(sp,),
        sign_in_activity=tuple(
            a for a in snapshot.sign_in_activity if a.app_id.lower() == sp.app_id.lower()
        ),
        audit_events=tuple(app_only_writes(snapshot, sp.app_id)),
        approval_requests=(),
        groups=(),
        users=(),
        role_definitions=(),
        role_assignments=(),
    )


def _excluding(policy: AccessPolicy, sp: ServicePrincipal, target: bool) -> AccessPolicy:
    names = {sp.app_id.lower(), sp.id.lower()}
    own = tuple(e for e in policy.exclusions if e.app_id.lower() in names)
    if target and not own:
        own = (Exclusion(sp.app_id, ExclusionSource.DECLARED, sp.id, sp.display_name),)
    return dataclasses.replace(policy, exclusions=own)


def review_settings(settings: Settings) -> Settings:
    """The seven exclusion rules always run: scan selections, suppressions, the baseline and
    declared exclusions do not weaken a review. Parameters and severities still apply."""
    rules = {rid: dataclasses.replace(rs, enabled=True) for rid, rs in settings.rules.items()}
    return dataclasses.replace(
        settings,
        only_rules=(),
        skip_rules=(),
        rules=rules,
        suppressions=(),
        declared_exclusions=(),
        baseline=None,
    )


def _evaluate(
    snapshot: Snapshot, settings: Settings, moment: datetime, tool_version: str
) -> tuple[RuleResult, ...]:
    catalogue = load_catalogue()
    rules = {rid: catalogue[rid] for rid in REVIEW_RULES}
    result = evaluate(
        snapshot,
        rules,
        all_checks(),
        review_settings(settings),
        moment.date(),
        tool_version=tool_version,
    )
    order = {rid: index for index, rid in enumerate(REVIEW_RULES)}
    findings = sorted(result.findings, key=lambda f: order[f.rule_id])
    return tuple(_result(f) for f in findings)


def _result(finding: Finding) -> RuleResult:
    return RuleResult(
        rule_id=finding.rule_id,
        slug=finding.slug,
        title=finding.title,
        severity=finding.severity,
        status=finding.status,
        message=finding.message,
        fix=finding.remediation.strip(),
    )


def _sources(snapshot: Snapshot) -> tuple[SourceFact, ...]:
    return tuple(_source(name, snapshot.source_state(name)) for name in REVIEW_SOURCES)


def _source(name: str, status: SourceStatus) -> SourceFact:
    return SourceFact(name, status.state, status.reason, status.missing_permission)


def _elsewhere(policies: Sequence[AccessPolicy], policy_ids: set[str]) -> tuple[str, ...]:
    """Exclusions the app already has beyond the assessed ones (the rules count them too)."""
    return tuple(
        f"already excluded from {p.display_name} ({p.id}), which it was not assessed for"
        for p in policies
        if p.id in policy_ids
    )


def _notes(
    scope: Scope, writes: Sequence[WorkloadWrites], policies: Sequence[AccessPolicy]
) -> tuple[str, ...]:
    notes = []
    if scope is Scope.EVERY_POLICY:
        why = (
            "its app-only Intune writes in the audit window go to no workload an access "
            "policy protects"
            if writes
            else "it made no app-only Intune writes in the audit window"
        )
        notes.append(f"assessed as excluded from every access policy: {why}")
    if not policies:
        notes.append("the tenant has no access policy: there is nothing to exclude it from yet")
    for item in writes:
        if not item.policy_ids:
            notes.append(
                f"{item.writes} write(s) to {item.label}: no access policy gates them, so no "
                "exclusion is needed for them"
            )
    return tuple(notes)
