"""What the demo costs in Graph requests, counted from the emulator's request log.

Request counts are deterministic (the demo tenant is fixed and every read's shape depends only
on it), so they are asserted exactly: a change that adds requests shows here. The demo's audit
log fits one page per read, so the window and the exclusion history cost one request each.
``review --demo`` collects only what one app's review needs (``review.collect``): the app by
appId, then at once the access policies, the audit log's window and exclusion history, and one
``$batch`` of the app's, Conditional Access's, the tenant's and the sign-in report's first
reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from maa_guard.cli import main
from maa_guard.collect import GraphClient, StaticTokenCredential, resolve_endpoint
from maa_guard.config import Settings
from maa_guard.emulator import READER_TOKEN, Emulator, LoggedRequest, fixture_from_snapshot
from maa_guard.emulator.recording import recording_clock
from maa_guard.review.collect import collect_for_review
from maa_guard.scan.served import ServedRecording, demo_path
from maa_guard.snapshot.file import load_snapshot


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
    """``maa-guard ARGUMENTS``' exit code, and the cost in the log of the emulator serving the
    demo, taken just before the command ends it."""
    logs: list[list[LoggedRequest]] = []
    close = ServedRecording.close

    def logged_close(served: ServedRecording) -> None:
        logs.append(served.requests())
        close(served)

    monkeypatch.setattr(ServedRecording, "close", logged_close)
    code = main(arguments)
    (log,) = logs
    return code, cost(log)


DEMO_COST = Cost(http_requests=31, batches=16, graph_calls=135, audit_reads=2)
REVIEW_DEMO_COST = Cost(http_requests=8, batches=4, graph_calls=30, audit_reads=2)


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
    assert demo_cost(monkeypatch, arguments) == (1, REVIEW_DEMO_COST)


BY_NAME = Cost(http_requests=8, batches=3, graph_calls=29, audit_reads=2)


@pytest.mark.parametrize(
    ("app_ref", "expected"),
    [
        ("Intune Tag Sync", BY_NAME),
        ("625d2bac-69df-4b31-b31c-6bd75b87a8bc", REVIEW_DEMO_COST),
        ("3fc16778-98a3-41cc-8ee9-84f2d6b3f410", REVIEW_DEMO_COST),
    ],
    ids=["display-name", "app-id", "object-id"],
)
def test_a_live_review_costs_as_many_requests_by_name_as_by_id(
    app_ref: str, expected: Cost
) -> None:
    """A name is looked up with Graph's displayName filter (one GET), an id in one ``$batch``
    (as an appId and as an object id)."""
    demo = load_snapshot(demo_path("snapshot.json"))
    held = recording_clock(demo)

    async def review(url: str) -> None:
        endpoint = resolve_endpoint("global", url)
        async with GraphClient(StaticTokenCredential(READER_TOKEN), endpoint) as client:
            await collect_for_review(client, app_ref, Settings(), now=demo.collected_at)

    with Emulator(fixture_from_snapshot(demo), now=lambda: held, fixed_tokens=True) as served:
        asyncio.run(review(served.url))
    assert cost(served.requests) == expected
