"""A review for the terminal: verdict, reasons with their fixes, then the facts, as rich tables.

Every tenant string is made inert and escaped for rich markup (``reporters.table.safe``), so a
display name cannot style the output, move the cursor or forge a line. With colour off the
output holds no escape sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.table import SEVERITY_STYLES, safe
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

if TYPE_CHECKING:
    from rich.console import RenderableType

VERDICT_STYLES = {
    Verdict.OK: "bold green",
    Verdict.NEEDS_HARDENING: "bold yellow",
    Verdict.DO_NOT_EXCLUDE: "bold red",
}


def review_to_terminal(review: Review, color: bool = False, width: int = 120) -> str:
    console = text_console(color, width)
    for renderable in _sections(review):
        console.print(renderable)
        console.print()
    return console_text(console)


def _sections(review: Review) -> list[RenderableType]:
    style = VERDICT_STYLES[review.verdict]
    sections: list[RenderableType] = [
        f"maa-guard review of {safe(app_line(review))}\n{safe(times_line(review))}",
        f"[{style}]{review.verdict.value.upper()}[/]: {safe(verdict_detail(review))}",
    ]
    sections += [_reason(reason) for reason in review.reasons]
    if review.unverified:
        sections.append(_table(unverified_table(review), "magenta"))
    if review.notes:
        sections.append("\n".join(f"[cyan]note:[/] {safe(note)}" for note in review.notes))
    sections += [_table(table) for table in tables(review)]
    return sections


def _reason(reason: RuleResult) -> str:
    style = SEVERITY_STYLES[reason.severity]
    lines = [
        f"[{style}]{reason.severity.label.upper()}[/] {safe(reason.rule_id)} "
        f"{safe(reason.slug)}: {safe(reason.title)}",
        f"  {safe(reason.message)}",
        "  fix:",
    ]
    lines += [f"  - {safe(line)}" for line in fix_lines(reason)]
    return "\n".join(lines)


def _table(table: Table, style: str = "bold") -> RenderableType:
    from rich.table import Table as RichTable

    if not table.rows:
        return f"[{style}]{safe(table.title)}[/]\n{safe(table.empty)}"
    grid = RichTable(title=safe(table.title), title_style=style, title_justify="left")
    for name in table.header:
        grid.add_column(safe(name), overflow="fold")
    for row in table.rows:
        grid.add_row(*(safe(cell) for cell in row))
    return grid
