"""``maa-guard explain`` drawn: terminal (rich), Markdown or JSON.

Finding fields, evidence and related objects are tenant text (or come from a report file anyone
could have written): the terminal passes them through ``table.safe``, Markdown through
``text.markdown``. The rule's rationale and remediation come from the catalogue shipped with
maa-guard and are Markdown already.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from typing import Any

from maa_guard.catalogue import Rule
from maa_guard.model import Finding, Status
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.explain import Explanation, GraphRead
from maa_guard.reporters.explain_related import RelatedObject
from maa_guard.reporters.json_report import finding_json
from maa_guard.reporters.summary import resource_label, suppression_note
from maa_guard.reporters.table import SEVERITY_STYLES, safe
from maa_guard.reporters.text import markdown
from maa_guard.snapshot.codec import encode

FORMATS = ("table", "json", "markdown")
NO_SNAPSHOT = "not looked up: a report holds no snapshot"
NOT_FOUND = "not in the snapshot"


def render_explanation(
    explanation: Explanation, output_format: str, color: bool = False, width: int = 120
) -> str:
    if output_format == "json":
        return json.dumps(explanation_json(explanation), indent=2, ensure_ascii=False) + "\n"
    if output_format == "markdown":
        return "\n".join(_markdown(explanation)) + "\n"
    console = text_console(color, width)
    for line in _terminal(explanation, width):
        console.print(line, soft_wrap=True)
    return console_text(console)


# ---- shared -----------------------------------------------------------------------------------


def status_text(finding: Finding) -> str:
    """``fail, counts as a failure`` / ``fail, suppressed until ...`` / ``error: could not ...``."""
    if finding.status is Status.FAIL:
        return f"fail, {suppression_note(finding) or 'counts as a failure'}"
    if finding.status is Status.ERROR:
        return "error: could not verify"
    return str(finding.status)


def _header(explanation: Explanation) -> tuple[str, str, str]:
    finding, rule = explanation.finding, explanation.rule
    if rule is not None:
        return rule.id, rule.slug, rule.title
    return finding.rule_id, finding.slug, finding.title


def _fields(explanation: Explanation) -> list[tuple[str, str]]:
    finding, tenant = explanation.finding, explanation.tenant
    tenant_label = f"{tenant.display_name} ({tenant.id})" if tenant.display_name else tenant.id
    return [
        ("fingerprint", finding.fingerprint),
        ("severity", finding.severity.label),
        ("status", status_text(finding)),
        ("resource", resource_label(finding.resource)),
        ("message", finding.message),
        ("tenant", tenant_label),
        ("from", explanation.origin),
    ]


def _evidence_items(finding: Finding) -> list[tuple[str, list[str]]]:
    """Per evidence key its values as one-line JSON: a list gives one line per item."""
    items = []
    for key, value in finding.evidence.items():
        if isinstance(value, list) and value:
            items.append((key, [_one_line_json(item) for item in value]))
        else:
            items.append((key, [_one_line_json(value)]))
    return items


def _one_line_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=encode)


def _remediation(explanation: Explanation) -> str:
    rule = explanation.rule
    return rule.remediation if rule is not None else explanation.finding.remediation


def _object_label(item: RelatedObject) -> str:
    if item.name and item.name != item.id:
        return f"{item.kind} {item.name} ({item.id})"
    return f"{item.kind} {item.id}"


def _object_state(item: RelatedObject) -> str:
    if not item.looked_up:
        return NO_SNAPSHOT
    return "" if item.found else NOT_FOUND


def _read_state(read: GraphRead) -> str:
    return f"{read.state} ({read.reason})" if read.reason else read.state


# ---- terminal ---------------------------------------------------------------------------------


def _terminal(explanation: Explanation, width: int) -> list[str]:
    rule_id, slug, title = _header(explanation)
    finding = explanation.finding
    style = SEVERITY_STYLES[finding.severity]
    lines = [f"[bold]{safe(rule_id)} {safe(slug)}[/]: {safe(title)}"]
    for label, value in _fields(explanation):
        shown = f"[{style}]{safe(value)}[/]" if label == "severity" else safe(value)
        lines.append(f"  {label:<12} {shown}")
    lines += _section("Evidence", _terminal_evidence(explanation))
    rule = explanation.rule
    if rule is None:
        unknown = f"this version of maa-guard does not know rule {finding.rule_id}"
        lines += _section("Why it matters", ["  " + safe(unknown)])
    else:
        lines += _section("Why it matters", _wrapped(rule.rationale, width))
    lines += _section("How to fix", _wrapped(_remediation(explanation), width) or ["  none"])
    if rule is not None:
        lines += _section("References", [f"  {safe(url)}" for url in rule.references])
    lines += _section("Related objects", _terminal_related(explanation.related))
    lines += _section(_reads_title(rule), _terminal_reads(explanation.reads))
    return lines


def _section(title: str, body: Iterable[str]) -> list[str]:
    return ["", f"[bold]{title}[/]", *body]


def _terminal_evidence(explanation: Explanation) -> list[str]:
    lines = [f"  [dim]{safe(explanation.evidence_note)}[/]"] if explanation.evidence_note else []
    for key, values in _evidence_items(explanation.finding):
        if len(values) == 1 and not isinstance(explanation.finding.evidence[key], list):
            lines.append(f"  {safe(key)}: {safe(values[0])}")
        else:
            lines.append(f"  {safe(key)}:")
            lines += [f"    - {safe(value)}" for value in values]
    return lines or ["  none"]


def _wrapped(text: str, width: int) -> list[str]:
    """Catalogue prose, wrapped; a ``- `` bullet's continuation lines hang under its text."""
    lines = []
    for raw in text.strip().splitlines():
        bullet = raw.startswith("- ")
        pieces = textwrap.wrap(raw, max(width - 4, 20), break_on_hyphens=False) or [""]
        for number, piece in enumerate(pieces):
            indent = "    " if bullet and number else "  "
            lines.append(indent + safe(piece))
    return lines


