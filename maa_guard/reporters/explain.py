"""``maa-guard explain``: one finding in full, as data (``explain_render`` draws it).

Which finding a key names (a fingerprint, a unique prefix of one, or ``RULE:RESOURCE``), and
what explains it: its evidence, the rule's rationale and remediation, the objects it names
(looked up in the snapshot when there is one) and the Graph reads its data came from. Pure: the
caller hands in the findings, the snapshot and the table of Graph reads per data source.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from maa_guard.catalogue import RULE_ID, Rule
from maa_guard.errors import UsageError
from maa_guard.model import Finding
from maa_guard.reporters.explain_related import RelatedObject, related_objects
from maa_guard.snapshot import Snapshot, SourceStatus, TenantInfo

MIN_PREFIX = 8
FIND_HINT = (
    "a finding's fingerprint is the 'fingerprint' of 'maa-guard scan --format json', the CSV "
    "column 'fingerprint' and the SARIF partialFingerprints; or name it as RULE:RESOURCE, "
    "e.g. MAA401:<appId> (the resource id as the reports show it)"
)


@dataclass(frozen=True, slots=True)
class FindingSet:
    """The findings of one scan and what they were read from."""

    origin: str  # "report scan.json", "recorded scan 4 in ...", "the demo tenant, scanned now"
    tenant: TenantInfo
    findings: tuple[Finding, ...]
    sources: Mapping[str, SourceStatus]
    snapshot: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class GraphRead:
    """One data source the rule reads: its state in this scan, permissions and Graph calls."""

    source: str
    state: str
    reason: str
    permissions: tuple[str, ...]
    calls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    finding: Finding
    origin: str
    tenant: TenantInfo
    rule: Rule | None  # None: a rule this version of maa-guard does not know
    evidence_note: str
    related: tuple[RelatedObject, ...]
    reads: tuple[GraphRead, ...]


@dataclass(frozen=True, slots=True)
class SourceReads:
    """Per data source: the Graph calls and the least-privilege permissions (from ``collect``)."""

    calls: Mapping[str, tuple[str, ...]]
    permissions: Mapping[str, tuple[str, ...]]


def explain(
    finding: Finding,
    found: FindingSet,
    rule: Rule | None,
    reads: SourceReads,
    evidence_note: str = "",
) -> Explanation:
    return Explanation(
        finding=finding,
        origin=found.origin,
        tenant=found.tenant,
        rule=rule,
        evidence_note=evidence_note,
        related=related_objects(finding, found.snapshot),
        reads=graph_reads(rule, found.sources, reads),
    )


def graph_reads(
    rule: Rule | None, sources: Mapping[str, SourceStatus], reads: SourceReads
) -> tuple[GraphRead, ...]:
    if rule is None:
        return ()
    return tuple(_read(name, sources.get(name), reads) for name in rule.data_sources)


def _read(name: str, status: SourceStatus | None, reads: SourceReads) -> GraphRead:
    state, reason = ("not recorded", "") if status is None else _state(status)
    return GraphRead(
        name, state, reason, reads.permissions.get(name, ()), reads.calls.get(name, ())
    )


def _state(status: SourceStatus) -> tuple[str, str]:
    details = [status.reason] if status.reason else []
    if status.missing_permission:
        details.append(f"missing permission {status.missing_permission}")
    if status.missing_licence:
        details.append(f"missing licence {status.missing_licence}")
    return status.state.value, "; ".join(details)


# ---- which finding a key names ----------------------------------------------------------------


def find_finding(findings: Sequence[Finding], key: str, origin: str) -> Finding:
    """The finding ``key`` names, or exit 2 with a close match and how to find fingerprints."""
    text = key.strip()
    rule, separator, resource = text.partition(":")
    if separator and RULE_ID.match(rule.upper()):
        found = _by_rule_and_resource(findings, rule.upper(), resource.strip())
    else:
        found = _by_fingerprint(findings, text)
    if found is None:
        raise UsageError(
            f"no finding {text!r} in {origin}{_did_you_mean(findings, text)}", FIND_HINT
        )
    return found


def _by_fingerprint(findings: Sequence[Finding], text: str) -> Finding | None:
    wanted = text.lower()
    exact = [f for f in findings if f.fingerprint.lower() == wanted]
    if exact or len(wanted) < MIN_PREFIX:
        return exact[0] if exact else None
    return _one(
        [f for f in findings if f.fingerprint.lower().startswith(wanted)],
        f"fingerprint prefix {text!r}",
    )


def _by_rule_and_resource(findings: Sequence[Finding], rule: str, resource: str) -> Finding | None:
    wanted = resource.casefold()
    of_rule = [f for f in findings if f.rule_id == rule]
    by_id = [f for f in of_rule if f.resource.id.casefold() == wanted]
    if by_id:
        return by_id[0]
    by_name = [f for f in of_rule if wanted and f.resource.display_name.casefold() == wanted]
    return _one(by_name, f"{rule}:{resource}")


def _one(matches: list[Finding], what: str) -> Finding | None:
    """The single match; several distinct findings are ambiguous (exit 2, naming them)."""
    distinct = {f.fingerprint: f for f in matches}
    if len(distinct) <= 1:
        return matches[0] if matches else None
    named = ", ".join(f"{f.fingerprint} ({_key(f)})" for f in list(distinct.values())[:5])
    more = f" and {len(distinct) - 5} more" if len(distinct) > 5 else ""
    raise UsageError(
        f"{what} matches {len(distinct)} findings: {named}{more}",
        "give the whole fingerprint, or RULE:RESOURCE with the resource id",
    )


def _key(finding: Finding) -> str:
    return f"{finding.rule_id}:{finding.resource.id}"


def _did_you_mean(findings: Sequence[Finding], text: str) -> str:
    rule, separator, _ = text.partition(":")
    if separator and RULE_ID.match(rule.upper()):
        keys = {_key(f).casefold(): _key(f) for f in findings}
        wanted = f"{rule.upper()}:{text.partition(':')[2].strip()}".casefold()
    else:
        keys = {f.fingerprint.lower(): f.fingerprint for f in findings}
        wanted = text.lower()
    started = [key for key in keys if key.startswith(wanted)] if wanted else []
    close = started or difflib.get_close_matches(wanted, list(keys), n=1, cutoff=0.6)
    return f"; did you mean {keys[close[0]]!r}?" if close else ""
