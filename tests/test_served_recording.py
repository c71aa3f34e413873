"""The demo's emulator in a process of its own (``maa_guard.scan.served``): it serves the
recording and answers with its log, says why it cannot serve, imports nothing from the working
directory, and never outlives the command that started it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from maa_guard.cli import main
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
        loaded.value.hint,
    )
    assert loaded.value.hint  # the loader's own hint, carried across
    assert served.exit_code == 0


ENDED_HINT = "run the command again; if it keeps failing, reinstall maa-guard"


def prints(document: object) -> str:
    """A child that prints ``document`` as its JSON line."""
    return f"print({json.dumps(json.dumps(document))})"


@pytest.mark.parametrize(
    ("child", "problem", "hint"),
    [
        ("raise SystemExit(7)", "ended before it answered (exit code 7)", ENDED_HINT),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
            "ended before it answered (stopped by signal 15)",
            ENDED_HINT,
        ),
        ("print('not json')", "answered in a form maa-guard does not know", HINT),
        (prints({"url": 1}), "answered in a form maa-guard does not know", HINT),
        (prints([1]), "answered in a form maa-guard does not know", HINT),
        (
            prints({"url": "u", "reader_token": "t", "collected_at": "yesterday"}),
            "answered in a form maa-guard does not know",
            HINT,
        ),
    ],
    ids=["exits", "killed", "not-json", "missing-keys", "not-an-object", "bad-date"],
)
def test_a_child_that_does_not_answer_as_agreed_is_one_error(
    monkeypatch: pytest.MonkeyPatch, child: str, problem: str, hint: str
) -> None:
    """An interpreter that cannot run the emulator: it exits, is killed, or prints garbage."""
    code = child.replace("{", "{{").replace("}", "}}")
    monkeypatch.setattr("maa_guard.scan.served._CHILD", code + "  # {path}")
    recording = demo_path("snapshot.json")
    with ServedRecording(recording) as served, pytest.raises(InputError) as raised:
        served.tenant()
    assert (raised.value.message, raised.value.hint) == (
        f"the Graph emulator serving {recording} {problem}",
        hint,
    )


def test_scan_demo_says_in_one_line_why_its_emulator_did_not_answer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("maa_guard.scan.served._CHILD", "raise SystemExit(7)  # {path}")
    for command in (["scan", "--demo"], ["review", "--demo", "Intune Tag Sync"]):
        assert main(command) == 2
        assert capsys.readouterr().err == (
            f"error: the Graph emulator serving {demo_path('snapshot.json')} ended before it "
            f"answered (exit code 7)\nhint: {ENDED_HINT}\n"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_stops_before_the_tenant_is_served_ends_the_child_at_once() -> None:
    """A usage error after the child started: no waiting for it to load (SIGKILL)."""
    served = served_demo()
    served.close()
    assert served.exit_code == -signal.SIGKILL


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


STARTS_FIRST = """
import contextlib, io, sys
from maa_guard.cli import main
from maa_guard.scan import served

init = served.ServedRecording.__init__
loaded = []

def noting_init(self, recording):
    loaded.append(sorted(m for m in ("msgraph_core", "httpx", "maa_guard.collect",
        "maa_guard.scan.pipeline", "maa_guard.emulator") if m in sys.modules))
    init(self, recording)

served.ServedRecording.__init__ = noting_init
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(code, loaded)
"""


@pytest.mark.parametrize(
    "command",
    [["scan", "--demo", "--format", "json"], ["review", "--demo", "Intune Tag Sync"]],
    ids=["scan", "review"],
)
def test_the_demo_starts_serving_before_the_command_imports_the_graph_stack(
    tmp_path: Path, command: list[str]
) -> None:
    """What makes the demo fast: the child loads while this process imports."""
    ran = subprocess.run(
        [sys.executable, "-c", STARTS_FIRST, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert ran.stdout == "1 [[]]\n"
