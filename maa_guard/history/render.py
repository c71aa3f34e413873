"""Drift output: terminal (rich), JSON and Markdown, one registry keyed by format.

The terminal escapes every tenant string for rich markup and makes it inert (no escape
sequence, no newline); Markdown escapes it with ``reporters.text.markdown``; JSON keeps the exact
strings. The JSON shape is documented in docs/history.md and carries ``version``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from maa_guard.history.drift import Drift, ScanSide
from maa_guard.history.records import StoredFinding
from maa_guard.history.sections import Section, sections, side_line, summary_line
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.layout import (
    Cell,
    CellValue,
    Column,
    Role,
    fits_as_table,
    table_or_blocks,
)
from maa_guard.snapshot.codec import format_datetime

DIFF_JSON_VERSION = 1


class DiffFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def render_drift(
    drift: Drift, output_format: DiffFormat, color: bool = False, width: int = 120
) -> str:
    """``color`` and ``width`` matter only to the terminal table."""
    return _RENDERERS[output_format](drift, color, width)


# ---- JSON -----------------------------------------------------------------------------------


def drift_data(drift: Drift) -> dict[str, Any]:
    tenant = drift.after.snapshot.tenant
    return {
        "kind": "maa-guard-diff",
        "version": DIFF_JSON_VERSION,
        "tenant": {"id": tenant.id, "display_name": tenant.display_name},
        "before": _side(drift.before),
        "after": _side(drift.after),
        "drift": not drift.is_empty,
        "fails": drift.fails,
        "policies": {
            "added": [asdict(p) for p in drift.policies_added],
            "removed": [asdict(p) for p in drift.policies_removed],
            "changed": [asdict(c) for c in drift.policies_changed],
        },
        "approver_members": {
            "added": [asdict(m) for m in drift.approvers_added],
            "removed": [asdict(m) for m in drift.approvers_removed],
        },
        "exclusions": {
            "added": [asdict(e) for e in drift.exclusions_added],
            "removed": [asdict(e) for e in drift.exclusions_removed],
        },
        "credentials": {
            "added": [asdict(c) for c in drift.credentials_added],
            "removed": [asdict(c) for c in drift.credentials_removed],
            "changed": [asdict(c) for c in drift.credentials_changed],
        },
        "findings": {
            "new": [_finding(f) for f in drift.findings_new],
            "resolved": [_finding(f) for f in drift.findings_resolved],
        },
        "warnings": list(drift.warnings),
    }


def _side(side: ScanSide) -> dict[str, Any]:
    return {
        "scan_id": side.scan_id,
        "path": side.path,
        "collected_at": format_datetime(side.snapshot.collected_at),
        "tool_version": side.tool_version,
    }


def _finding(finding: StoredFinding) -> dict[str, Any]:
    return {
        "fingerprint": finding.fingerprint,
        "rule_id": finding.rule_id,
        "severity": finding.severity.label,
        "status": finding.status.value,
        "resource": {
            "type": finding.resource_type,
            "id": finding.resource_id,
            "display_name": finding.resource_name,
        },
        "message": finding.message,
    }


def _json(drift: Drift, color: bool, width: int) -> str:
    return json.dumps(drift_data(drift), indent=2, ensure_ascii=False) + "\n"


# ---- Markdown -------------------------------------------------------------------------------


def _markdown(drift: Drift, color: bool, width: int) -> str:
    from maa_guard.reporters.text import markdown

    tenant = drift.after.snapshot.tenant
    blocks = [
        f"## maa-guard diff: {markdown(tenant.display_name or tenant.id)} ({markdown(tenant.id)})",
        f"From {markdown(side_line(drift.before))}  \nto {markdown(side_line(drift.after))}",
        f"**{markdown(summary_line(drift))}**",
    ]
    blocks += [_markdown_table(section) for section in sections(drift)]
    blocks += [f"> ⚠️ {markdown(warning)}" for warning in drift.warnings]
    return "\n\n".join(blocks) + "\n"


def _markdown_table(section: Section) -> str:
    from maa_guard.reporters.text import markdown

    lines = [
        f"### {section.title}",
        "",
        "| " + " | ".join(section.columns) + " |",
        "|" + "---|" * len(section.columns),
    ]
    lines += ["| " + " | ".join(markdown(cell) for cell in row) + " |" for row in section.rows]
    return "\n".join(lines)


# ---- terminal -------------------------------------------------------------------------------

_CHANGE_STYLES = {
    "added": "green",
    "new": "red",
    "removed": "yellow",
    "resolved": "green",
    "changed": "cyan",
}


# Columns that head a block on a narrow terminal; the others follow, one labelled line each.
_HEAD_COLUMNS = frozenset({"Change", "Severity", "Rule"})


def _terminal(drift: Drift, color: bool, width: int) -> str:
    from maa_guard.reporters.table import safe

    console = text_console(color, width)
    tenant = drift.after.snapshot.tenant
    console.print(f"maa-guard diff: tenant {safe(tenant.display_name)} ({safe(tenant.id)})")
    console.print(f"from {safe(side_line(drift.before))}")
    console.print(f"to   {safe(side_line(drift.after))}")
    tables = [_section(section) for section in sections(drift)]
    blocks = not all(fits_as_table(columns, rows, width) for _, columns, rows in tables)
    for title, columns, rows in tables:  # one layout for every table of the report
        console.print()
        console.print(table_or_blocks(columns, rows, width, title=title, blocks=blocks), crop=False)
    for warning in drift.warnings:
        console.print(f"[yellow]warning:[/] {safe(warning)}")
    console.print()
    style = "green" if drift.is_empty else "bold yellow"
    console.print(f"[{style}]{safe(summary_line(drift))}[/]")
    return console_text(console)


def _section(section: Section) -> tuple[str, list[Column], list[list[CellValue]]]:
    """A table's title, columns and rows; on a narrow terminal a block per change."""
    columns = [
        Column(name, Role.HEAD) if name in _HEAD_COLUMNS else Column(name, labelled=True)
        for name in section.columns
    ]
    rows: list[list[CellValue]] = [
        [Cell(change, _CHANGE_STYLES.get(change, "")), *cells] for change, *cells in section.rows
    ]
    return f"{section.title.upper()} ({len(section.rows)})", columns, rows


_RENDERERS: dict[DiffFormat, Callable[[Drift, bool, int], str]] = {
    DiffFormat.TABLE: _terminal,
    DiffFormat.JSON: _json,
    DiffFormat.MARKDOWN: _markdown,
}
