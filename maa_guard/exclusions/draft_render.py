"""A draft as Markdown, to read before submitting and to attach to the change ticket.

Every tenant string goes through ``text.markdown``; the Graph request is shown in a code fence
longer than any run of backticks inside it, so no value can close the fence.

A draft whose reviews do not match its change (:func:`review_mismatches`: an app added without
its review, a review of an app not added, a ``do-not-exclude`` or unverified review without an
accepted risk) is not what ``exclusions draft`` writes: the page opens with a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from maa_guard.exclusions.draft import (
    PROPERTY_SOURCE,
    ChangeAction,
    DraftApp,
    DraftFile,
    ExclusionDraft,
    GraphWrite,
)
from maa_guard.reporters.text import inert, markdown
from maa_guard.review import Review, Verdict, review_from_json, review_to_markdown
from maa_guard.snapshot.codec import format_datetime

_BACKTICKS = re.compile(r"`+")
GRAPH_VERSION = "beta"
_NO_PROPERTY_NOTE = (
    "The tenant's access policies carry no exclusion property (Microsoft Graph publishes no "
    "writable one), so `exclusions submit` cannot send this change. Make it on the access "
    "policy's Exclusions tab in the Intune admin center (Tenant administration > Multi Admin "
    "Approval > Access policies), where MAA asks a second administrator to approve it too; "
    "this page is its change ticket. Without the property the policy's list cannot be read, so "
    "the exclusions listed as now come from the audit log and the `[[exclusions]]` declaration "
    "and may be incomplete: the Exclusions tab shows them all."
)


_NO_REVIEW = "{app} is added, but the draft holds no review of it"
_NOT_ADDED = "the draft holds a review of {app}, which it does not add"
_REFUSED = "the review of {app} says do-not-exclude, and the draft records no accepted risk"
_UNVERIFIED = (
    "the review of {app} could not verify everything, and the draft records no accepted risk"
)
_MISMATCH_NOTE = (
    "The draft was edited and its digest computed again, which anyone can do: the digest "
    "catches an accident, not a forgery. `exclusions submit` reviews every app it adds again, "
    "live, and refuses a do-not-exclude or unverified review unless `--accept-risk REASON` is "
    "given at submit. Do not approve this change from this page."
)


@dataclass(frozen=True, slots=True)
class ReviewMismatch:
    """One way a draft's reviews do not match its change. ``name`` and ``app_id`` come from the
    file, so whoever shows them escapes them (``describe``)."""

    template: str
    name: str
    app_id: str

    def describe(self, escape: Callable[[str], str]) -> str:
        label = f"{escape(self.name)} ({escape(self.app_id)})" if self.name else escape(self.app_id)
        return self.template.format(app=label)


def review_mismatches(draft_file: DraftFile) -> tuple[ReviewMismatch, ...]:
    """What ``exclusions draft`` would not have written: every added app has exactly its
    review, and a ``do-not-exclude`` or unverified one only with an accepted risk."""
    added = {app.app_id.lower(): app for app in draft_file.draft.change(ChangeAction.ADD)}
    reviewed = {r.app.app_id.lower(): r for r in _parsed_reviews(draft_file)}
    found = [
        ReviewMismatch(_NO_REVIEW, app.display_name, app.app_id)
        for key, app in added.items()
        if key not in reviewed
    ]
    found += [
        ReviewMismatch(_NOT_ADDED, r.app.display_name, r.app.app_id)
        for key, r in reviewed.items()
        if key not in added
    ]
    if not draft_file.draft.accepted_risk.strip():
        found += [_unaccepted(r) for key, r in reviewed.items() if key in added and _risky(r)]
    return tuple(found)


def _risky(review: Review) -> bool:
    return review.verdict is Verdict.DO_NOT_EXCLUDE or not review.complete


def _unaccepted(review: Review) -> ReviewMismatch:
    refused = review.verdict is Verdict.DO_NOT_EXCLUDE
    template = _REFUSED if refused else _UNVERIFIED
    return ReviewMismatch(template, review.app.display_name, review.app.app_id)


def _parsed_reviews(draft_file: DraftFile) -> list[Review]:
    return [review_from_json(r, "draft review") for r in draft_file.reviews]


def draft_to_markdown(draft_file: DraftFile) -> str:
    draft = draft_file.draft
    reviews = _parsed_reviews(draft_file)
    verdicts = {r.app.app_id.lower(): r.verdict.value for r in reviews}
    blocks = [
        _mismatch_warning(review_mismatches(draft_file)),
        f"# Exclusion change request: {markdown(draft.policy.display_name)}",
        _facts(draft),
        "## Change\n\n" + _changes(draft, verdicts),
        _listing("Excluded now", draft.current, seen=True),
        _listing("Excluded after the change", _after(draft)),
        _request_section(draft),
        _reviews(reviews),
    ]
    return "\n\n".join(block for block in blocks if block) + "\n"


def _mismatch_warning(mismatches: Sequence[ReviewMismatch]) -> str:
    if not mismatches:
        return ""
    lines = ["> **WARNING: the reviews in this draft do not match its change.**", ">"]
    lines += [f"> - {mismatch.describe(markdown)}" for mismatch in mismatches]
    return "\n".join([*lines, ">", f"> {_MISMATCH_NOTE}"])


def _facts(draft: ExclusionDraft) -> str:
    rows = [
        ("Tenant", draft.tenant_id),
        ("Policy", f"{draft.policy.display_name} ({draft.policy.id}, {draft.policy.policy_type})"),
        ("Drafted", f"{format_datetime(draft.created_at)} by maa-guard {draft.tool_version}"),
        ("Ticket", draft.ticket or "none"),
        ("Justification", draft.justification),
    ]
    if draft.accepted_risk:
        rows.append(("Accepted risk", draft.accepted_risk))
    lines = ["| | |", "|---|---|"] + [f"| {name} | {markdown(value)} |" for name, value in rows]
    return "\n".join(lines)


def _changes(draft: ExclusionDraft, verdicts: dict[str, str]) -> str:
    lines = ["| Action | App | appId | Review |", "|---|---|---|---|"]
    for change in draft.changes:
        verdict = verdicts.get(change.app.app_id.lower(), "none (no review)")
        if change.action is ChangeAction.REMOVE:
            verdict = "not needed (removal)"
        lines.append(
            f"| {change.action.value} | {markdown(change.app.display_name)} | "
            f"{markdown(change.app.app_id)} | {markdown(verdict)} |"
        )
    return "\n".join(lines)


def _after(draft: ExclusionDraft) -> tuple[DraftApp, ...]:
    known = {app.app_id.lower(): app for app in draft.current}
    known.update({c.app.app_id.lower(): c.app for c in draft.changes})
    return tuple(known.get(a.lower(), DraftApp(a)) for a in draft.resulting_app_ids)


def _listing(title: str, apps: Sequence[DraftApp], *, seen: bool = False) -> str:
    """``seen``: with a column saying where each exclusion was seen."""
    if not apps:
        return f"## {title} (0)\n\nnone"
    header = "| App | appId | Seen in |\n|---|---|---|" if seen else "| App | appId |\n|---|---|"
    rows = [
        f"| {markdown(app.display_name)} | {markdown(app.app_id)} |"
        + (f" {markdown(', '.join(app.sources) or '-')} |" if seen else "")
        for app in apps
    ]
    return f"## {title} ({len(apps)})\n\n{header}\n" + "\n".join(rows)


def _request_section(draft: ExclusionDraft) -> str:
    if draft.request is None:
        return "## No Graph request\n\n" + _NO_PROPERTY_NOTE
    section = "## The Graph request `exclusions submit` sends\n\n" + _request(draft.request)
    audit_only = [app for app in draft.current if PROPERTY_SOURCE not in app.sources]
    if audit_only:
        names = ", ".join(markdown(app.display_name or app.app_id) for app in audit_only)
        section += (
            f"\n\nNot in the policy's property {markdown(draft.exclusions_property)}, so not "
            f"written and left as they are: {names} (known from the audit log only)."
        )
    return section


def _request(request: GraphWrite) -> str:
    body = json.dumps(_plain(request.body), indent=2, ensure_ascii=False)
    text = inert(
        f"{request.method} /{GRAPH_VERSION}{request.path}\n"
        "x-msft-approval-justification: <base64 of the justification and a maa-guard reference>\n"
        f"\n{body}"
    )
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    note = (
        "The access policy is itself protected: the service files an approval request, and a "
        "second administrator approves it in the Intune admin center before the change applies."
    )
    return f"{fence}http\n{text}\n{fence}\n\n{note}"


def _plain(body: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    return {name: list(values) for name, values in body.items()}


def _reviews(reviews: Sequence[Review]) -> str:
    if not reviews:
        return ""
    rendered = [review_to_markdown(review) for review in reviews]
    return "## Reviews of the apps added\n\n" + "\n\n".join(_demoted(text) for text in rendered)


def _demoted(text: str) -> str:
    """Review headings one level down, under this page's own heading."""
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE).rstrip("\n")
