"""Helpers shared by the history tests (no tests here): stores on SQLite and on PostgreSQL,
and small tenants to record.

PostgreSQL tests need ``MAA_GUARD_TEST_POSTGRES_URL`` (``eval "$(.ci/postgres)"`` starts a
throwaway server and sets it); each test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from builders import add_policy, approver_group, new_snapshot, scan

from maa_guard.evaluate.engine import ScanResult

POSTGRES_URL = os.environ.get("MAA_GUARD_TEST_POSTGRES_URL", "")
NO_POSTGRES = (
    'MAA_GUARD_TEST_POSTGRES_URL is not set: run `eval "$(.ci/postgres)"` to start a '
    "throwaway PostgreSQL and test the PostgreSQL history too"
)
ENGINES = ("sqlite", "postgresql")


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A history URL whose tables live in a new, empty schema."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    psycopg = pytest.importorskip(
        "psycopg", reason="psycopg is not installed: pip install '.[postgres]' to test PostgreSQL"
    )

    schema = f"history_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(POSTGRES_URL, schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def history_url(engine: str, tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield str(tmp_path / "history.db")
    else:
        with postgres_schema() as url:
            yield url


def tenant_scan(
    tenant_id: str = "0b3c5d7e-1f2a-4b6c-8d9e-0a1b2c3d4e5f",
    collected_at: str = "2026-11-01T08:00:00Z",
    policy_ids: tuple[str, ...] = ("pol-apps",),
    name: str = "Test Tenant",
    approvers: tuple[str, ...] = ("u-1", "u-2"),
) -> ScanResult:
    """A small tenant through the real pipeline: one approver group, some policies."""
    snap: dict[str, Any] = new_snapshot()
    snap["tenant"]["id"] = tenant_id
    snap["tenant"]["display_name"] = name
    snap["collected_at"] = snap["window"]["end"] = collected_at
    approver_group(snap, users=approvers)
    for policy_id in policy_ids:
        add_policy(snap, policy_id)
    return scan(snap)
