"""What the request commands print: a :class:`Report` as rich text or as JSON. Pure.

Every string that came from the tenant or the service (justifications, display names, notes,
messages) is made inert and escaped for rich markup before rich sees it (``reporters.table.safe``);
JSON keeps exact strings, since ``json.dumps`` escapes what needs escaping.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from maa_guard.approval.model import (
    Completed,
    DuplicateMatch,
    Identity,
    Pending,
    RequestState,
    RequestStatus,
    TrackedChange,
)
from maa_guard.reporters.console import console_text, text_console
from maa_guard.reporters.layout import Cell, CellValue, Column, Role
from maa_guard.snapshot.codec import format_datetime

_STYLES = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red"}
_STATUS_STYLE = {
    RequestStatus.APPROVED: "ok",
    RequestStatus.COMPLETED: "ok",
    RequestStatus.NEEDS_APPROVAL: "warn",
    RequestStatus.UNKNOWN: "warn",
}
# Table columns that head a block; values a person copies (never cut, alone on a line in a
# block); short values a table keeps on one line.
_HEAD = frozenset({"phase", "status"})
_COPIED = frozenset({"change", "code", "next", "held by request"})
_UNBROKEN = frozenset({"created", "expires"})


@dataclass(frozen=True, slots=True)
class Report:
    """``title`` is ours; ``fields`` values and ``table`` cells may hold tenant text."""

    title: str
    tone: str
    document: dict[str, Any]
    fields: tuple[tuple[str, str], ...] = ()
    table: tuple[tuple[CellValue, ...], ...] = ()  # the header, then the rows
    notes: tuple[str, ...] = field(default=())


# ---- documents ------------------------------------------------------------------------------


def identity_document(identity: Identity | None) -> dict[str, str] | None:
    if identity is None:
        return None
    return {"kind": identity.kind, "id": identity.id, "displayName": identity.display_name}


def state_document(state: RequestState) -> dict[str, Any]:
    return {
        "code": state.code,
        "status": state.status.value,
        "requestor": identity_document(state.requestor),
        "approver": identity_document(state.approver),
        "approvalNotes": state.approval_notes,
        "justification": state.justification,
        "requestedAt": _moment(state.requested_at),
        "expiresAt": _moment(state.expires_at),
        "lastModified": _moment(state.last_modified),
        "policyTypes": list(state.policy_types),
        "payloadId": state.payload_id,
        "payloadType": state.payload_type,
        "payloadSubtype": state.payload_subtype,
        "payloadOperation": state.payload_operation,
        "payloadName": state.payload_name,
    }


def describe_target(state: RequestState) -> str:
    """``Update MobileApp 'Contoso VPN' (m1)`` from the undocumented ``payload*`` properties;
    empty when the service reports none."""
    kind = state.payload_type.rsplit(".", 1)[-1]
    if state.payload_subtype:
        kind = f"{kind} ({state.payload_subtype})" if kind else state.payload_subtype
    name = repr(state.payload_name) if state.payload_name else ""
    object_id = f"({state.payload_id})" if state.payload_id else ""
    parts = (state.payload_operation, kind, name, object_id)
    return " ".join(part for part in parts if part)


def change_document(change: TrackedChange) -> dict[str, Any]:
    return {
        "change": change.change_id,
        "created": _moment(change.created),
        "updated": _moment(change.updated),
        "method": change.method,
        "url": change.url,
        "label": change.label,
        "origin": change.origin,
        "phase": change.phase.value,
        "code": change.code,
        "status": change.status.value if change.status else None,
        "endpoint": change.endpoint,
        "outcome": change.outcome,
    }


# ---- reports --------------------------------------------------------------------------------


def next_steps(code: str, flags: Sequence[str] = ()) -> tuple[str, str]:
    """The commands that follow a pending request, shell-quoted: ``flags`` (the connection and
    the state file in use) go on each, so a person can paste them as they are."""
    return (
        shlex.join(["maa-guard", "requests", "wait", code, *flags]),
        shlex.join(["maa-guard", "requests", "complete", code, *flags]),
    )


def pending_report(
    pending: Pending, warnings: Sequence[str] = (), steps: Sequence[str] | None = None
) -> Report:
    """``steps``: the commands to run next (default :func:`next_steps` without flags)."""
    state = pending.state
    commands = list(next_steps(pending.code) if steps is None else steps)
    document = {
        "outcome": "pending",
        "change": pending.change_id,
        "code": pending.code,
        "request": state_document(state) if state else None,
        "next": commands,
        "warnings": list(warnings),
    }
    rows = [("code", pending.code), ("change", pending.change_id)]
    rows += _state_rows(state) if state else []
    rows += [("next", command) for command in commands]
    title = f"MAA filed approval request {pending.code}: another administrator must approve it"
    return Report(title, "warn", document, tuple(rows))


def completed_report(completed: Completed, warnings: Sequence[str] = ()) -> Report:
    document = {
        "outcome": "completed" if completed.approval_happened else "applied",
        "approvalHappened": completed.approval_happened,
        "code": completed.code,
        "httpStatus": completed.status_code or None,
        "body": completed.body,
        "message": completed.message,
        "warnings": list(warnings),
    }
    if completed.approval_happened:
        return Report(completed.message, "ok", document)
    return Report(f"NO APPROVAL HAPPENED: {completed.message}", "warn", document)


def state_report(state: RequestState, title: str, tone: str | None = None) -> Report:
    document = {"outcome": state.status.value, "request": state_document(state)}
    rows = (("code", state.code), *_state_rows(state))
    return Report(title, tone or _STATUS_STYLE.get(state.status, "fail"), document, rows)


def failure_report(
    outcome: str,
    message: str,
    hint: str,
    change_id: str | None = None,
    holder: DuplicateMatch | None = None,
) -> Report:
    document: dict[str, Any] = {
        "outcome": outcome,
        "change": change_id,
        "message": message,
        "hint": hint,
    }
    rows: list[tuple[str, str]] = [("change", change_id)] if change_id else []
    table: tuple[tuple[str, ...], ...] = ()
    if holder is not None:
        document["holder"] = state_document(holder.request) if holder.request else None
        document["identifiedBy"] = holder.how
        document["candidates"] = [state_document(s) for s in holder.candidates]
        if holder.request is not None:
            rows += [("held by request", holder.request.code), ("identified as", holder.how)]
            rows += _state_rows(holder.request, "request ")
        table = _request_table(holder.candidates) if holder.candidates else ()
    tone = "warn" if outcome == "unknown" else "fail"
    return Report(message, tone, document, tuple(rows), table)


def changes_report(changes: Sequence[TrackedChange], notes: Sequence[str] = ()) -> Report:
    document = {"changes": [change_document(c) for c in changes], "warnings": list(notes)}
    header = ("change", "phase", "status", "code", "label", "write")
    rows = tuple(
        (
            c.change_id,
            c.phase.value,
            c.status.value if c.status else "",
            c.code or "",
            c.label,
            Cell(c.method, ident=c.url, bracket=False),
        )
        for c in changes
    )
    title = f"{len(changes)} tracked change{'s' if len(changes) != 1 else ''}"
    return Report(title, "ok", document, table=(header, *rows) if rows else (), notes=tuple(notes))


def _state_rows(state: RequestState, prefix: str = "") -> list[tuple[str, str]]:
    rows = [
        (f"{prefix}status", state.status.value),
        (f"{prefix}requestor", state.requestor.describe() if state.requestor else ""),
        (f"{prefix}approver", state.approver.describe() if state.approver else ""),
        (f"{prefix}approval notes", state.approval_notes),
        (f"{prefix}justification", state.justification),
        (f"{prefix}requested", _moment(state.requested_at) or ""),
        (f"{prefix}expires", _moment(state.expires_at) or ""),
        (f"{prefix}policy types", ", ".join(state.policy_types)),
        (f"{prefix}target", describe_target(state)),
    ]
    return [(label, value) for label, value in rows if value]


def _request_table(states: Sequence[RequestState]) -> tuple[tuple[str, ...], ...]:
    header = ("code", "status", "requestor", "target", "justification", "expires")
    rows = tuple(
        (
            s.code,
            s.status.value,
            s.requestor.describe() if s.requestor else "",
            describe_target(s),
            s.justification,
            _moment(s.expires_at) or "",
        )
        for s in states
    )
    return (header, *rows)


def _moment(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment else None


# ---- output ---------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    return json.dumps(report.document, indent=2, ensure_ascii=False) + "\n"


def render_text(report: Report, color: bool, width: int) -> str:
    """The fields as a grid and the table, or blocks on a narrow terminal; a request code, a
    change id, a URL or a command to paste is never cut or wrapped inside."""
    from maa_guard.reporters.layout import fields, table_or_blocks
    from maa_guard.reporters.table import safe

    console = text_console(color, width)
    console.print(f"[{_STYLES[report.tone]}]{safe(report.title)}[/]")
    if report.fields:
        pairs = [(label, _field_value(label, value)) for label, value in report.fields]
        console.print(fields(pairs, width), crop=False)
    if report.table:
        header, *rows = report.table
        columns = [_column(str(name)) for name in header]
        console.print(table_or_blocks(columns, rows, width), crop=False)
    for note in report.notes:
        console.print(f"[yellow]warning:[/] {safe(note)}")
    return console_text(console)


def _field_value(label: str, value: str) -> CellValue:
    return Cell(ident=value) if label in _COPIED else value


def _column(name: str) -> Column:
    if name in _HEAD:
        return Column(name, Role.HEAD)
    if name in _COPIED:
        return Column(name, Role.ID, labelled=True)
    return Column(name, labelled=True, no_wrap=name in _UNBROKEN)
