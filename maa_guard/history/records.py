"""What the history holds per scan, and how a snapshot is packed into it.

The snapshot is stored as compact JSON (the snapshot file format, see docs/snapshot.md),
compressed with zlib. Times are stored as ISO 8601 text in UTC with microseconds and a ``Z``, so
that they sort as text the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from maa_guard.history.errors import HistoryInputError
from maa_guard.model import Finding, Severity, Status
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.codec import encode
from maa_guard.snapshot.file import parse_snapshot
from maa_guard.snapshot.gcpause import paused_gc

_CORRUPT_HINT = "the history database is damaged; record the scan again or restore a backup"


@dataclass(frozen=True, slots=True)
class RecordedScan:
    """One row of ``history list``: ``failing`` and ``unverified`` count findings by status."""

    id: int
    tenant_id: str
    tenant_name: str
    collected_at: datetime
    recorded_at: datetime
    tool_version: str
    failing: int
    unverified: int


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding as the history keeps it: enough to tell new from resolved and to show it."""

    rule_id: str
    resource_type: str
    resource_id: str
    resource_name: str
    status: Status
    severity: Severity
    fingerprint: str
    message: str

    @classmethod
    def of(cls, finding: Finding) -> StoredFinding:
        return cls(
            rule_id=finding.rule_id,
            resource_type=finding.resource.type,
            resource_id=finding.resource.id,
            resource_name=finding.resource.display_name,
            status=finding.status,
            severity=finding.severity,
            fingerprint=finding.fingerprint,
            message=finding.message,
        )


def stored_time(moment: datetime) -> str:
    """``2026-11-01T08:00:00.000000Z``: fixed width, so text order is time order."""
    utc = moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return utc.replace("+00:00", "Z")


def read_time(text: object, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise HistoryInputError(f"{where}: not a time: {text!r}", _CORRUPT_HINT) from None
    if moment.tzinfo is None:
        raise HistoryInputError(f"{where}: time without a zone: {text!r}", _CORRUPT_HINT)
    return moment


def pack_snapshot(snapshot: Snapshot) -> bytes:
    # ASCII: a lone surrogate from a hostile tenant string survives as its JSON escape.
    with paused_gc():
        text = json.dumps(encode(snapshot), separators=(",", ":"))
    return zlib.compress(text.encode("ascii"), 6)


def unpack_snapshot(blob: bytes, scan_id: int) -> Snapshot:
    where = f"recorded scan {scan_id}"
    with paused_gc():
        try:
            raw = json.loads(zlib.decompress(bytes(blob)).decode("utf-8"))
        except (zlib.error, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise HistoryInputError(
                f"{where}: the stored snapshot is damaged ({error})", _CORRUPT_HINT
            ) from None
        return parse_snapshot(raw, where)


def column_text(text: str) -> str:
    """Tenant text as both engines can store it: PostgreSQL text cannot hold NUL, and no driver
    encodes a lone surrogate; such characters are kept as visible escapes. The stored snapshot
    keeps every string exactly."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe.replace("\x00", "\\x00")


def finding_row(finding: StoredFinding) -> tuple[str, ...]:
    """Column order of the store's finding columns."""
    return tuple(
        column_text(text)
        for text in (
            finding.rule_id,
            finding.resource_type,
            finding.resource_id,
            finding.resource_name,
            finding.status.value,
            finding.severity.label,
            finding.fingerprint,
            finding.message,
        )
    )


def finding_of_row(row: tuple[Any, ...], scan_id: int) -> StoredFinding:
    texts = [value if isinstance(value, str) else "" for value in row]
    rule_id, resource_type, resource_id, resource_name, status, severity, fingerprint, message = (
        texts
    )
    try:
        return StoredFinding(
            rule_id,
            resource_type,
            resource_id,
            resource_name,
            Status(status),
            Severity.parse(severity),
            fingerprint,
            message,
        )
    except ValueError as error:
        raise HistoryInputError(
            f"recorded scan {scan_id}: a finding is damaged ({error})", _CORRUPT_HINT
        ) from None


def scan_of_row(row: tuple[Any, ...]) -> RecordedScan:
    scan_id, tenant_id, tenant_name, collected, recorded, tool_version, failing, unverified = row
    where = f"recorded scan {scan_id}"
    return RecordedScan(
        id=int(scan_id),
        tenant_id=str(tenant_id),
        tenant_name=str(tenant_name),
        collected_at=read_time(collected, where),
        recorded_at=read_time(recorded or collected, where),
        tool_version=str(tool_version),
        failing=int(failing),
        unverified=int(unverified),
    )
