"""The scan history: record scans, list them, load one back. SQLite or PostgreSQL.

``open_history(url)`` connects and brings the schema up to date; ``History`` methods each run
in one transaction. ``record_scan`` is what ``scan --record`` calls; ``recorder_for`` gives
``fleet scan`` a picklable recorder that each worker process calls on its own connection.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING

from maa_guard.history.backend import Backend, Session
from maa_guard.history.errors import HistoryInputError
from maa_guard.history.location import Engine, HistoryLocation, parse_history_url
from maa_guard.history.migrations import CREATE_VERSION_TABLE, LATEST_VERSION, OWN_TABLES, pending
from maa_guard.history.records import (
    RecordedScan,
    StoredFinding,
    column_text,
    finding_of_row,
    finding_row,
    pack_snapshot,
    scan_of_row,
    stored_time,
    unpack_snapshot,
)
from maa_guard.model import Status
from maa_guard.snapshot import Snapshot
from maa_guard.snapshot.gcpause import paused_gc

if TYPE_CHECKING:
    from maa_guard.evaluate.engine import ScanResult

_SELECT_SCANS = (
    "SELECT id, tenant_id, tenant_name, collected_at, recorded_at, tool_version, failing,"
    " unverified FROM scans"
)
_SELECT_FINDINGS = (
    "SELECT rule_id, resource_type, resource_id, resource_name, status, severity, fingerprint,"
    " message FROM findings WHERE scan_id = ?"
)
_INSERT_SCAN = (
    "INSERT INTO scans (tenant_id, tenant_name, collected_at, recorded_at, tool_version,"
    " failing, unverified, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_FINDING = (
    "INSERT INTO findings (scan_id, rule_id, resource_type, resource_id, resource_name, status,"
    " severity, fingerprint, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LIST_HINT = "list the recorded scans with 'maa-guard history list'"


class History:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def location(self) -> HistoryLocation:
        return self._backend.location

    def record(self, snapshot: Snapshot, result: ScanResult) -> RecordedScan:
        """Store the snapshot and the result's findings as one scan, in one transaction."""
        with paused_gc():
            findings = [StoredFinding.of(finding) for finding in result.findings]
        scan = _new_scan(snapshot, findings, result.tool_version)
        blob = pack_snapshot(snapshot)
        with self._backend.session(write=True) as session:
            scan_id = session.insert(_INSERT_SCAN, (*_scan_values(scan), blob))
            session.run_many(_INSERT_FINDING, [(scan_id, *finding_row(f)) for f in findings])
        return replace(scan, id=scan_id)

    def list(
        self, tenant: str | None = None, limit: int | None = None
    ) -> builtins.list[RecordedScan]:
        """Oldest first; ``limit`` keeps the most recent ones."""
        sql, params = _SELECT_SCANS, builtins.list[object]()
        if tenant is not None:
            sql, params = sql + " WHERE tenant_id = ?", [tenant.strip().lower()]
        sql += " ORDER BY collected_at DESC, id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        with self._backend.session(write=False) as session:
            rows = session.query(sql, params)
        return [scan_of_row(row) for row in reversed(rows)]

    def get(self, scan_id: int) -> RecordedScan:
        with self._backend.session(write=False) as session:
            rows = session.query(_SELECT_SCANS + " WHERE id = ?", (scan_id,))
        if not rows:
            raise HistoryInputError(
                f"no recorded scan {scan_id} in {self.location.display}", _LIST_HINT
            )
        return scan_of_row(rows[0])

    def load(self, scan_id: int) -> tuple[Snapshot, tuple[StoredFinding, ...]]:
        with self._backend.session(write=False) as session:
            blobs = session.query("SELECT snapshot FROM scans WHERE id = ?", (scan_id,))
            rows = session.query(_SELECT_FINDINGS, (scan_id,))
        if not blobs:
            raise HistoryInputError(
                f"no recorded scan {scan_id} in {self.location.display}", _LIST_HINT
            )
        with paused_gc():
            findings = sorted(
                (finding_of_row(row, scan_id) for row in rows),
                key=lambda f: (f.rule_id, f.resource_id, f.fingerprint, f.status.value),
            )
        return unpack_snapshot(blobs[0][0], scan_id), tuple(findings)

    def tenants(self) -> builtins.list[str]:
        with self._backend.session(write=False) as session:
            rows = session.query("SELECT DISTINCT tenant_id FROM scans")
        return sorted(str(tenant) for (tenant,) in rows)

    def latest_two(self, tenant: str | None = None) -> tuple[RecordedScan, RecordedScan]:
        """The tenant's two most recent scans by collection time, older first."""
        tenant_id = tenant or self._only_tenant()
        scans = self.list(tenant_id, limit=2)
        if len(scans) < 2:
            raise HistoryInputError(
                f"tenant {tenant_id} has {len(scans)} recorded scan(s) in "
                f"{self.location.display}; a diff needs two",
                "record another scan with 'maa-guard scan --record', or name two snapshot files",
            )
        return scans[0], scans[1]

    def _only_tenant(self) -> str:
        tenants = self.tenants()
        if len(tenants) != 1:
            raise HistoryInputError(
                f"{self.location.display} holds scans of {len(tenants)} tenants",
                "name one with --tenant ID (see 'maa-guard history list')",
            )
        return tenants[0]

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _new_scan(
    snapshot: Snapshot, findings: builtins.list[StoredFinding], version: str
) -> RecordedScan:
    """The scan to insert; its id is the database's to give."""
    from maa_guard import __version__

    statuses = [finding.status for finding in findings]
    return RecordedScan(
        id=0,
        tenant_id=snapshot.tenant.id.lower(),
        tenant_name=snapshot.tenant.display_name,
        collected_at=snapshot.collected_at,
        recorded_at=datetime.now(timezone.utc),
        tool_version=version or __version__,
        failing=statuses.count(Status.FAIL),
        unverified=statuses.count(Status.ERROR),
    )


