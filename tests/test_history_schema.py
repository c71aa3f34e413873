"""The history schema: created by the tool, migrated from older versions, and a database that
is not a history (or is damaged, or newer) refused with exit 2 and left as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_history_helpers import ENGINES, history_url, tenant_scan

from maa_guard.history import StoredFinding, open_history
from maa_guard.history.errors import HistoryInputError
from maa_guard.history.location import Engine
from maa_guard.history.migrations import CREATE_VERSION_TABLE, LATEST_VERSION, MIGRATIONS
from maa_guard.history.records import pack_snapshot, stored_time
from maa_guard.model import Status


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with history_url(request.param, tmp_path) as location:
        yield request.param, location


def execute(engine: str, url: str, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
    """Raw SQL through the driver, as an older maa-guard (or another program) would have run it."""
    if engine == "sqlite":
        with sqlite3.connect(url) as connection:
            for sql, params in statements:
                connection.execute(sql, params)
        connection.close()
        return
    import psycopg

    with psycopg.connect(url) as connection:
        for sql, params in statements:
            connection.execute(sql.replace("?", "%s"), params or None)


def query(engine: str, url: str, sql: str) -> list[tuple[object, ...]]:
    if engine == "sqlite":
        with sqlite3.connect(url) as connection:
            rows = connection.execute(sql).fetchall()
        connection.close()
        return rows
    import psycopg

    with psycopg.connect(url) as connection:
        return list(connection.execute(sql).fetchall())


def version_1_store(engine: str, url: str) -> list[StoredFinding]:
    """A store as schema version 1 left it, holding one scan and its findings."""
    result = tenant_scan()
    findings = [StoredFinding.of(f) for f in result.findings]
    v1 = [(sql, ()) for sql in MIGRATIONS[0].sql(Engine(engine))]
    scan = (
        "INSERT INTO scans (tenant_id, collected_at, tool_version, snapshot) VALUES (?, ?, ?, ?)",
        (
            result.snapshot.tenant.id,
            stored_time(result.snapshot.collected_at),
            "0.0.9",
            pack_snapshot(result.snapshot),
        ),
    )
    rows = [
        (
            "INSERT INTO findings (scan_id, rule_id, resource_id, status, severity, fingerprint,"
            " message) VALUES (1, ?, ?, ?, ?, ?, ?)",
            (
                f.rule_id,
                f.resource_id,
                f.status.value,
                f.severity.label,
                f.fingerprint,
                f.message,
            ),
        )
        for f in findings
    ]
    version = [(CREATE_VERSION_TABLE, ()), ("INSERT INTO schema_version VALUES (1)", ())]
    execute(engine, url, [*version, *v1, scan, *rows])
    return findings


def test_a_version_1_store_is_migrated_and_keeps_its_scans(store: tuple[str, str]) -> None:
    engine, url = store
    findings = version_1_store(engine, url)
    with open_history(url, create=False) as history:
        [scan] = history.list()
        snapshot, loaded = history.load(scan.id)
        newer = tenant_scan(collected_at="2026-11-02T08:00:00Z")
        recorded = history.record(newer.snapshot, newer)
    assert query(engine, url, "SELECT version FROM schema_version") == [(LATEST_VERSION,)]
    # Version 2 counted the failures and errors of the old scan and set its recorded time.
    statuses = [f.status for f in findings]
    assert (scan.failing, scan.unverified) == (
        statuses.count(Status.FAIL),
        statuses.count(Status.ERROR),
    )
    assert scan.recorded_at == scan.collected_at
    assert (scan.tenant_name, scan.tool_version) == ("", "0.0.9")
    assert snapshot == tenant_scan().snapshot
    # Version 1 did not keep the resource's type and name: they come back empty.
    assert sorted(loaded, key=repr) == sorted(
        (
            StoredFinding(**{**_fields(f), "resource_type": "", "resource_name": ""})
            for f in findings
        ),
        key=repr,
    )
    assert recorded.id == 2


def _fields(finding: StoredFinding) -> dict[str, object]:
    return {name: getattr(finding, name) for name in StoredFinding.__slots__}


def test_a_newer_schema_is_refused(store: tuple[str, str]) -> None:
    engine, url = store
    with open_history(url):
        pass
    execute(engine, url, [("UPDATE schema_version SET version = ?", (LATEST_VERSION + 1,))])
    with pytest.raises(HistoryInputError) as error:
        open_history(url)
    assert error.value.message.endswith(
        f"has history schema version {LATEST_VERSION + 1}; this maa-guard knows up to "
        f"{LATEST_VERSION}"
    )
    assert error.value.hint == "upgrade maa-guard to read it"


def test_tables_of_ours_without_a_version_are_refused(store: tuple[str, str]) -> None:
    engine, url = store
    execute(engine, url, [("CREATE TABLE scans (id INTEGER)", ())])
    with pytest.raises(HistoryInputError) as error:
        open_history(url)
    assert error.value.message.endswith(
        "is not a maa-guard history database (it holds other tables)"
    )
    assert query(engine, url, "SELECT COUNT(*) FROM scans") == [(0,)]


def test_a_reader_does_not_create_a_history(store: tuple[str, str]) -> None:
    _, url = store
    with pytest.raises(HistoryInputError) as error:
        open_history(url, create=False)
    if url.startswith("postgresql"):
        assert error.value.message.endswith("holds no scan history")
    else:
        assert error.value.message == f"no scan history at {url}"
        assert not Path(url).exists()


def test_another_programs_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    execute("sqlite", str(path), [("CREATE TABLE requests (id TEXT)", ())])
    before = path.read_bytes()
    with pytest.raises(HistoryInputError) as error:
        open_history(str(path))
    assert error.value.message == (
        f"{path} is not a maa-guard history database (it holds other tables)"
    )
    assert path.read_bytes() == before


def test_a_postgres_database_shared_with_other_tables_is_fine() -> None:
    from test_history_helpers import postgres_schema

    with postgres_schema() as url:
        execute("postgresql", url, [("CREATE TABLE someone_elses (id INTEGER)", ())])
        with open_history(url) as history:
            result = tenant_scan()
            assert history.record(result.snapshot, result).id == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"this is not a database at all, just some text\n" * 40, "file is not a database"),
        (b"SQLite format 3\x00" + b"\xff" * 4080, "file is not a database"),
    ],
)
def test_a_damaged_sqlite_file_is_bad_input_and_untouched(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(content)
    with pytest.raises(HistoryInputError) as error:
        open_history(str(path))
    assert error.value.message == (f"{path} is not a usable maa-guard history database ({problem})")
    assert error.value.exit_code == 2
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.db"]


def test_a_damaged_stored_snapshot_is_bad_input(tmp_path: Path) -> None:
    url = str(tmp_path / "history.db")
    result = tenant_scan()
    with open_history(url) as history:
        history.record(result.snapshot, result)
    execute("sqlite", url, [("UPDATE scans SET snapshot = ?", (b"not zlib",))])
    with open_history(url) as history, pytest.raises(HistoryInputError) as error:
        history.load(1)
    assert error.value.message.startswith(
        "recorded scan 1: the stored snapshot is damaged (Error -3 while decompressing data"
    )


@contextmanager
def limited_role(url: str, grant: str) -> Iterator[str]:
    """The history URL signed in as a new role with only ``grant`` on the test's schema."""
    from urllib.parse import parse_qs, urlsplit, urlunsplit

    import psycopg
    from test_history_helpers import POSTGRES_URL

    parts = urlsplit(url)
    schema = parse_qs(parts.query)["options"][0].split("=")[1]
    role = f"limited_{schema[-12:]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'limited-pw'")
        if grant:
            admin.execute(f"GRANT {grant} ON SCHEMA {schema} TO {role}")
    try:
        yield urlunsplit(parts._replace(netloc=f"{role}:limited-pw@{parts.hostname}:{parts.port}"))
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            if grant:
                admin.execute(f"REVOKE {grant} ON SCHEMA {schema} FROM {role}")
            admin.execute(f"DROP ROLE {role}")


def test_a_postgresql_user_who_may_not_create_tables_cannot_record_exit_3() -> None:
    """The store exists and is named right, but refuses this user: exit 3, never a pass."""
    from test_history_helpers import postgres_schema

    from maa_guard.history.errors import HistoryUnavailable

    with (
        postgres_schema() as url,
        limited_role(url, "USAGE") as limited,
        pytest.raises(HistoryUnavailable) as error,
    ):
        open_history(limited)
    assert error.value.exit_code == 3
    assert "refused: permission denied for schema history_test_" in error.value.message
    assert "limited-pw" not in error.value.message
    assert error.value.hint == (
        "grant this user the right to create tables in its schema, and to read and write them"
    )


def test_a_search_path_the_user_cannot_use_is_bad_input() -> None:
    from test_history_helpers import postgres_schema

    with (
        postgres_schema() as url,
        limited_role(url, "") as limited,
        pytest.raises(HistoryInputError) as error,
    ):
        open_history(limited)
    assert error.value.message.endswith(
        "has no schema this user can use (no schema has been selected to create in "
        "LINE 1: CREATE TABLE schema_version (version INTEGER NOT NULL) ^)"
    )
    assert "limited-pw" not in error.value.message
