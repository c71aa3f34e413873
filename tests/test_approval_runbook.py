"""The runbook in docs/examples/runbook.py, run as a user runs it, against the emulator.

It performs Microsoft's four steps: submit with a justification, get the pending code, wait for
a second administrator's approval, complete with the code. docs/approval.md shows that file.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_approval_support import (
    MODES,
    Clock,
    decide,
    graph,
    hold_filed_replies,
    rows,
    running,
    service_requests,
    writes_sent,
)

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = REPO / "docs" / "examples" / "runbook.py"
SCRIPTS = "/beta/deviceManagement/deviceManagementScripts"
WAIT = 60.0


@pytest.mark.parametrize("mode", MODES)
def test_runbook_performs_the_four_steps(mode: str, tmp_path: Path) -> None:
    filed: list[str] = []
    ready = threading.Event()

    def note(code: str) -> None:
        filed.append(code)
        ready.set()

    with running(mode, Clock()) as emulator:
        hold_filed_replies(emulator, note)
        environment = {
            **os.environ,
            "MAA_GUARD_AUTH": "token",
            "MAA_GUARD_ACCESS_TOKEN": "automation",
            "MAA_GUARD_GRAPH_ENDPOINT": emulator.url,
            "MAA_GUARD_STATE": str(tmp_path / "state.db"),
        }
        runbook = subprocess.Popen(
            [sys.executable, str(RUNBOOK)],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert ready.wait(WAIT), runbook.communicate(timeout=WAIT)
            assert decide(emulator, filed[0]) == 200  # the second administrator, in Intune
            out, err = runbook.communicate(timeout=WAIT)
        finally:
            runbook.kill()
        [code] = filed
        [request] = service_requests(emulator)
        scripts = graph(emulator, "GET", SCRIPTS, "automation").json()["value"]
        sent = writes_sent(emulator)
    assert (runbook.returncode, err) == (0, "")
    assert out == (
        f"approval request {code} filed; waiting for a second administrator\n"
        "the approved change was applied (HTTP 201)\n"
    )
    justification = request["requestJustification"]
    assert justification.startswith("CHG-1234: deploy the test script [maa-guard ref ")
    assert sent == [
        ("POST", SCRIPTS, base64.b64encode(justification.encode()).decode(), None),
        ("POST", SCRIPTS, None, code),
    ]
    assert request["status"] == "completed"
    assert [(s["displayName"], s["fileName"]) for s in scripts] == [
        ("My Test Script", "TestScript.ps1")
    ]
    assert [(r["label"], r["phase"], r["code"]) for r in rows(tmp_path / "state.db")] == [
        ("test script", "completed", code)
    ]


def test_docs_show_the_tested_runbook() -> None:
    page = (REPO / "docs" / "approval.md").read_text(encoding="utf-8")
    code = RUNBOOK.read_text(encoding="utf-8")
    start = code.index("def run() -> int:")
    end = code.index('\n\nif __name__ == "__main__":')
    assert code[start:end] in page