def _terminal_related(related: Iterable[RelatedObject]) -> list[str]:
    lines = []
    for item in related:
        state = _object_state(item)
        head = f"  {safe(_object_label(item))}, [dim]{safe(item.via)}[/]"
        lines.append(f"{head}: [yellow]{safe(state)}[/]" if state else head)
        lines += [f"    {label:<30} {safe(value)}" for label, value in item.details]
    return lines or ["  none: the finding names no object"]


def _reads_title(rule: Rule | None) -> str:
    if rule is None:
        return "Graph reads"
    return f"Graph reads [dim](the rule needs {safe(', '.join(rule.graph_permissions))})[/]"


def _terminal_reads(reads: Iterable[GraphRead]) -> list[str]:
    lines = []
    for read in reads:
        permissions = ", ".join(read.permissions) or "none"
        lines.append(f"  {safe(read.source)} ({safe(read.state)}): {safe(permissions)}")
        if read.reason:
            lines.append(f"    [dim]note: {safe(read.reason)}[/]")
        lines += [f"    {safe(call)}" for call in read.calls]
    return lines or ["  unknown: the rule is not in this version's catalogue"]


# ---- Markdown ---------------------------------------------------------------------------------


def _markdown(explanation: Explanation) -> list[str]:
    rule_id, slug, title = _header(explanation)
    lines = [f"## {markdown(rule_id)} {markdown(slug)}: {markdown(title)}", ""]
    lines += ["| Finding | |", "|---|---|"]
    lines += [f"| {label} | {markdown(value)} |" for label, value in _fields(explanation)]
    lines += _md_section("Evidence", _md_evidence(explanation))
    rule = explanation.rule
    if rule is None:
        unknown = f"This version of maa-guard does not know rule {markdown(rule_id)}."
        lines += _md_section("Why it matters", [unknown])
        fix = [f"- {markdown(line)}" for line in _remediation(explanation).splitlines() if line]
        lines += _md_section("How to fix", fix or ["None."])
    else:
        lines += _md_section("Why it matters", [rule.rationale])
        lines += _md_section("How to fix", [rule.remediation])
        lines += _md_section("References", [f"- <{url}>" for url in rule.references])
    lines += _md_section("Related objects", _md_related(explanation.related))
    lines += _md_section("Graph reads", _md_reads(rule, explanation.reads))
    return lines


def _md_section(title: str, body: list[str]) -> list[str]:
    return ["", f"### {title}", "", *body]


def _md_evidence(explanation: Explanation) -> list[str]:
    lines = [f"_{markdown(explanation.evidence_note)}_", ""] if explanation.evidence_note else []
    for key, values in _evidence_items(explanation.finding):
        lines.append(f"- {markdown(key)}: " + "; ".join(markdown(value) for value in values))
    return lines or ["None."]


def _md_related(related: Iterable[RelatedObject]) -> list[str]:
    lines = []
    for item in related:
        state = _object_state(item)
        details = [f"{label}: {value}" for label, value in item.details]
        text = "; ".join([state] if state else details)
        head = f"- **{markdown(_object_label(item))}**, {markdown(item.via)}"
        lines.append(f"{head}: {markdown(text)}" if text else head)
    return lines or ["None: the finding names no object."]


def _md_reads(rule: Rule | None, reads: Iterable[GraphRead]) -> list[str]:
    rows = [
        f"| {markdown(read.source)} | {markdown(_read_state(read))} | "
        f"{markdown(', '.join(read.permissions))} | {markdown('; '.join(read.calls))} |"
        for read in reads
    ]
    if rule is None:
        return ["Unknown: the rule is not in this version's catalogue."]
    needs = f"The rule needs {markdown(', '.join(rule.graph_permissions))}."
    return [needs, "", "| Source | State | Permissions | Graph calls |", "|---|---|---|---|", *rows]


# ---- JSON -------------------------------------------------------------------------------------


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    tenant, rule = explanation.tenant, explanation.rule
    document = {
        "finding": finding_json(explanation.finding),
        "origin": explanation.origin,
        "tenant": {"id": tenant.id, "display_name": tenant.display_name},
        "rule": None if rule is None else _rule_json(rule),
        "evidence_note": explanation.evidence_note,
        "related": [_related_json(item) for item in explanation.related],
        "graph_reads": [_read_json(read) for read in explanation.reads],
    }
    encoded: dict[str, Any] = encode(document)
    return encoded


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "slug": rule.slug,
        "title": rule.title,
        "severity": rule.severity.label,
        "rationale": rule.rationale,
        "remediation": rule.remediation,
        "references": list(rule.references),
        "data_sources": list(rule.data_sources),
        "graph_permissions": list(rule.graph_permissions),
    }


def _related_json(item: RelatedObject) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "id": item.id,
        "name": item.name,
        "via": item.via,
        "looked_up": item.looked_up,
        "found": item.found,
        "details": dict(item.details),
    }


def _read_json(read: GraphRead) -> dict[str, Any]:
    return {
        "source": read.source,
        "state": read.state,
        "reason": read.reason,
        "permissions": list(read.permissions),
        "calls": list(read.calls),
    }
