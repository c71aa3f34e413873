"""The impact report as one self-contained HTML page.

Jinja2 renders ``templates/impact.html.j2`` with autoescaping on, and a ``finalize`` hook makes
every string inert (``reporters.text.inert``) before it is escaped. The page makes no request
of its own: styles are inline, the chart is inline SVG laid out here, and a
Content-Security-Policy forbids scripts and every external resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maa_guard.impact import cells
from maa_guard.impact.chart import writes_chart
from maa_guard.impact.model import ImpactReport, ImpactRow, Verdict, WayOut
from maa_guard.impact.render import ImpactRenderOptions
from maa_guard.reporters.templating import html_environment

if TYPE_CHECKING:
    pass

TEMPLATE = "impact.html.j2"


@dataclass(frozen=True, slots=True)
class HtmlRow:
    """One app's cells (attributes, which Jinja2 reads faster than dictionary keys)."""

    verdict_class: str
    verdict: str
    app: str
    app_id: str
    workloads: str
    writes: str
    last_write: str
    last_sign_in: str
    write_permissions: str
    protected: str
    excluded: str
    maa_aware: str
    unverified: bool
    ways_out: tuple[WayOut, ...]


def render_chunks(report: ImpactReport, options: ImpactRenderOptions) -> Iterator[str]:
    template = html_environment("maa_guard.impact").get_template(TEMPLATE)
    yield from template.generate(_page(report))


def _page(report: ImpactReport) -> dict[str, Any]:
    rows = [_row(row) for row in report.rows]
    return {
        "report": report,
        "tenant": report.tenant,
        "window": cells.window(report),
        "collected_at": cells.when(report.collected_at),
        "outcome": cells.outcome_line(report.whole),
        "outcome_class": _outcome_class(report.whole),
        "verdicts": [
            {"name": v.value, "count": count, "definition": v.definition, "action": v.action}
            for v, count in report.by_verdict.items()
        ],
        "sources": [
            {
                "name": name,
                "state": status.state.value,
                "detail": cells.describe_source(name, status),
            }
            for name, status in report.sources.items()
        ],
        "chart": writes_chart(report.rows),
        "rows": rows,
        "blocked": [row for row in rows if row.ways_out],
    }


def _outcome_class(report: ImpactReport) -> str:
    if report.count(Verdict.WILL_BE_BLOCKED):
        return "blocked"
    return "clean" if report.complete else "incomplete"


def _row(row: ImpactRow) -> HtmlRow:
    return HtmlRow(
        verdict_class=row.verdict.value,
        **cells.cells(row),
        unverified=bool(row.unverified),
        ways_out=row.ways_out,
    )
