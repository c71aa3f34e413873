"""The combined fleet report: terminal table, JSON, and an HTML overview with a row per tenant.

Pure functions from the tenants' outcomes to text. Tenant names and error messages are tenant
or operator data: escaped for rich markup and HTML, made inert for the terminal.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from maa_guard import __version__
from maa_guard.fleet.run import TenantOutcome
from maa_guard.reporters.summary import SEVERITIES
from maa_guard.reporters.templating import html_environment
from maa_guard.reporters.text import one_line
from maa_guard.snapshot.codec import format_datetime

if TYPE_CHECKING:
    pass

FLEET_REPORT_VERSION = 1
STATUSES = ("pass", "fail", "incomplete", "error")


@dataclass(frozen=True, slots=True)
class FleetRun:
    outcomes: tuple[TenantOutcome, ...]
    exit_code: int
    generated_at: datetime
    shard: str = ""


def counts(run: FleetRun) -> dict[str, int]:
    by_status = Counter(o.status for o in run.outcomes)
    return {"total": len(run.outcomes), **{status: by_status[status] for status in STATUSES}}


def render_json(run: FleetRun) -> str:
    document = {
        "version": FLEET_REPORT_VERSION,
        "tool_version": __version__,
        "generated_at": format_datetime(run.generated_at),
        "shard": run.shard or None,
        "exit_code": run.exit_code,
        "counts": counts(run),
        "tenants": [asdict(outcome) for outcome in run.outcomes],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_html(run: FleetRun) -> str:
    template = html_environment("maa_guard.fleet").get_template("fleet.html.j2")
    return template.render(
        tool_version=__version__,
        generated_at=format_datetime(run.generated_at),
        shard=run.shard,
        exit_code=run.exit_code,
        counts=counts(run),
        severities=[severity.label for severity in SEVERITIES],
        tenants=run.outcomes,
    )


def render_table(run: FleetRun, color: bool, width: int = 120) -> str:
    from rich.table import Table
    from rich.text import Text

    from maa_guard.reporters.console import render_text

    table = Table(title=_title(run), title_justify="left")
    for heading in ("Tenant", "Status", *[s.label for s in SEVERITIES], "Unverified", "Problem"):
        table.add_column(heading)
    for outcome in run.outcomes:
        table.add_row(*(Text(cell) for cell in _cells(outcome)))
    return render_text([table], color, width)


def _title(run: FleetRun) -> str:
    tally = counts(run)
    shard = f", shard {run.shard}" if run.shard else ""
    summary = ", ".join(f"{tally[status]} {status}" for status in STATUSES)
    return f"maa-guard fleet: {tally['total']} tenant(s){shard}: {summary}"


def _cells(outcome: TenantOutcome) -> list[str]:
    problem = outcome.message + (f" (hint: {outcome.hint})" if outcome.hint else "")
    if outcome.incomplete_sources and not problem:
        problem = "incomplete: " + ", ".join(outcome.incomplete_sources)
    return [
        one_line(outcome.name),
        outcome.status,
        *[str(outcome.failing.get(severity.label, 0)) for severity in SEVERITIES],
        str(outcome.unverified),
        one_line(problem),
    ]
