"""The terminal report: rich tables of failing findings by severity, then what could not verify.

Every data string is made inert (``text.inert``) and escaped for rich markup before rich sees
it, so a display name cannot style the output, move the cursor or clear the screen. With colour
off the output holds no escape sequence at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Severity
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.summary import (
    Summary,
    Verdict,
    describe_source,
    failing,
    incomplete_sources,
    quieted,
    resource_label,
    summarise,
    suppression_note,
    unverified,
)
from maa_guard.reporters.text import one_line
from maa_guard.snapshot.codec import format_datetime

if TYPE_CHECKING:
    from rich.console import RenderableType

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}
VERDICT_STYLES = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.INCOMPLETE: "bold yellow",
}


def render(result: ScanResult, options: RenderOptions) -> str:
    console = text_console(options.color, options.width)
    summary = summarise(result)
    console.print(_header(result, summary))
    for renderable in _sections(result, options):
        console.print()
        console.print(renderable)
    console.print()
    console.print(_footer(summary))
    return console_text(console)


def safe(text: str) -> str:
    """A data string as rich markup that shows exactly its (inert) text, on one line.

    A newline in a tenant string could otherwise forge lines of the report.
    """
    from rich.markup import escape

    return escape(one_line(text))


def _header(result: ScanResult, summary: Summary) -> str:
    tenant = result.snapshot.tenant
    style = VERDICT_STYLES[summary.verdict]
    threshold = result.settings.fail_on.label
    return (
        f"maa-guard {safe(result.tool_version)}: tenant {safe(tenant.display_name)} "
        f"({safe(tenant.id)}), collected {format_datetime(result.snapshot.collected_at)}\n"
        f"[{style}]{summary.verdict.value.upper()}[/] (fail on {threshold} and above)"
    )


def _sections(result: ScanResult, options: RenderOptions) -> list[RenderableType]:
    findings = failing(result)
    sections: list[RenderableType] = [
        _findings_table(
            f"{severity.label.upper()} ({len(group)})",
            SEVERITY_STYLES[severity],
            ("Rule", "Resource", "Finding"),
            [(_rule(f), resource_label(f.resource), f.message) for f in group],
        )
        for severity in sorted(Severity, reverse=True)
        if (group := [f for f in findings if f.severity is severity])
    ]
    if not findings:
        sections.append("[green]No failing findings.[/]")
    if options.show_suppressed and (hidden := quieted(result)):
        sections.append(
            _findings_table(
                f"SUPPRESSED AND BASELINED ({len(hidden)})",
                "dim",
                ("Rule", "Resource", "Why"),
                [(_rule(f), resource_label(f.resource), suppression_note(f)) for f in hidden],
            )
        )
    sections += _unverified(result)
    if result.warnings:
        sections.append("\n".join(f"[yellow]warning:[/] {safe(w)}" for w in result.warnings))
    return sections


def _unverified(result: ScanResult) -> list[RenderableType]:
    sections: list[RenderableType] = []
    errors = unverified(result)
    if errors:
        sections.append(
            _findings_table(
                f"COULD NOT VERIFY ({len(errors)})",
                "magenta",
                ("Rule", "Resource", "Reason"),
                [(_rule(f), resource_label(f.resource), f.message) for f in errors],
            )
        )
    problems = incomplete_sources(result)
    if problems:
        sections.append(
            "\n".join(
                f"[magenta]incomplete:[/] {safe(describe_source(n, s))}"
                for n, s in problems.items()
            )
        )
    return sections


def _findings_table(
    title: str, style: str, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> RenderableType:
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"[{style}]{title}[/]",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        expand=False,
    )
    table.add_column(columns[0], no_wrap=True)
    for column in columns[1:]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(safe(cell) for cell in row))
    return table


def _rule(finding: Finding) -> str:
    return f"{finding.rule_id} {finding.slug}"


def _footer(summary: Summary) -> str:
    return (
        f"{summary.line} ({summary.suppressed} suppressed, {summary.baselined} baselined, "
        f"{summary.failing_total} counted failures)"
    )
