"""What the demo costs in Graph requests, counted from the emulator's request log.

Request counts are deterministic (the demo tenant is fixed and every read's shape depends only
on it), so they are asserted exactly: a change that adds requests shows here. The demo's audit
log fits one page per read, so the window and the exclusion history cost one request each.
``review --demo`` reviews from the same collection as ``scan --demo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from maa_guard.cli import main
from maa_guard.emulator import Emulator, LoggedRequest


@dataclass(frozen=True, slots=True)
class Cost:
    http_requests: int  # each $batch counted once
    batches: int
    graph_calls: int  # each $batch item counted on its own
    audit_reads: int  # deviceManagement/auditEvents pages


def cost(log: list[LoggedRequest]) -> Cost:
    sent = [r for r in log if not r.in_batch]
    return Cost(
        http_requests=len(sent),
        batches=sum(r.path == "/beta/$batch" for r in sent),
        graph_calls=sum(r.path != "/beta/$batch" for r in log),
        audit_reads=sum(r.path == "/beta/deviceManagement/auditEvents" for r in log),
    )


def demo_cost(monkeypatch: pytest.MonkeyPatch, arguments: list[str]) -> tuple[int, Cost]:
    started: list[Emulator] = []
    start = Emulator.start

    def recording_start(emulator: Emulator) -> Emulator:
        started.append(emulator)
        return start(emulator)

    monkeypatch.setattr(Emulator, "start", recording_start)
    code = main(arguments)
    (emulator,) = started
    return code, cost(emulator.requests)


DEMO_COST = Cost(http_requests=31, batches=16, graph_calls=135, audit_reads=2)


def test_scan_demo_request_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert demo_cost(monkeypatch, ["scan", "--demo", "--format", "json"]) == (1, DEMO_COST)


def test_review_demo_request_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments = ["review", "--demo", "Intune Tag Sync", "--format", "json"]
    assert demo_cost(monkeypatch, arguments) == (1, DEMO_COST)
