"""The probe report as a terminal table (rich), JSON (docs/probe-schema.json) or Markdown.

The report holds no tenant text, but its strings still pass each format's escaping: a schema
name or one of Microsoft's audit strings cannot style the terminal, open Markdown or break JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maa_guard.probe.report import (
    SCHEMA_VERSION,
    AuditSection,
    AuditTuple,
    EndpointRow,
    EnumCounts,
    PolicySection,
    ProbeReport,
    PropertyShape,
    RequestSection,
    Shapes,
    Share,
    Verdict,
)
from maa_guard.probe.targets import is_maa_text
from maa_guard.reporters.text import markdown
from maa_guard.snapshot.codec import format_datetime
from maa_guard.snapshot.published import POLICY_PROPERTIES, REQUEST_PROPERTIES

if TYPE_CHECKING:
    from maa_guard.reporters.layout import Column

FORMATS = ("table", "json", "markdown")
VERDICT_STYLES = {
    Verdict.CONFIRMED: "green",
    Verdict.CONTRADICTED: "bold red",
    Verdict.NOT_SEEN: "yellow",
}


def render(report: ProbeReport, output_format: str, color: bool = False, width: int = 120) -> str:
    if output_format == "json":
        return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
    if output_format == "markdown":
        return report_markdown(report)
    return report_terminal(report, color, width)


# ---- JSON --------------------------------------------------------------------------------------


def report_json(report: ProbeReport) -> dict[str, Any]:
    evidence = report.evidence
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "maa-guard", "version": report.tool_version},
        "generated_at": format_datetime(report.generated_at),
        "graph": {"cloud": report.cloud, "custom_endpoint": report.custom_endpoint},
        "tenant": report.tenant,
        "window_days": report.window_days,
        "endpoints": [_endpoint_json(row) for row in evidence.endpoints],
        "access_policies": _policies_json(evidence.policies),
        "approval_requests": _requests_json(evidence.requests),
        "audit": _audit_json(evidence.audit),
        "assumptions": [
            {
                "key": j.key,
                "statement": j.statement,
                "verdict": j.verdict.value,
                "observation": j.observation,
            }
            for j in report.assumptions
        ],
    }


def _endpoint_json(row: EndpointRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "method": "GET",
        "version": row.version,
        "path": row.path,
        "query": row.query,
        "permission": row.permission,
        "calls": row.calls,
        "ok": row.ok,
        "status": row.status,
        "error_codes": list(row.codes),
        "items": row.items,
        "more_pages": row.more,
        "note": row.note,
    }


def _shapes_json(found: Shapes) -> list[dict[str, Any]]:
    return [{"name": p.name, "types": list(p.types), "count": p.count} for p in found.properties]


def _enums_json(enums: Iterable[EnumCounts]) -> dict[str, list[dict[str, Any]]]:
    return {e.field: [{"value": v.value, "count": v.count} for v in e.values] for e in enums}


def _share_json(share: Share) -> dict[str, Any]:
    return {"count": share.count, "total": share.total, "share": round(share.fraction, 4)}


def _policies_json(section: PolicySection) -> dict[str, Any]:
    found = section.exclusion_property
    return {
        "listed": section.listed,
        "read_by_id": section.read_by_id,
        "list_properties": _shapes_json(section.list_shapes),
        "properties": _shapes_json(section.shapes),
        "properties_left_out": section.shapes.left_out + section.list_shapes.left_out,
        "undocumented": list(section.undocumented),
        "exclusion_property": None
        if found is None
        else {"name": found.name, "types": list(found.types), "count": found.count},
        "enums": _enums_json(section.enums),
    }


def _requests_json(section: RequestSection) -> dict[str, Any]:
    return {
        "read": section.read,
        "properties": _shapes_json(section.shapes),
        "properties_left_out": section.shapes.left_out,
        "undocumented": list(section.undocumented),
        "enums": _enums_json(section.enums),
        "null_requestor": _share_json(section.null_requestor),
        "null_approver": _share_json(section.null_approver),
        "decided": section.decided,
        "decided_without_approver": section.decided_without_approver,
        "payload_fields": [
            {
                "name": f.name,
                "present": f.present,
                "non_null": f.non_null,
                "total": f.total,
                "share": round(f.present / f.total, 4) if f.total else 0.0,
            }
            for f in section.payload_fields
        ],
    }


def _audit_json(section: AuditSection) -> dict[str, Any]:
    return {
        "categories": {
            "status": section.categories_status,
            "well_formed": section.categories_well_formed,
            "values": list(section.categories),
        },
        "activity_types": [
            {
                "category": t.category,
                "status": t.status,
                "well_formed": t.well_formed,
                "types": list(t.types),
            }
            for t in section.activity_types
        ],
        "events_read": section.events_read,
        "more_events": section.more_events,
        "maa_events": [_tuple_json(row) for row in section.maa_events],
        "exclusion_events": section.exclusion_events,
        "exclusion_events_named": section.exclusion_events_named,
    }


def _tuple_json(row: AuditTuple) -> dict[str, Any]:
    return {
        "category": row.category,
        "activity_type": row.activity_type,
        "activity": row.activity,
        "component": row.component,
        "resource_types": list(row.resource_types),
        "modified_properties": list(row.modified_properties),
        "count": row.count,
    }


# ---- tables shared by the terminal and Markdown -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "None."


def headline(report: ProbeReport) -> str:
    tenant = report.tenant or "unknown"
    endpoint = ", custom Graph endpoint" if report.custom_endpoint else ""
    return (
        f"maa-guard {report.tool_version} probe: tenant {tenant}, cloud {report.cloud}{endpoint}, "
        f"{format_datetime(report.generated_at)}, audit window {report.window_days} days"
    )


def summary_line(report: ProbeReport) -> str:
    counts = {verdict: 0 for verdict in Verdict}
    for judgement in report.assumptions:
        counts[judgement.verdict] += 1
    return ", ".join(f"{counts[v]} {v.value}" for v in Verdict)


def tables(report: ProbeReport) -> list[Table]:
    evidence = report.evidence
    return [
        _assumption_table(report),
        _endpoint_table(evidence.endpoints),
        _shape_table(
            "Access policies read by id: properties", evidence.policies.shapes, POLICY_PROPERTIES
        ),
        _shape_table(
            "Access policies as listed: properties",
            evidence.policies.list_shapes,
            POLICY_PROPERTIES,
        ),
        _shape_table("Approval requests: properties", evidence.requests.shapes, REQUEST_PROPERTIES),
        _payload_table(evidence.requests),
        _activity_type_table(evidence.audit),
        _audit_table(evidence.audit),
    ]


def facts(report: ProbeReport) -> list[str]:
    """One-line facts between the tables: counts, shares, enum members."""
    policies, requests, audit = (
        report.evidence.policies,
        report.evidence.requests,
        report.evidence.audit,
    )
    found = policies.exclusion_property
    return [
        f"Access policies: {policies.listed} listed, {policies.read_by_id} read by id; "
        f"exclusion property: {found.name if found else 'none'}; "
        f"undocumented: {', '.join(policies.undocumented) or 'none'}",
        f"Access policy enums: {_enum_line(policies.enums)}",
        f"Approval requests: {requests.read} read; requestor null on "
        f"{_share_text(requests.null_requestor)}; approver null on "
        f"{_share_text(requests.null_approver)}; undocumented: "
        f"{', '.join(requests.undocumented) or 'none'}",
        f"Approval request enums: {_enum_line(requests.enums)}",
        f"Audit: getAuditCategories {_status(audit.categories_status)}, "
        f"{len(audit.categories)} categories; {audit.events_read} events read"
        f"{' (more pages not read)' if audit.more_events else ''}; "
        f"{audit.exclusion_events} exclusion events",
    ]


def _share_text(share: Share) -> str:
    return f"{share.count} of {share.total} ({share.percent()})"


def _enum_line(enums: Sequence[EnumCounts]) -> str:
    parts = [
        f"{e.field}: " + (", ".join(f"{v.value} ({v.count})" for v in e.values) or "none")
        for e in enums
    ]
    return "; ".join(parts)


def _status(status: int | None) -> str:
    return "not read" if status is None else f"HTTP {status}"


def _assumption_table(report: ProbeReport) -> Table:
    rows = tuple((j.key, j.verdict.value, j.observation) for j in report.assumptions)
    return Table(
        f"Assumptions ({summary_line(report)})", ("assumption", "verdict", "observation"), rows
    )


def _endpoint_table(endpoints: Sequence[EndpointRow]) -> Table:
    rows = tuple(
        (
            row.key,
            f"/{row.version}{row.path}",
            row.permission,
            _endpoint_status(row),
            "-" if row.items is None else str(row.items) + ("+" if row.more else ""),
        )
        for row in endpoints
    )
    return Table(
        "Endpoints (GET, first page only)",
        ("endpoint", "path", "permission", "status", "items"),
        rows,
    )


def _endpoint_status(row: EndpointRow) -> str:
    if row.status is None:
        return "not read" + (f": {row.note}" if row.note else "")
    codes = f" {', '.join(row.codes)}" if row.codes else ""
    calls = f" ({row.ok} of {row.calls} answered)" if row.calls > 1 else ""
    return f"{row.status}{codes}{calls}"


def _shape_table(title: str, found: Shapes, documented: Sequence[str]) -> Table:
    rows = tuple(_shape_row(p, found.objects, documented) for p in found.properties)
    more = f"; {found.left_out} more not shown" if found.left_out else ""
    return Table(
        f"{title} ({found.objects} objects{more})",
        ("property", "types", "on", "documented"),
        rows,
    )


def _shape_row(shape: PropertyShape, objects: int, documented: Sequence[str]) -> tuple[str, ...]:
    if not shape.top_level:
        known = "-"
    elif shape.name.startswith("@odata.") or shape.name in documented:
        known = "yes"
    else:
        known = "no"
    return (shape.name, " | ".join(shape.types), f"{shape.count} of {objects}", known)


def _payload_table(section: RequestSection) -> Table:
    rows = tuple(
        (f.name, f"{f.present} of {f.total}", f"{f.non_null} of {f.total}")
        for f in section.payload_fields
    )
    return Table("Approval request payload fields", ("field", "present", "not null"), rows)


def _activity_type_table(section: AuditSection) -> Table:
    rows = tuple(
        (t.category, str(t.status), str(len(t.types)), ", ".join(_maa_types(t.types)) or "-")
        for t in section.activity_types
    )
    return Table(
        "Audit categories: activity types",
        ("category", "status", "types", "types naming an approval or exclusion"),
        rows,
    )


def _maa_types(types: Iterable[str]) -> list[str]:
    return [t for t in types if is_maa_text(t)]


def _audit_table(section: AuditSection) -> Table:
    rows = tuple(
        (
            row.category,
            row.activity_type,
            row.activity,
            row.component,
            ", ".join(row.resource_types) or "-",
            ", ".join(row.modified_properties) or "-",
            str(row.count),
        )
        for row in section.maa_events
    )
    header = ("category", "activityType", "activity", "component", "resources", "modified", "n")
    return Table("Audit events naming an approval or exclusion", header, rows)


# ---- terminal ----------------------------------------------------------------------------------


def report_terminal(report: ProbeReport, color: bool = False, width: int = 120) -> str:
    from maa_guard.reporters.console import render_text
    from maa_guard.reporters.table import safe

    blocks: list[Any] = [safe(headline(report))]
    all_tables = tables(report)
    blocks.append(_terminal_table(all_tables[0], width, verdicts=True))
    blocks += [safe(line) for line in facts(report)]
    blocks += [_terminal_table(table, width) for table in all_tables[1:]]
    spaced = [item for block in blocks for item in (block, "")]
    return render_text(spaced[:-1], color, width)


# Columns a person copies (a Graph path): never cut, alone on a line in a block.
_COPIED = frozenset({"path"})


def _terminal_table(table: Table, width: int, verdicts: bool = False) -> Any:
    """A table, or a block per row on a narrow terminal, headed by the first column (and the
    verdict)."""
    from maa_guard.reporters.layout import Cell, CellValue, table_or_blocks
    from maa_guard.reporters.table import safe

    if not table.rows:
        return f"[bold]{safe(table.title)}[/]\n{safe(table.empty)}"
    heads = 2 if verdicts else 1
    columns = [_column(name, number < heads) for number, name in enumerate(table.header)]
    rows: list[list[CellValue]] = [list(row) for row in table.rows]
    if verdicts:
        for row in rows:
            verdict = str(row[1])
            row[1] = Cell(verdict, VERDICT_STYLES[Verdict(verdict)])
    return table_or_blocks(columns, rows, width, title=table.title)


def _column(name: str, head: bool) -> Column:
    from maa_guard.reporters.layout import Column, Role

    if head:
        return Column(name, Role.HEAD)
    return Column(name, Role.ID if name in _COPIED else Role.TEXT, labelled=True)


# ---- Markdown ----------------------------------------------------------------------------------


def report_markdown(report: ProbeReport) -> str:
    all_tables = tables(report)
    blocks = [
        f"## {markdown(headline(report))}",
        _markdown_table(all_tables[0]),
        "\n".join(f"- {markdown(line)}" for line in facts(report)),
        *(_markdown_table(table) for table in all_tables[1:]),
    ]
    return "\n\n".join(blocks) + "\n"


def _markdown_table(table: Table) -> str:
    title = f"### {markdown(table.title)}"
    if not table.rows:
        return f"{title}\n\n{markdown(table.empty)}"
    lines = [
        "| " + " | ".join(markdown(name) for name in table.header) + " |",
        "|" + "---|" * len(table.header),
        *("| " + " | ".join(markdown(cell) for cell in row) + " |" for row in table.rows),
    ]
    return title + "\n\n" + "\n".join(lines)
