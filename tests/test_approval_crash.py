"""Real processes: a CLI killed between sending and recording loses no code; two at once are safe.

The emulator's ``after_filing`` hook holds the reply of a filed request, so the test knows the
request reached the service while the ``maa-guard`` process still waits for its answer; the
process is then killed (SIGKILL), and the next command recovers the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_approval_support import (
    APP_URL,
    MODES,
    Clock,
    app_name,
    decide,
    hold_filed_replies,
    rows,
    running,
    service_requests,
)

from maa_guard.cli import main
from maa_guard.emulator import Emulator

WAIT = 60.0


@pytest.fixture(params=MODES)
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with running(str(request.param), Clock()) as started:
        yield started


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "automation")
    monkeypatch.delenv("MAA_GUARD_STATE", raising=False)
    return dict(os.environ)


def _start_submit(
    emulator: Emulator, state: Path, body: Path, url: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "maa_guard", "request", "submit", "--method", "PATCH",
        "--url", url, "--body", str(body), "--justification", "CHG-9 nightly",
        "--state", str(state), "--format", "json", "--auth", "token",
        "--graph-endpoint", emulator.url,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _cli_json(
    capsys: pytest.CaptureFixture[str], emulator: Emulator, state: Path, *args: str
) -> tuple[int, dict[str, object]]:
    connection = ["--auth", "token", "--graph-endpoint", emulator.url]
    code = main([*args, "--state", str(state), "--format", "json", *connection])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("next_command", ["list", "complete"])
def test_killed_between_send_and_commit_loses_no_code(
    emulator: Emulator,
    environment: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    next_command: str,
) -> None:
    body, state = tmp_path / "body.json", tmp_path / "state.db"
    body.write_text('{"displayName": "CP 2"}', encoding="utf-8")
    filed, release = threading.Event(), threading.Event()

    def hold(code: str) -> None:
        filed.set()
        release.wait(WAIT)

    hold_filed_replies(emulator, hold)
    process = _start_submit(emulator, state, body, APP_URL, environment)
    try:
        assert filed.wait(WAIT), process.communicate(timeout=WAIT)
        [row] = rows(state)
        assert (row["phase"], row["code"]) == ("sending", None)  # sent, answer not yet recorded
        process.kill()
        assert process.wait(WAIT) == -9
    finally:
        release.set()
        process.kill()
    [request] = service_requests(emulator)
    code = str(request["id"])
    assert request["requestJustification"] == f"CHG-9 nightly [maa-guard ref {row['id']}]"
    if next_command == "list":
        exit_code, listed = _cli_json(capsys, emulator, state, "requests", "list")
        assert exit_code == 0
        assert listed["warnings"] == [
            f"change {row['id']}: code recovered from the request list by its object and "
            f"operation (Update m1) (code {code})"
        ]
    assert decide(emulator, code) == 200
    exit_code, completed = _cli_json(capsys, emulator, state, "requests", "complete", code)
    assert (exit_code, completed["outcome"], completed["code"]) == (0, "completed", code)
    assert app_name(emulator) == "CP 2"
    assert [(r["id"], r["phase"], r["code"]) for r in rows(state)] == [
        (row["id"], "completed", code)
    ]


def test_two_commands_at_once_on_one_state_file(
    emulator: Emulator, environment: dict[str, str], tmp_path: Path
) -> None:
    """Both processes are between sending and recording at the same moment: each reply is
    held until the other request is filed too."""
    state = tmp_path / "state.db"
    both_filed = threading.Barrier(2, timeout=WAIT)

    def hold(code: str) -> None:
        both_filed.wait()

    hold_filed_replies(emulator, hold)
    processes = []
    for app in ("m1", "m2"):
        body = tmp_path / f"{app}.json"
        body.write_text(json.dumps({"displayName": f"new {app}"}), encoding="utf-8")
        url = f"/deviceAppManagement/mobileApps/{app}"
        processes.append(_start_submit(emulator, state, body, url, environment))
    outputs = [process.communicate(timeout=WAIT) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    documents = [json.loads(out) for out, _ in outputs]
    codes = {str(r["id"]) for r in service_requests(emulator)}
    assert {d["code"] for d in documents} == codes and len(codes) == 2
    assert sorted((r["url"], r["phase"], r["code"]) for r in rows(state)) == sorted(
        (f"/beta/deviceAppManagement/mobileApps/{app}", "pending", d["code"])
        for app, d in zip(("m1", "m2"), documents, strict=True)
    )
