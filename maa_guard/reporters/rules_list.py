"""`rules list`: the rule catalogue as a table, as blocks on a narrow terminal, or as JSON."""

from __future__ import annotations

from maa_guard.catalogue import Framework, Rule
from maa_guard.catalogue.pages import listed_rules, rules_json
from maa_guard.reporters.console import render_text
from maa_guard.reporters.layout import Column, Role, table_or_blocks

COLUMNS = (
    Column("ID", Role.HEAD),
    Column("Severity", Role.HEAD),
    Column("Area", labelled=True, no_wrap=True),
    Column("Slug", Role.HEAD),
    Column("Title"),
)
CONTROLS = Column("Controls", labelled=True)


def rules_table(
    as_json: bool, color: bool, framework: Framework | None = None, width: int = 120
) -> str:
    """Every rule, or with ``framework`` only the rules mapped to one of its controls (and a
    column of those controls)."""
    rules = listed_rules(framework)
    if as_json:
        return rules_json(rules)
    title = "maa-guard rules" + (f" mapped to {framework.name}" if framework else "")
    columns = COLUMNS if framework is None else (*COLUMNS, CONTROLS)
    rows = [_row(rule, framework) for rule in rules]
    return render_text([table_or_blocks(columns, rows, width, title=title)], color, width)


def _row(rule: Rule, framework: Framework | None) -> list[str]:
    row = [rule.id, rule.severity.label, rule.area, rule.slug, rule.title]
    if framework is not None:
        row.append(", ".join(m.control for m in rule.controls_in(framework)))
    return row
