"""The history store on SQLite and PostgreSQL: record, list, load, latest two, schema.

Every test runs on both engines; PostgreSQL ones skip, saying why, without a server.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from builders import TENANT_ID
from test_history_helpers import ENGINES, history_url, tenant_scan

from maa_guard.history import History, RecordedScan, StoredFinding, open_history, recorder_for
from maa_guard.history.errors import HistoryInputError
from maa_guard.history.migrations import LATEST_VERSION
from maa_guard.model import Severity, Status

OTHER = "9f8e7d6c-5b4a-4321-8fed-cba987654321"


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with history_url(request.param, tmp_path) as location:
        yield location


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def test_a_recorded_scan_loads_back_exactly(url: str) -> None:
    result = tenant_scan(policy_ids=("pol-apps", "pol-scripts"))
    with open_history(url) as history:
        recorded = history.record(result.snapshot, result)
        snapshot, findings = history.load(recorded.id)
        listed = history.list()
    assert snapshot == result.snapshot
    expected = sorted(
        (StoredFinding.of(f) for f in result.findings),
        key=lambda f: (f.rule_id, f.resource_id, f.fingerprint, f.status.value),
    )
    assert list(findings) == expected
    assert listed == [recorded]
    assert recorded.id == 1
    assert recorded.tenant_id == TENANT_ID
    assert recorded.tenant_name == "Test Tenant"
    assert recorded.collected_at == utc("2026-11-01T08:00:00Z")
    assert recorded.tool_version == "0.1.0"
    statuses = [f.status for f in result.findings]
    assert (recorded.failing, recorded.unverified) == (
        statuses.count(Status.FAIL),
        statuses.count(Status.ERROR),
    )


def test_list_filters_by_tenant_orders_by_collection_time_and_limits(url: str) -> None:
    scans = [
        tenant_scan(collected_at="2026-11-03T08:00:00Z"),
        tenant_scan(tenant_id=OTHER, collected_at="2026-11-02T08:00:00Z"),
        tenant_scan(collected_at="2026-11-01T08:00:00Z"),
        tenant_scan(collected_at="2026-11-04T08:00:00Z"),
    ]
    with open_history(url) as history:
        ids = [history.record(r.snapshot, r).id for r in scans]
        everything = [s.id for s in history.list()]
        ours = [s.id for s in history.list(TENANT_ID.upper())]
        recent = [s.id for s in history.list(TENANT_ID, limit=2)]
        theirs = [s.id for s in history.list(OTHER)]
        older, newer = history.latest_two(TENANT_ID)
        tenants = history.tenants()
    assert ids == [1, 2, 3, 4]
    assert everything == [3, 2, 1, 4]
    assert ours == [3, 1, 4]
    assert recent == [1, 4]
    assert theirs == [2]
    assert (older.id, newer.id) == (1, 4)
    assert tenants == sorted([TENANT_ID, OTHER])


def test_latest_two_needs_one_tenant_and_two_scans(url: str) -> None:
    with open_history(url) as history:
        first = tenant_scan()
        history.record(first.snapshot, first)
        with pytest.raises(HistoryInputError) as one_scan:
            history.latest_two()
        other = tenant_scan(tenant_id=OTHER)
        history.record(other.snapshot, other)
        with pytest.raises(HistoryInputError) as two_tenants:
            history.latest_two()
        display = history.location.display
    assert one_scan.value.message == (
        f"tenant {TENANT_ID} has 1 recorded scan(s) in {display}; a diff needs two"
    )
    assert one_scan.value.exit_code == 2
    assert two_tenants.value.message == f"{display} holds scans of 2 tenants"
    assert two_tenants.value.hint == "name one with --tenant ID (see 'maa-guard history list')"


def test_an_unknown_scan_id_is_bad_input(url: str) -> None:
    with open_history(url) as history:
        with pytest.raises(HistoryInputError) as error:
            history.load(7)
        with pytest.raises(HistoryInputError) as error_get:
            history.get(7)
        display = history.location.display
    assert error.value.message == f"no recorded scan 7 in {display}"
    assert error_get.value.message == f"no recorded scan 7 in {display}"
    assert error.value.hint == "list the recorded scans with 'maa-guard history list'"


def test_hostile_tenant_text_is_stored_on_both_engines(url: str) -> None:
    """PostgreSQL text cannot hold NUL: the snapshot keeps it exactly, the list columns keep it
    as a visible escape."""
    result = tenant_scan(name="Evil\x00 \x1b[2J <b>[red]x[/red]</b>")
    with open_history(url) as history:
        recorded = history.record(result.snapshot, result)
        snapshot, _ = history.load(recorded.id)
        listed = history.list()
    assert snapshot.tenant.display_name == "Evil\x00 \x1b[2J <b>[red]x[/red]</b>"
    assert listed[0].tenant_name == "Evil\\x00 \x1b[2J <b>[red]x[/red]</b>"


def test_the_fleet_recorder_pickles_and_records(url: str) -> None:
    recorder = pickle.loads(pickle.dumps(recorder_for(url)))
    result = tenant_scan()
    recorder(result)
    recorder(result)
    with open_history(url, create=False) as history:
        assert [s.id for s in history.list()] == [1, 2]


def test_a_fresh_store_has_the_latest_schema(url: str) -> None:
    with open_history(url) as history:
        assert _schema_version(history) == LATEST_VERSION


def _schema_version(history: History) -> int:
    backend = history._backend
    with backend.session(write=False) as session:
        rows = session.query("SELECT version FROM schema_version")
    return int(rows[0][0])


def test_stored_finding_keeps_what_a_diff_needs() -> None:
    result = tenant_scan()
    failing = next(f for f in result.findings if f.status is Status.FAIL)
    stored = StoredFinding.of(failing)
    assert stored == StoredFinding(
        rule_id=failing.rule_id,
        resource_type=failing.resource.type,
        resource_id=failing.resource.id,
        resource_name=failing.resource.display_name,
        status=Status.FAIL,
        severity=failing.severity,
        fingerprint=failing.fingerprint,
        message=failing.message,
    )
    assert isinstance(stored.severity, Severity)


def test_recorded_scan_is_a_value() -> None:
    moment = utc("2026-11-01T08:00:00Z")
    assert RecordedScan(1, "t", "", moment, moment, "0.1.0", 0, 0) == RecordedScan(
        1, "t", "", moment, moment, "0.1.0", 0, 0
    )


def test_sqlite_stores_use_the_write_ahead_log(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "history.db"
    result = tenant_scan()
    with open_history(str(path)) as history:
        history.record(result.snapshot, result)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


def test_a_store_locked_past_the_busy_timeout_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 3, not 0: a scan whose recording failed must not look green."""
    import sqlite3

    from maa_guard.history import record_scan, sqlite
    from maa_guard.history.errors import HistoryUnavailable

    path = tmp_path / "history.db"
    result = tenant_scan()
    record_scan(str(path), result.snapshot, result)
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_SECONDS", 0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(HistoryUnavailable) as error:
            record_scan(str(path), result.snapshot, result)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert error.value.exit_code == 3
    assert error.value.message == (f"could not use history database {path}: database is locked")
    assert error.value.hint == "another process held the write lock for over 0.05 s"
    with open_history(str(path), create=False) as history:
        assert [scan.id for scan in history.list()] == [1]


@pytest.mark.parametrize(
    "url", ["mysql://host/db", "postgresql://host:port/db", "sqlite://"], ids=str
)
def test_the_fleet_recorder_checks_its_url_before_any_scan(url: str) -> None:
    with pytest.raises(HistoryInputError):
        recorder_for(url)
