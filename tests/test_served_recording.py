"""The demo's emulator in a process of its own (``maa_guard.scan.served``): it serves the
recording and answers with its log, says why it cannot serve, imports nothing from the working
directory, and never outlives the command that started it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from maa_guard.emulator import LoggedRequest
from maa_guard.errors import InputError
from maa_guard.scan.served import ServedRecording, demo_path, served_demo
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
HINT = "reinstall maa-guard: the demo tenant and the emulator ship with it"


def test_the_served_demo_answers_with_its_reader_token_and_logs_the_request() -> None:
    with served_demo() as served:
        tenant = served.tenant()
        reply = httpx.get(
            f"{tenant.url}/beta/organization",
            headers={"Authorization": f"Bearer {tenant.reader_token}"},
        )
        refused = httpx.get(f"{tenant.url}/beta/organization")
        log = served.requests()
    assert (reply.status_code, refused.status_code) == (200, 401)
    assert [organization["id"] for organization in reply.json()["value"]] == [DEMO.tenant.id]
    assert tenant.collected_at == DEMO.collected_at
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/beta/organization", 200),
        ("GET", "/beta/organization", 401),
    ]
    assert all(isinstance(r, LoggedRequest) for r in log)
    assert served.exit_code == 0


@pytest.mark.parametrize(
    "content", [b"{}", b"not json", None], ids=["not-a-snapshot", "not-json", "missing"]
)
def test_a_recording_that_cannot_be_served_is_one_error_with_the_loader_s_words(
    tmp_path: Path, content: bytes | None
) -> None:
    recording = tmp_path / "tenant.json"
    if content is not None:
        recording.write_bytes(content)
    with pytest.raises(InputError) as loaded:
        load_snapshot(recording)
    with ServedRecording(recording) as served, pytest.raises(InputError) as raised:
        served.tenant()
    assert (raised.value.message, raised.value.hint) == (
        f"cannot serve {recording}: {loaded.value.message}",
        HINT,
    )
    assert served.exit_code == 0


def test_a_child_that_ends_without_answering_is_one_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An interpreter that cannot start the emulator at all (here: it exits at once)."""
    monkeypatch.setattr("maa_guard.scan.served._CHILD", "raise SystemExit(7) # {path}")
    recording = demo_path("snapshot.json")
    with ServedRecording(recording) as served, pytest.raises(InputError) as raised:
        served.tenant()
    assert (raised.value.message, raised.value.hint) == (
        f"the Graph emulator serving {recording} ended before it answered (exit code 7)",
        HINT,
    )


def test_an_interpreter_that_cannot_be_started_is_one_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    recording = demo_path("snapshot.json")
    with pytest.raises(InputError) as raised:
        ServedRecording(recording)
    assert (raised.value.message, raised.value.hint) == (
        f"cannot start the Graph emulator for {recording}: No such file or directory",
        HINT,
    )


def test_the_child_imports_nothing_from_the_working_directory_or_pythonpath(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    marker = tmp_path / "imported"
    planted = tmp_path / "maa_guard"
    planted.mkdir()
    plant = f"open({str(marker)!r}, 'w').close()\n"
    (planted / "__init__.py").write_text(plant)
    (tmp_path / "sitecustomize.py").write_text(plant)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with served_demo() as served:
        assert served.tenant().collected_at == DEMO.collected_at
    assert not marker.exists()


PARENT = """
import os, sys
from maa_guard.scan.served import served_demo
served = served_demo()
served.tenant()
print(served.process_id, flush=True)
os._exit(0)  # no close: as when the command is killed
"""


def _running(process_id: int) -> bool:
    """Whether the process exists and has not ended (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{process_id}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_child_ends_when_the_command_that_started_it_is_gone() -> None:
    parent = subprocess.run(
        [sys.executable, "-c", PARENT], capture_output=True, text=True, check=True, timeout=60
    )
    child = int(parent.stdout)
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def test_the_log_keeps_no_token(tmp_path: Path) -> None:
    with served_demo() as served:
        tenant = served.tenant()
        httpx.get(
            f"{tenant.url}/beta/organization",
            headers={"Authorization": f"Bearer {tenant.reader_token}"},
        )
        log = served.requests()
    assert tenant.reader_token not in json.dumps([r.headers for r in log])
