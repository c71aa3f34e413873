"""CSV: one row per finding, every status, in the engine's order, with a header row.

Every cell goes through ``text.csv_cell``: a cell that a spreadsheet would read as a formula
(leading ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets a ``'`` prefix, and control
characters are shown as ``\\x1b``. Rows end in CRLF (RFC 4180).
"""

from __future__ import annotations

import csv
import io

from maa_guard.evaluate.engine import ScanResult
from maa_guard.model import Finding
from maa_guard.reporters import RenderOptions
from maa_guard.reporters.text import csv_cell

COLUMNS = (
    "rule_id",
    "slug",
    "severity",
    "status",
    "resource_type",
    "resource_id",
    "resource_name",
    "message",
    "remediation",
    "suppressed",
    "fingerprint",
)


def render(result: ScanResult, options: RenderOptions) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([csv_cell(cell) for cell in _row(finding)] for finding in result.findings)
    return buffer.getvalue()


def _row(finding: Finding) -> tuple[str, ...]:
    resource = finding.resource
    return (
        finding.rule_id,
        finding.slug,
        finding.severity.label,
        finding.status.value,
        resource.type,
        resource.id,
        resource.display_name,
        finding.message,
        finding.remediation,
        "true" if finding.is_suppressed else "false",
        finding.fingerprint,
    )
