"""`watch outbox` output: the outbox rows as a rich table or JSON (``kind``
maa-guard-watch-outbox, ``version`` 1). Pure: the rows come from ``state.read_outbox``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.layout import Column, Role, table_or_blocks
from maa_guard.snapshot.codec import format_datetime
from maa_guard.watch.state import OutboxEntry

OUTBOX_JSON_VERSION = 1
STATES = ("queued", "sending", "blocked", "delivered")
# --status: a state, or ``failed``: every undelivered row whose last attempt failed.
STATUS_FILTERS = ("queued", "sending", "blocked", "delivered", "failed")


def select(entries: Sequence[OutboxEntry], status: str | None) -> list[OutboxEntry]:
    if status is None:
        return list(entries)
    if status == "failed":
        return [
            e for e in entries if e.state == "blocked" or (e.state != "delivered" and e.last_error)
        ]
    return [e for e in entries if e.state == status]


def render_outbox(
    entries: Sequence[OutboxEntry], state: str, as_json: bool, color: bool, width: int = 160
) -> str:
    return _json(entries, state) if as_json else _table(entries, state, color, width)


def _json(entries: Sequence[OutboxEntry], state: str) -> str:
    data = {
        "kind": "maa-guard-watch-outbox",
        "version": OUTBOX_JSON_VERSION,
        "state": state,
        "messages": [_document(entry) for entry in entries],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _document(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "receiver": entry.receiver,
        "event_key": entry.event_key,
        "event_type": entry.event_type,
        "severity": entry.severity.label,
        "status": entry.state,
        "attempts": entry.attempts,
        "last_detail": entry.last_error,
        "detected_at": _moment(entry.detected_at),
        "next_attempt_at": _moment(entry.next_attempt_at) if entry.state == "queued" else None,
        "lease_until": _moment(entry.lease_until) if entry.state == "sending" else None,
        "delivered_at": _moment(entry.delivered_at),
    }


def _moment(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment.replace(microsecond=0))


def summary(entries: Sequence[OutboxEntry]) -> str:
    counts = Counter(entry.state for entry in entries)
    parts = ", ".join(f"{counts[name]} {name}" for name in STATES if counts[name])
    return f"{len(entries)} message(s)" + (f" ({parts})" if parts else "")


COLUMNS = (
    Column("Receiver", Role.HEAD),
    Column("Event", Role.HEAD),
    Column("Key", labelled=True),
    Column("Status", Role.HEAD),
    Column("Attempts", labelled=True, no_wrap=True, justify="right"),
    Column("Last detail", labelled=True),
    Column("Detected", labelled=True, no_wrap=True),
    Column("Next / delivered", labelled=True, no_wrap=True),
)


def _table(entries: Sequence[OutboxEntry], state: str, color: bool, width: int) -> str:
    """A table, or a block per message on a narrow terminal."""
    from maa_guard.reporters.table import safe

    console = text_console(color, width)
    console.print(f"watch state {safe(state)}: {summary(entries)}")
    if entries:
        rows = [_cells(entry) for entry in entries]
        console.print(table_or_blocks(COLUMNS, rows, width), crop=False)
    return console_text(console)


def _cells(entry: OutboxEntry) -> tuple[str, ...]:
    return (
        entry.receiver,
        entry.event_type,
        entry.event_key,
        entry.state,
        str(entry.attempts),
        entry.last_error,
        _moment(entry.detected_at) or "",
        _when(entry),
    )


def _when(entry: OutboxEntry) -> str:
    """Delivered: when; queued: the next attempt; sending: until when the claim holds."""
    if entry.state == "delivered":
        return _moment(entry.delivered_at) or ""
    if entry.state == "queued":
        return f"next {_moment(entry.next_attempt_at)}"
    if entry.state == "sending":
        return f"claimed until {_moment(entry.lease_until)}"
    return "at the next start of the watch"
