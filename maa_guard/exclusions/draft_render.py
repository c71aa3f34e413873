"""A draft as Markdown, to read before submitting and to attach to the change ticket.

Every tenant string goes through ``text.markdown``; the Graph request is shown in a code fence
longer than any run of backticks inside it, so no value can close the fence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from maa_guard.exclusions.draft import ChangeAction, DraftApp, DraftFile, ExclusionDraft
from maa_guard.reporters.text import inert, markdown
from maa_guard.review import Review, review_from_json, review_to_markdown
from maa_guard.snapshot.codec import format_datetime

_BACKTICKS = re.compile(r"`+")
GRAPH_VERSION = "beta"


def draft_to_markdown(draft_file: DraftFile) -> str:
    draft = draft_file.draft
    reviews = [review_from_json(r, "draft review") for r in draft_file.reviews]
    verdicts = {r.app.app_id.lower(): r.verdict.value for r in reviews}
    blocks = [
        f"# Exclusion change request: {markdown(draft.policy.display_name)}",
        _facts(draft),
        "## Change\n\n" + _changes(draft, verdicts),
        _listing("Excluded now", draft.current),
        _listing("Excluded after the change", _after(draft)),
        "## The Graph request `exclusions submit` sends\n\n" + _request(draft),
        _reviews(reviews),
    ]
    return "\n\n".join(block for block in blocks if block) + "\n"


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
        verdict = verdicts.get(change.app.app_id.lower(), "")
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


def _listing(title: str, apps: Sequence[DraftApp]) -> str:
    if not apps:
        return f"## {title} (0)\n\nnone"
    rows = [f"| {markdown(app.display_name)} | {markdown(app.app_id)} |" for app in apps]
    return f"## {title} ({len(apps)})\n\n| App | appId |\n|---|---|\n" + "\n".join(rows)


def _request(draft: ExclusionDraft) -> str:
    body = json.dumps(_plain(draft.request.body), indent=2, ensure_ascii=False)
    text = inert(
        f"{draft.request.method} /{GRAPH_VERSION}{draft.request.path}\n"
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
