"""The combined fleet report: terminal table, JSON, and an HTML overview with a row per tenant.

Pure functions from the tenants' outcomes to text. Tenant names and error messages are tenant
or operator data: escaped for rich markup and HTML, made inert for the terminal.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime

from maa_guard import __version__
from maa_guard.fleet.run import TenantOutcome
from maa_guard.reporters.layout import Column, Role
from maa_guard.reporters.summary import SEVERITIES
from maa_guard.reporters.templating import html_environment
from maa_guard.snapshot.codec import format_datetime

FLEET_REPORT_VERSION = 1
STATUSES = ("pass", "fail", "incomplete", "error")


def _count(header: str) -> Column:
    """A count: a table column of its own; a block says the counts on one line."""
    return Column(header, no_wrap=True, justify="right", in_blocks=False)


COLUMNS = (
    Column("Tenant", Role.HEAD),
    Column("Status", Role.HEAD),
    *(_count(severity.label) for severity in SEVERITIES),
    _count("Unverified"),
    Column("Findings", in_table=False),
    Column("Problem", labelled=True),
)


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
    """A row per tenant, or a block per tenant on a narrow terminal."""
    from maa_guard.reporters.console import render_text
    from maa_guard.reporters.layout import table_or_blocks

    rows = [_cells(outcome) for outcome in run.outcomes]
    return render_text([table_or_blocks(COLUMNS, rows, width, title=_title(run))], color, width)


def _title(run: FleetRun) -> str:
    tally = counts(run)
    shard = f", shard {run.shard}" if run.shard else ""
    summary = ", ".join(f"{tally[status]} {status}" for status in STATUSES)
    return f"maa-guard fleet: {tally['total']} tenant(s){shard}: {summary}"


def _cells(outcome: TenantOutcome) -> list[str]:
    problem = outcome.message + (f" (hint: {outcome.hint})" if outcome.hint else "")
    if outcome.incomplete_sources and not problem:
        problem = "incomplete: " + ", ".join(outcome.incomplete_sources)
    counts = [outcome.failing.get(severity.label, 0) for severity in SEVERITIES]
    failing = ", ".join(f"{n} {s.label}" for n, s in zip(counts, SEVERITIES, strict=True))
    return [
        outcome.name,
        outcome.status,
        *[str(count) for count in counts],
        str(outcome.unverified),
        f"failing: {failing}; unverified: {outcome.unverified}",
        problem,
    ]
