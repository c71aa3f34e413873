"""The impact report in the terminal: a row per app (a table, or blocks on a narrow terminal),
the ways out, what could not be read.

Tenant strings reach rich as plain text through ``reporters.layout`` (inert, one line) or
through ``reporters.table.safe`` (rich markup escaped), so a display name can neither style
the output nor move the cursor. On a terminal ``max_rows`` keeps the first rows, most urgent
verdict first, and a line says how many more there are and how to get them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from maa_guard.impact import cells
from maa_guard.impact.model import Column as ImpactColumn
from maa_guard.impact.model import ImpactReport, ImpactRow, Verdict
from maa_guard.impact.render import ImpactRenderOptions
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.layout import Cell, Column, Role, hidden_line, table_or_blocks
from maa_guard.reporters.table import safe

if TYPE_CHECKING:
    from rich.console import RenderableType

VERDICT_STYLES = {
    Verdict.WILL_BE_BLOCKED: "bold red",
    Verdict.UNPROTECTED_WORKLOAD: "yellow",
    Verdict.EXCLUDED: "cyan",
    Verdict.INACTIVE: "magenta",
    Verdict.READ_ONLY: "blue",
    Verdict.MAA_AWARE: "green",
}


def render_chunks(report: ImpactReport, options: ImpactRenderOptions) -> Iterator[str]:
    """The summary and the outcome are those of the whole report, even when a display filter
    narrowed the rows: they say what the exit code says."""
    console = text_console(options.color, options.width)
    console.print(_header(report))
    for section in _sections(report, options):
        console.print()
        console.print(section, crop=False)
    console.print()
    whole = report.whole
    console.print(safe(cells.summary_line(whole)))
    if whole is not report:
        console.print(f"{len(report.rows)} of {len(whole.rows)} apps shown (display filter)")
    console.print(_outcome(whole))
    yield console_text(console)


HOW_TO_SEE_ALL = "write them all with -o impact.csv"
COLUMNS = (Column("Verdict", Role.HEAD), Column("App"))


def _header(report: ImpactReport) -> str:
    tenant = report.tenant
    return (
        f"maa-guard {safe(report.tool_version)} impact: tenant {safe(tenant.display_name)} "
        f"({safe(tenant.id)})\naudit window {safe(cells.window(report))}"
    )


def _sections(report: ImpactReport, options: ImpactRenderOptions) -> list[RenderableType]:
    rows = report.rows if options.max_rows is None else report.rows[: options.max_rows]
    sections: list[RenderableType] = [
        table_or_blocks(COLUMNS, [_row(row) for row in rows], options.width, row_lines=True)
        if rows
        else "No app to report."
    ]
    if hidden := len(report.rows) - len(rows):
        sections.append(safe(hidden_line(hidden, "apps", HOW_TO_SEE_ALL)))
    whole = report.whole  # what could not be read concerns every app, shown or not
    if whole.incomplete_sources:
        sections.append(_incomplete(whole))
    if whole.unknown_requestor_reason:
        sections.append(
            f"[magenta]incomplete:[/] {safe(whole.unknown_requestor_reason)}\n"
            "cells marked (unverified) rest on these requests"
        )
    return sections


def _row(row: ImpactRow) -> tuple[Cell, Cell]:
    verdict = cells.marked(row, ImpactColumn.VERDICT, row.verdict.value)
    return (
        Cell(verdict, VERDICT_STYLES[row.verdict]),
        Cell(row.display_name, "bold", row.app_id, _details(row)),
    )


def _details(row: ImpactRow) -> tuple[str, ...]:
    """The row's columns as labelled lines; a will-be-blocked row ends with its ways out."""
    text = cells.cells(row)
    lines = [
        _writes(row, text),
        f"last app-only sign-in: {text['last_sign_in']}; protected: {text['protected']}; "
        f"excluded from: {text['excluded']}; MAA-aware: {text['maa_aware']}",
        f"Intune write permissions: {text['write_permissions']}",
    ]
    lines += [
        f"way out {number} ({way.kind.value}): {way.summary}"
        for number, way in enumerate(row.ways_out, 1)
    ]
    return tuple(lines)


def _writes(row: ImpactRow, text: dict[str, str]) -> str:
    if not row.writes:
        return f"writes in the window: {text['writes']}"
    return f"writes in the window: {text['writes']}, last {text['last_write']}: {text['workloads']}"


def _incomplete(report: ImpactReport) -> str:
    lines = [
        f"[magenta]incomplete:[/] {safe(cells.describe_source(name, status))}"
        for name, status in report.incomplete_sources.items()
    ]
    lines.append(
        "cells marked (unverified) rest on these sources, and apps may be missing from the report"
    )
    return "\n".join(lines)


def _outcome(report: ImpactReport) -> str:
    style = "bold red" if report.count(Verdict.WILL_BE_BLOCKED) else "bold green"
    if not report.complete and style == "bold green":
        style = "bold yellow"
    return f"[{style}]{safe(cells.outcome_line(report))}[/]"
