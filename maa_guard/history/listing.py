"""`history list` output: a rich table or JSON (``kind`` maa-guard-history, ``version`` 1)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from maa_guard.history.records import RecordedScan
from maa_guard.reporters.console import console_text, text_console
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


def _table(scans: Sequence[RecordedScan], history: str, color: bool, width: int) -> str:
    from rich import box
    from rich.table import Table

    from maa_guard.reporters.table import safe

    console = text_console(color, width)
    console.print(f"history {safe(history)}: {len(scans)} scan(s)")
    if scans:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False)
        table.add_column("Scan", justify="right", no_wrap=True)
        table.add_column("Tenant", no_wrap=True)
        table.add_column("Name", overflow="fold")
        for column in ("Collected", "Recorded", "maa-guard"):
            table.add_column(column, no_wrap=True)
        table.add_column("Failing", justify="right")
        table.add_column("Unverified", justify="right")
        for scan in scans:
            table.add_row(*(safe(cell) for cell in _cells(scan)))
        console.print(table)
    return console_text(console)


def _cells(scan: RecordedScan) -> tuple[str, ...]:
    return (
        str(scan.id),
        scan.tenant_id,
        scan.tenant_name,
        format_datetime(scan.collected_at),
        format_datetime(scan.recorded_at.replace(microsecond=0)),
        scan.tool_version,
        str(scan.failing),
        str(scan.unverified),
    )
