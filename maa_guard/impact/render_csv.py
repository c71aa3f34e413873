"""The impact report as CSV: a header row, then one row per app in report order.

Every cell goes through ``reporters.text.csv_cell``: a cell a spreadsheet would read as a
formula gets a ``'`` prefix, and control characters are shown as ``\\x1b``. Rows end in CRLF.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from maa_guard.impact import cells
from maa_guard.impact.model import ImpactReport, ImpactRow
from maa_guard.impact.render import ImpactRenderOptions
from maa_guard.reporters.text import csv_cell

COLUMNS = (
    "verdict",
    "app_id",
    "display_name",
    "workloads",
    "writes",
    "last_write",
    "last_app_only_sign_in",
    "write_permissions",
    "protected",
    "excluded_from",
    "declared_only",
    "maa_aware",
    "completed_requests",
    "resubmissions",
    "approval_failures",
    "unverified",
    "action",
)


def render_chunks(report: ImpactReport, options: ImpactRenderOptions) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([csv_cell(cell) for cell in _row(row)] for row in report.rows)
    yield buffer.getvalue()


def _row(row: ImpactRow) -> tuple[str, ...]:
    return (
        row.verdict.value,
        row.app_id,
        row.display_name,
        cells.workloads(row),
        str(row.writes),
        cells.when(row.last_write, ""),
        cells.when(row.last_sign_in, ""),
        "; ".join(row.write_permissions),
        row.protection.value,
        cells.policies(row.excluded_from, ""),
        cells.policies(row.declared_only, ""),
        "true" if row.maa.aware else "false",
        str(row.maa.completed_requests),
        str(row.maa.resubmissions),
        str(row.approval_failures),
        "; ".join(sorted(column.value for column in row.unverified)),
        row.verdict.action,
    )
