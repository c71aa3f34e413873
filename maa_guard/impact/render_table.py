"""The impact report in the terminal: one rich table, the ways out, what could not be read.

Every tenant string goes through ``reporters.table.safe`` (inert, one line, rich markup
escaped), so a display name can neither style the output nor move the cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from maa_guard.impact import cells
from maa_guard.impact.model import Column, ImpactReport, ImpactRow, Verdict
from maa_guard.impact.render import ImpactRenderOptions
from maa_guard.reporters.console import console_text, text_console
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
    console = text_console(options.color, options.width)
    console.print(_header(report))
    for section in _sections(report):
        console.print()
        console.print(section)
    console.print()
    console.print(safe(cells.summary_line(report)))
    console.print(_outcome(report))
    yield console_text(console)


def _header(report: ImpactReport) -> str:
    tenant = report.tenant
    return (
        f"maa-guard {safe(report.tool_version)} impact: tenant {safe(tenant.display_name)} "
        f"({safe(tenant.id)})\naudit window {safe(cells.window(report))}"
    )


def _sections(report: ImpactReport) -> list[RenderableType]:
    sections: list[RenderableType] = [_table(report.rows) if report.rows else "No app to report."]
    if report.incomplete_sources:
        sections.append(_incomplete(report))
    return sections


def _table(rows: tuple[ImpactRow, ...]) -> RenderableType:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, show_lines=True, expand=False)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("App", overflow="fold")
    for row in rows:
        verdict = safe(cells.marked(row, Column.VERDICT, row.verdict.value))
        table.add_row(f"[{VERDICT_STYLES[row.verdict]}]{verdict}[/]", _details(row))
    return table


def _details(row: ImpactRow) -> str:
    """The row's columns as labelled lines; a will-be-blocked row ends with its ways out."""
    text = cells.cells(row)
    lines = [
        f"[bold]{safe(row.label)}[/] {safe(row.app_id)}",
        _writes(row, text),
        f"last app-only sign-in: {safe(text['last_sign_in'])}; "
        f"protected: {safe(text['protected'])}; excluded from: {safe(text['excluded'])}; "
        f"MAA-aware: {safe(text['maa_aware'])}",
        f"Intune write permissions: {safe(text['write_permissions'])}",
    ]
    lines += [
        f"way out {number} ({way.kind.value}): {safe(way.summary)}"
        for number, way in enumerate(row.ways_out, 1)
    ]
    return "\n".join(lines)


def _writes(row: ImpactRow, text: dict[str, str]) -> str:
    if not row.writes:
        return f"writes in the window: {safe(text['writes'])}"
    return (
        f"writes in the window: {safe(text['writes'])}, last {safe(text['last_write'])}: "
        f"{safe(text['workloads'])}"
    )


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
