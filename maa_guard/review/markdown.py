"""A review as GitHub-flavoured Markdown, to attach to a change ticket.

Every tenant string goes through ``reporters.text.markdown``: it cannot open a tag, a link, a
code span or a table column, nor start a new line.
"""

from __future__ import annotations

from collections.abc import Sequence

from maa_guard.reporters.text import markdown
from maa_guard.review.model import Review, RuleResult, Verdict
from maa_guard.review.rows import (
    Table,
    app_line,
    fix_lines,
    tables,
    times_line,
    unverified_table,
    verdict_detail,
)

ICONS = {Verdict.OK: "✅", Verdict.NEEDS_HARDENING: "⚠️", Verdict.DO_NOT_EXCLUDE: "❌"}


def review_to_markdown(review: Review) -> str:
    blocks = [
        f"## {ICONS[review.verdict]} maa-guard review: {review.verdict.value.upper()}",
        f"**{markdown(app_line(review))}**\n\n{markdown(times_line(review))}",
        f"**Verdict: {review.verdict.value}** ({markdown(verdict_detail(review))})",
        _reasons(review.reasons),
        _table(unverified_table(review)) if review.unverified else "",
        _notes(review.notes),
        *(_table(table) for table in tables(review)),
    ]
    return "\n\n".join(block for block in blocks if block) + "\n"


def _reasons(reasons: Sequence[RuleResult]) -> str:
    if not reasons:
        return "### Reasons\n\nNone: every exclusion rule passes or does not apply."
    parts = [f"### Reasons and fixes ({len(reasons)})"]
    for reason in reasons:
        title = f"{reason.rule_id} {reason.slug} ({reason.severity.label}): {reason.title}"
        fixes = "\n".join(f"- {markdown(line)}" for line in fix_lines(reason))
        parts.append(f"#### {markdown(title)}\n\n{markdown(reason.message)}\n\nFix:\n\n{fixes}")
    return "\n\n".join(parts)


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    return "### Notes\n\n" + "\n".join(f"- {markdown(note)}" for note in notes)


def _table(table: Table) -> str:
    heading = f"### {markdown(table.title)}"
    if not table.rows:
        return f"{heading}\n\n{markdown(table.empty)}"
    lines = [_row(table.header), "| " + " | ".join("---" for _ in table.header) + " |"]
    lines += [_row(row) for row in table.rows]
    return f"{heading}\n\n" + "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(markdown(cell) for cell in cells) + " |"
