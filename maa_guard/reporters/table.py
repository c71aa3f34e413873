"""The terminal report: failing findings by severity, then what could not verify.

Each group is a table where the terminal is wide enough, else every group is blocks, one per
finding (``reporters.layout``); a resource id is never cut. ``max_rows`` (a terminal) keeps the
most severe findings and ends with a line saying how many more there are.

Every data string is made inert (``text.inert``) and escaped for rich markup before rich sees
it, so a display name cannot style the output, move the cursor or clear the screen. With colour
off the output holds no escape sequence at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding, Resource, Severity, Status
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.layout import (
    PLAIN_ROWS,
    Cell,
    CellValue,
    Column,
    Role,
    fits_as_table,
    hidden_line,
    table_or_blocks,
)
from maa_guard.reporters.summary import (
    Summary,
    Verdict,
    describe_source,
    failing,
    filter_line,
    incomplete_sources,
    noted_sources,
    quieted,
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
        console.print(renderable, crop=False)
    console.print()
    console.print(_footer(summary))
    if shown := filter_line(result):
        console.print(safe(shown))
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


class _Group(NamedTuple):
    title: str
    style: str
    last_column: str  # what the last column says: the finding, why it does not count, ...
    findings: list[Finding]


def _sections(result: ScanResult, options: RenderOptions) -> list[RenderableType]:
    """The finding tables, at most ``options.max_rows`` rows in all, most severe first, each
    a table or (when one would not fit) every one as blocks; then what could not be read."""
    groups = _groups(result, options.show_suppressed)
    shown = _first_rows([group.findings for group in groups], options.max_rows)
    rows = [[_row(finding) for finding in findings] for findings in shown]
    blocks = sum(map(len, rows)) > PLAIN_ROWS or not all(
        fits_as_table(_columns(group.last_column), group_rows, options.width)
        for group, group_rows in zip(groups, rows, strict=True)
    )
    sections: list[RenderableType] = [
        table_or_blocks(
            _columns(group.last_column),
            group_rows,
            options.width,
            title=group.title,
            title_style=group.style,
            blocks=blocks,
        )
        for group, group_rows in zip(groups, rows, strict=True)
        if group_rows
    ]
    if not any(finding.counts_as_failure for finding in result.findings):
        sections.insert(0, "[green]No failing findings.[/]")
    if hidden := sum(len(group.findings) for group in groups) - sum(map(len, shown)):
        sections.append(safe(hidden_line(hidden, "findings", HOW_TO_SEE_ALL)))
    return sections + _notes(result)


def _groups(result: ScanResult, show_suppressed: bool) -> list[_Group]:
    """Failing findings by severity, then the quieted ones if asked, then the unverified."""
    counted = failing(result)
    groups = [
        _Group(
            f"{severity.label.upper()} ({len(group)})", SEVERITY_STYLES[severity], "Finding", group
        )
        for severity in sorted(Severity, reverse=True)
        if (group := [f for f in counted if f.severity is severity])
    ]
    if show_suppressed and (hidden := quieted(result)):
        groups.append(_Group(f"SUPPRESSED AND BASELINED ({len(hidden)})", "dim", "Why", hidden))
    if errors := unverified(result):
        groups.append(_Group(f"COULD NOT VERIFY ({len(errors)})", "magenta", "Reason", errors))
    return groups


HOW_TO_SEE_ALL = "write them all with -o findings.csv"


def _first_rows(groups: list[list[Finding]], limit: int | None) -> list[list[Finding]]:
    """The groups cut to ``limit`` rows in all, in order; every row without a limit."""
    if limit is None:
        return groups
    shown = []
    for group in groups:
        shown.append(group[: max(limit, 0)])
        limit -= len(shown[-1])
    return shown


def _columns(last: str) -> tuple[Column, ...]:
    return (
        Column("Severity", Role.HEAD, in_table=False),
        Column("Rule", Role.HEAD),
        Column("Status", Role.HEAD, in_table=False),
        Column("Resource"),
        Column(last),
    )


def _row(finding: Finding) -> tuple[CellValue, ...]:
    """A block's first line says severity, rule and status; a table's title the severity."""
    severity = Cell(finding.severity.label.upper(), SEVERITY_STYLES[finding.severity])
    quiet = finding.status is Status.FAIL and not finding.counts_as_failure
    return (
        severity,
        _rule(finding),
        finding.status.value,
        _resource(finding.resource),
        suppression_note(finding) if quiet else finding.message,
    )


def _resource(resource: Resource) -> Cell:
    """``group Helpdesk Approvers`` and its id; ``resource_label`` in a table."""
    if resource.display_name and resource.display_name != resource.id:
        return Cell(f"{resource.type} {resource.display_name}", ident=resource.id)
    return Cell(resource.type, ident=resource.id, bracket=False)


def _notes(result: ScanResult) -> list[RenderableType]:
    sections: list[RenderableType] = []
    if problems := incomplete_sources(result):
        sections.append(
            "\n".join(
                f"[magenta]incomplete:[/] {safe(describe_source(n, s))}"
                for n, s in problems.items()
            )
        )
    if notes := noted_sources(result):
        sections.append(
            "\n".join(f"[cyan]source:[/] {safe(describe_source(n, s))}" for n, s in notes.items())
        )
    if result.warnings:
        sections.append("\n".join(f"[yellow]warning:[/] {safe(w)}" for w in result.warnings))
    return sections


def _rule(finding: Finding) -> str:
    return f"{finding.rule_id} {finding.slug}"


def _footer(summary: Summary) -> str:
    return (
        f"{summary.line} ({summary.suppressed} suppressed, {summary.baselined} baselined, "
        f"{summary.failing_total} counted failures)"
    )
