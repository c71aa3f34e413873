"""Several processes recording at once lose nothing: 4 processes x 10 scans, on a store that
none of them has created yet, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_history_helpers import ENGINES, history_url, tenant_scan

from maa_guard.history import StoredFinding, open_history

TESTS = Path(__file__).resolve().parent
WORKERS, SCANS = 4, 10

# Each worker prepares its scans, says it is ready, and waits for the go file, so that all four
# start recording together; every scan is
# its own open-record-close, as separate `scan --record` runs would be.
WORKER = """
import sys, time
from pathlib import Path
from test_history_helpers import tenant_scan
from maa_guard.history import record_scan

url, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
results = [tenant_scan(**kwargs) for kwargs in ({KWARGS})]
go.with_name(f"ready-{worker}").touch()
while not go.exists():
    time.sleep(0.005)
for result in results:
    record_scan(url, result.snapshot, result)
"""
KWARGS = (
    "dict(tenant_id=f'00000000-0000-4000-8000-{worker:012d}', "
    "collected_at=f'2026-11-01T08:{worker:02d}:{scan:02d}Z', "
    "policy_ids=(f'pol-w{worker}-s{scan}',)) for scan in range(count)"
)


def tenant_of(worker: int) -> str:
    return f"00000000-0000-4000-8000-{worker:012d}"


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with history_url(request.param, tmp_path) as location:
        yield location


def record_concurrently(url: str, go: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    script = WORKER.replace("{KWARGS}", KWARGS)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(worker), str(SCANS), str(go)],
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    ready = [go.with_name(f"ready-{worker}") for worker in range(WORKERS)]
    while not all(path.exists() for path in ready):
        assert all(worker.poll() is None for worker in workers), "a worker died before the start"
        time.sleep(0.01)
    go.touch()
    for worker in workers:
        _, errors = worker.communicate(timeout=300)
        assert worker.returncode == 0, errors


def test_concurrent_recording_loses_nothing(url: str, tmp_path: Path) -> None:
    record_concurrently(url, tmp_path / "go")
    with open_history(url, create=False) as history:
        scans = history.list()
        loaded = {scan.id: history.load(scan.id) for scan in scans}
    assert len(scans) == WORKERS * SCANS
    assert sorted(scan.id for scan in scans) == list(range(1, WORKERS * SCANS + 1))
    seen = set()
    for scan in scans:
        snapshot, findings = loaded[scan.id]
        worker, number = int(scan.tenant_id[-12:]), scan.collected_at.second
        assert scan.tenant_id == tenant_of(worker)
        assert scan.collected_at.minute == worker
        assert [p.id for p in snapshot.policies] == [f"pol-w{worker}-s{number}"]
        expected = tenant_scan(
            tenant_id=tenant_of(worker),
            collected_at=f"2026-11-01T08:{worker:02d}:{number:02d}Z",
            policy_ids=(f"pol-w{worker}-s{number}",),
        )
        assert snapshot == expected.snapshot
        assert sorted(findings, key=repr) == sorted(
            (StoredFinding.of(f) for f in expected.findings), key=repr
        )
        seen.add((worker, number))
    assert seen == {(w, s) for w in range(WORKERS) for s in range(SCANS)}
