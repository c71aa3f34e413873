"""The SQLite state (schema, transactions, claims), delivery rules, and the polling loop."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import Message as Headers
from pathlib import Path

import pytest
from test_watch_support import (
    Clock,
    Rig,
    file_request,
    make_rig,
    once,
    open_watch,
)

from maa_guard.errors import InputError
from maa_guard.model import Severity
from maa_guard.watch.delivery import Deliverer, RetryPolicy, owner_is_dead, this_process
from maa_guard.watch.message import Message
from maa_guard.watch.model import Event, EventType, Observation
from maa_guard.watch.notifiers.base import Outcome, SendResult, classify
from maa_guard.watch.runner import run_forever
from maa_guard.watch.state import SCHEMA_VERSION, WatchStore

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def event(key: str = "request:r1:status:needsApproval") -> Event:
    return Event(key, EventType.REQUEST_NEEDS_APPROVAL, Severity.MEDIUM, T0)


def to(*receivers: str):  # type: ignore[no-untyped-def]
    return lambda e: [(r, f"key-{r}") for r in receivers]


# ---- schema ----------------------------------------------------------------------------------


def test_own_tables_and_schema_row_beside_another_components_tables(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as other:  # the change workflow's store, in the same file
        other.execute("CREATE TABLE changes (id TEXT PRIMARY KEY)")
        other.execute("INSERT INTO changes VALUES ('kept')")
    with WatchStore.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 1
    with sqlite3.connect(path) as db:
        tables = sorted(
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        )
        assert tables == [
            "changes",
            "watch_event",
            "watch_observation",
            "watch_outbox",
            "watch_schema",
        ]
        assert db.execute("SELECT id FROM changes").fetchall() == [("kept",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with WatchStore.open(path) as store:  # opening again migrates nothing
        assert store.schema_version() == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_new_state_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    with WatchStore.open(path):
        pass
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_a_state_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with WatchStore.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE watch_schema SET version = 7")
    with pytest.raises(InputError) as caught, WatchStore.open(path):
        pass
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        f"{path}: the watch state was written by a newer maa-guard (schema 7, this one knows 1)"
    )


def test_a_file_that_is_not_sqlite_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database at all, just some text" * 50)
    with pytest.raises(InputError) as caught, WatchStore.open(path):
        pass
    assert caught.value.message.startswith(f"cannot open the watch state {path}: ")


# ---- transactions ----------------------------------------------------------------------------


def test_a_poll_stored_by_another_process_first_is_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = Observation(seq=1, taken_at=T0)
    with WatchStore.open(path) as one, WatchStore.open(path) as two:
        assert one.commit(0, first, [event()], to("hook")) == 1
        assert two.commit(0, first, [event()], to("hook")) is None
        assert two.latest() == first
        assert two.commit(1, Observation(seq=2, taken_at=T0), [event()], to("hook")) == 0
        assert one.outbox() == [("request:r1:status:needsApproval", "hook", "queued", 0, "")]


def test_a_row_is_claimed_by_one_process_only(tmp_path: Path) -> None:
    with WatchStore.open(tmp_path / "s.db") as store:
        store.commit(0, Observation(seq=1, taken_at=T0), [event()], to("hook"))
        [row] = store.candidates("hook")
        claimed = store.claim(row, "host:1", T0 + timedelta(minutes=5))
        assert claimed is not None and (claimed.state, claimed.attempts) == ("sending", 1)
        assert store.claim(row, "host:2", T0 + timedelta(minutes=5)) is None
        store.delivered(claimed, T0, "HTTP 200")
        assert store.outbox() == [
            ("request:r1:status:needsApproval", "hook", "delivered", 1, "HTTP 200")
        ]


# ---- delivery rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (301, Outcome.REJECTED),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (410, Outcome.REJECTED),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_http_status_classification(status: int, outcome: Outcome) -> None:
    assert classify(status, None).outcome is outcome


def test_backoff_doubles_honours_retry_after_and_is_capped() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n, None).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert policy.delay(1, 600.0) == timedelta(minutes=10)
    assert policy.delay(40, None) == timedelta(hours=1)
    headers = Headers()
    headers["Retry-After"] = "120"
    assert classify(429, headers) == SendResult(Outcome.RETRY, "HTTP 429", 120.0)


def test_a_dead_owner_is_recognised_on_this_host() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = this_process().rpartition(":")[0]
    assert owner_is_dead(f"{host}:{gone.pid}") is True
    assert owner_is_dead(this_process()) is False
    assert owner_is_dead(f"another-host.example:{gone.pid}") is False


class Answering:
    """A receiver stand-in for the unit tests of the delivery rules."""

    def __init__(self, *results: SendResult) -> None:
        self.results = list(results)
        self.sent: list[Message] = []

    def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        return self.results.pop(0)


def test_a_failing_receiver_waits_out_its_backoff_before_any_later_message(
    tmp_path: Path,
) -> None:
    clock = Clock(T0)
    events = [event("request:r1:status:needsApproval"), event("request:r2:status:needsApproval")]
    with WatchStore.open(tmp_path / "s.db") as store:
        store.commit(0, Observation(seq=1, taken_at=T0), events, to("a", "b"))
        down = Answering(SendResult(Outcome.RETRY, "HTTP 503"))
        up = Answering(SendResult(Outcome.DELIVERED, "HTTP 200"), SendResult(Outcome.DELIVERED))
        report = Deliverer(store, {"a": down, "b": up}, "https://x.example", clock).run()
        assert report.delivered == 2
        assert [m.event.key for m in down.sent] == ["request:r1:status:needsApproval"]
        assert [m.idempotency_key for m in up.sent] == ["key-b", "key-b"]
        assert [(r[1], r[2], r[3]) for r in store.outbox()] == [
            ("a", "queued", 1),
            ("b", "delivered", 1),
            ("a", "queued", 0),
            ("b", "delivered", 1),
        ]
        deliverer = Deliverer(store, {"a": down}, "https://x.example", clock)
        assert deliverer.run().delivered == 0  # r1 backs off: r2 is not sent before it
        assert len(down.sent) == 1
        clock.advance(seconds=30)
        down.results = [SendResult(Outcome.DELIVERED), SendResult(Outcome.DELIVERED)]
        assert deliverer.run().delivered == 2
        assert [m.event.key for m in down.sent[1:]] == [
            "request:r1:status:needsApproval",
            "request:r2:status:needsApproval",
        ]
        assert [m.attempt for m in down.sent] == [1, 2, 1]


# ---- the polling loop ------------------------------------------------------------------------


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with make_rig(tmp_path) as running:
        yield running


def test_the_loop_delivers_a_due_retry_between_polls(rig: Rig) -> None:
    rig.receivers["hook"].script = [503]
    once(rig)
    file_request(rig.emulator)
    sleeps: list[float] = []
    lines: list[str] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        rig.clock.advance(seconds=seconds)

    with open_watch(rig) as watch:
        run_forever(
            watch, timedelta(minutes=5), sleep, lines.append, lines.append,
            keep_going=lambda: len(sleeps) < 3,
        )  # fmt: skip
    assert sleeps == [30.0, 270.0, 300.0]
    assert rig.receivers["hook"].answered == [503, 200]
    assert [len(r.posts) for r in rig.receivers.values()] == [1, 1, 2]
    assert lines[:2] == ["watch: poll 2: 1 new event(s)", "watch: delivered 2 message(s)"]
    assert lines[3:] == [
        "watch: delivered 1 message(s)",
        "watch: poll 3: 0 new event(s)",
    ]