def _scan_values(scan: RecordedScan) -> tuple[str, str, str, str, str, int, int]:
    """Column order of ``_INSERT_SCAN``, without the snapshot."""
    return (
        column_text(scan.tenant_id),
        column_text(scan.tenant_name),
        stored_time(scan.collected_at),
        stored_time(scan.recorded_at),
        column_text(scan.tool_version),
        scan.failing,
        scan.unverified,
    )


def open_history(
    url: str | None = None, *, create: bool = True, environ: Mapping[str, str] | None = None
) -> History:
    """Connect and migrate. ``create=False`` (readers) refuses to make a new SQLite file."""
    return open_location(parse_history_url(url, environ), create=create)


def open_location(location: HistoryLocation, *, create: bool = True) -> History:
    backend = _backend(location, create)
    try:
        ensure_schema(backend, create)
    except BaseException:
        backend.close()
        raise
    return History(backend)


def _backend(location: HistoryLocation, create: bool) -> Backend:
    if location.engine is Engine.POSTGRESQL:
        from maa_guard.history.postgres import PostgresBackend

        return PostgresBackend(location)
    from maa_guard.history.sqlite import SqliteBackend

    return SqliteBackend(location, create)


def ensure_schema(backend: Backend, create: bool) -> None:
    """Readers check without the writer lock; only a missing or old schema takes it."""
    with backend.session(write=False) as session:
        version = _schema_version(session, backend)
    backend.ready(create)
    if version == LATEST_VERSION:
        return
    if version is None and not create:
        raise HistoryInputError(
            f"{backend.location.display} holds no scan history",
            "record one with 'maa-guard scan --record', or name another --history",
        )
    with backend.session(write=True) as session:
        session.lock()
        _migrate(session, backend, _schema_version(session, backend))


def _schema_version(session: Session, backend: Backend) -> int | None:
    tables = session.tables()
    display = backend.location.display
    if "schema_version" not in tables:
        strangers = tables - OWN_TABLES
        if tables & OWN_TABLES or (strangers and not backend.shared_database):
            raise HistoryInputError(
                f"{display} is not a maa-guard history database (it holds other tables)",
                "point --history at a new file, or at a database maa-guard created",
            )
        return None
    rows = session.query("SELECT version FROM schema_version")
    if len(rows) != 1 or not isinstance(rows[0][0], int):
        raise HistoryInputError(
            f"{display}: schema_version is damaged", "restore the database from a backup"
        )
    version: int = rows[0][0]
    if version > LATEST_VERSION:
        raise HistoryInputError(
            f"{display} has history schema version {version}; this maa-guard knows "
            f"up to {LATEST_VERSION}",
            "upgrade maa-guard to read it",
        )
    return version


def _migrate(session: Session, backend: Backend, version: int | None) -> None:
    if version is None:
        session.run(CREATE_VERSION_TABLE)
        session.run("INSERT INTO schema_version (version) VALUES (0)")
        version = 0
    for step in pending(version):
        for statement in step.sql(backend.engine):
            session.run(statement)
    session.run("UPDATE schema_version SET version = ?", (LATEST_VERSION,))


def record_scan(
    url: str | None,
    snapshot: Snapshot,
    result: ScanResult,
    environ: Mapping[str, str] | None = None,
) -> RecordedScan:
    """What ``scan --record [--history URL]`` calls once the reports are out."""
    with open_history(url, environ=environ) as history:
        return history.record(snapshot, result)


@dataclass(frozen=True, slots=True)
class HistoryRecorder:
    """Records a fleet tenant's result; picklable, so each worker process opens its own."""

    location: HistoryLocation

    def __call__(self, result: ScanResult) -> None:
        self.record(result)

    def record(self, result: ScanResult) -> RecordedScan:
        with open_location(self.location) as history:
            return history.record(result.snapshot, result)


def recorder_for(url: str | None, environ: Mapping[str, str] | None = None) -> HistoryRecorder:
    """Checks the URL and the driver before any tenant is scanned."""
    location = parse_history_url(url, environ)
    if location.engine is Engine.POSTGRESQL:
        from maa_guard.history.postgres import require_driver

        require_driver()
    return HistoryRecorder(location)
