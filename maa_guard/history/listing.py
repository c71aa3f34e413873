"""`history list` output: a rich table or JSON (``kind`` maa-guard-history, ``version`` 1)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from maa_guard.history.records import RecordedScan
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.layout import Cell, CellValue, Column, Role, table_or_blocks
from maa_guard.snapshot.codec import format_datetime

HISTORY_JSON_VERSION = 1


def render_scans(
    scans: Sequence[RecordedScan], history: str, as_json: bool, color: bool, width: int = 160
) -> str:
    return _json(scans, history) if as_json else _table(scans, history, color, width)


def _json(scans: Sequence[RecordedScan], history: str) -> str:
    data = {
        "kind": "maa-guard-history",
        "version": HISTORY_JSON_VERSION,
        "history": history,
        "scans": [
            {
                "id": scan.id,
                "tenant_id": scan.tenant_id,
                "tenant_name": scan.tenant_name,
                "collected_at": format_datetime(scan.collected_at),
                "recorded_at": format_datetime(scan.recorded_at),
                "tool_version": scan.tool_version,
                "failing": scan.failing,
                "unverified": scan.unverified,
            }
            for scan in scans
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


COLUMNS = (
    Column("Scan", Role.HEAD, labelled=True, justify="right"),
    Column("Tenant"),
    Column("Collected", labelled=True, no_wrap=True),
    Column("Recorded", labelled=True, no_wrap=True, optional=True),
    Column("maa-guard", labelled=True, no_wrap=True, optional=True),
    Column("Failing", labelled=True, no_wrap=True, justify="right"),
    Column("Unverified", labelled=True, no_wrap=True, justify="right"),
)


def _table(scans: Sequence[RecordedScan], history: str, color: bool, width: int) -> str:
    """A table, or a block per scan on a narrow terminal; the scan id is never cut."""
    from maa_guard.reporters.table import safe

    console = text_console(color, width)
    console.print(f"history {safe(history)}: {len(scans)} scan(s)")
    if scans:
        rows = [_cells(scan) for scan in scans]
        console.print(table_or_blocks(COLUMNS, rows, width), crop=False)
    return console_text(console)


def _cells(scan: RecordedScan) -> tuple[CellValue, ...]:
    return (
        str(scan.id),
        Cell(scan.tenant_name, ident=scan.tenant_id),
        format_datetime(scan.collected_at),
        format_datetime(scan.recorded_at.replace(microsecond=0)),
        scan.tool_version,
        str(scan.failing),
        str(scan.unverified),
    )
