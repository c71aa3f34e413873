"""The state file: where it lives, what it refuses, schema steps, and several writers at once."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_approval_support import folder_bytes

from maa_guard.approval import Phase, RequestStatus, StateError, StateStore, TrackedChange
from maa_guard.approval.schema import MIGRATIONS, Migration
from maa_guard.approval.state import StoredChange, default_state_path

MOMENT = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def _change(change_id: str, moment: datetime = MOMENT) -> StoredChange:
    tracked = TrackedChange(
        change_id, moment, moment, "PATCH", "/beta/deviceAppManagement/mobileApps/m1", "label",
        "sha256:draft", Phase.SENDING, None, None, "http://127.0.0.1:1",
    )  # fmt: skip
    return StoredChange(tracked, b'{"a":1}', "sha256:x", "why [maa-guard ref x]", "t1", "app")


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is the Linux convention")
def test_default_path_follows_the_user_data_folder_and_the_environment(tmp_path: Path) -> None:
    assert default_state_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "maa-guard/state.db"
    named = {"MAA_GUARD_STATE": str(tmp_path / "mine.db"), "XDG_DATA_HOME": "/elsewhere"}
    assert default_state_path(named) == tmp_path / "mine.db"


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX modes")
def test_a_new_state_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    with StateStore(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_rows_round_trip_exactly(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as state:
        state.add(_change("00000000000a"))
        later = MOMENT + timedelta(minutes=1)
        assert state.update(
            "00000000000a", later, phase=Phase.PENDING, code="c0de", status=RequestStatus.APPROVED
        )
        stored = state.get("00000000000a")
        assert state.by_code("C0DE") == stored
    assert stored is not None
    assert stored.tracked == TrackedChange(
        "00000000000a", MOMENT, later, "PATCH", "/beta/deviceAppManagement/mobileApps/m1",
        "label", "sha256:draft", Phase.PENDING, "c0de", RequestStatus.APPROVED,
        "http://127.0.0.1:1",
    )  # fmt: skip
    assert (stored.body, stored.tenant, stored.requestor) == (b'{"a":1}', "t1", "app")


def test_conditional_updates_keep_what_another_command_recorded(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as state:
        state.add(_change("00000000000a"))
        assert state.update("00000000000a", MOMENT, phase=Phase.PENDING, code="c1")
        assert not state.update(
            "00000000000a", MOMENT, only_phases=(Phase.SENDING,), phase=Phase.UNKNOWN
        )
        assert not state.update("00000000000a", MOMENT, only_without_code=True, code="c2")
        stored = state.get("00000000000a")
    assert stored is not None and (stored.tracked.phase, stored.tracked.code) == (
        Phase.PENDING,
        "c1",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"not": "sqlite"}', "is not a maa-guard state file (not SQLite)"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "is damaged or not a state file"),
    ],
)
def test_a_file_that_is_not_a_state_file_is_left_untouched(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with pytest.raises(StateError) as refused:
        StateStore(path)
    assert refused.value.exit_code == 2
    assert refused.value.message.startswith(f"{path} {message}")
    assert folder_bytes(tmp_path) == {"state.db": content}


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    before = folder_bytes(tmp_path)
    with pytest.raises(StateError) as refused:
        StateStore(path)
    assert refused.value.message == f"{path} is a SQLite file, but not a maa-guard state file"
    assert folder_bytes(tmp_path) == before


def test_schema_steps_are_applied_once_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with StateStore(path) as state:
        state.add(_change("00000000000a"))
    step = Migration(2, "a test step", ("ALTER TABLE changes ADD COLUMN note TEXT",))
    with StateStore(path, (*MIGRATIONS, step)) as migrated:
        assert migrated.get("00000000000a") is not None
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
        assert db.execute("SELECT id, note FROM changes").fetchall() == [("00000000000a", None)]
    with pytest.raises(StateError) as newer:
        StateStore(path)
    assert newer.value.message == (
        f"{path} has state schema version 2; this maa-guard reads up to 1"
    )


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_approval_state import _change
    from maa_guard.approval import Phase, StateStore

    prefix = sys.argv[1]
    with StateStore(Path({path!r})) as state:
        for n in range(40):
            change_id = f"{{prefix}}{{n:010d}}"
            state.add(_change(change_id))
            state.update(change_id, datetime.now(timezone.utc), phase=Phase.PENDING,
                         code=f"{{prefix}}-{{n}}")
    """
)


def test_several_processes_write_one_state_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    script = _WRITER.format(tests=str(Path(__file__).parent), path=str(path))
    writers = [
        subprocess.Popen([sys.executable, "-c", script, prefix], stderr=subprocess.PIPE)
        for prefix in ("p1", "p2", "p3", "p4")
    ]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [w.returncode for w in writers] == [0, 0, 0, 0], errors
    with StateStore(path) as state:
        stored = state.changes()
    assert len(stored) == 160
    assert {(s.tracked.phase, s.tracked.code) for s in stored} == {
        (Phase.PENDING, f"{s.tracked.change_id[:2]}-{int(s.tracked.change_id[2:])}") for s in stored
    }
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
