"""The live commands end to end: the real CLI, credential and Graph stack against the emulator.

``snapshot`` and ``scan`` run against both emulator profiles (``tests/profiles.py``); ``scan
--demo`` serves the demo from the ``default`` profile in a process of its own
(``maa_guard.scan.served``), as ``maa_guard.scan.live.collect_demo`` does.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from profiles import PROFILES, VARIANT_NAMES, VARIANTS, Variant, as_served

from maa_guard.cli import main
from maa_guard.collect import AUTH_METHODS, CLOUDS
from maa_guard.config import Settings
from maa_guard.emulator import Emulator, LoggedRequest, fixture_from_snapshot, graphroles
from maa_guard.emulator.recording import recording_clock
from maa_guard.exclusions.provenance import UNTRUSTED
from maa_guard.scan.live import collect_demo
from maa_guard.scan.served import ServedRecording, demo_path, served_demo
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none on first read."""
    return min(r.request_date_time for r in DEMO.approval_requests)


@pytest.fixture(params=PROFILES)
def emulator_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    with serving(request.param) as emulator:
        yield emulator


@contextmanager
def serving(
    profile: str, fixture: dict[str, Any] | None = None, **options: Any
) -> Iterator[Emulator]:
    tenant = fixture_from_snapshot(DEMO) if fixture is None else fixture
    with Emulator(tenant, now=demo_now, profile=profile, fixed_tokens=True, **options) as running:
        yield running


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def live(url: str, *extra: str) -> list[str]:
    return ["--auth", "token", "--graph-endpoint", url, "--days", "365", "--quiet", *extra]


def test_cli_choices_match_the_collector() -> None:
    from maa_guard.cli import options

    assert options.AUTH_METHODS == AUTH_METHODS
    assert tuple(CLOUDS) == options.CLOUDS


# ``snapshot``: exit code, what follows "wrote FILE" on stderr, and the exclusions source.
SNAPSHOT_OUTCOMES = {
    "default": (0, "", "complete"),
    "published": (3, "; incomplete: exclusions", "partial"),
    "published-trusted": (0, "", "declared"),
}


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_NAMES)
def test_snapshot_command_collects_the_demo_tenant(
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    for name, value in variant.environ.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "tenant.json"
    with serving(variant.profile) as emulator:
        code = main(["snapshot", "-o", str(out), *live(emulator.url)])
    err = capsys.readouterr().err
    collected = load_snapshot(out)
    served = as_served(DEMO, variant.profile)
    exit_code, incomplete, exclusions = SNAPSHOT_OUTCOMES[variant.name]
    assert (code, err) == (exit_code, f"wrote {out}{incomplete}\n")
    assert collected.tenant.id == DEMO.tenant.id
    assert sorted(p.id for p in collected.policies) == sorted(p.id for p in DEMO.policies)
    assert {p.id: sorted(e.app_id for e in p.exclusions) for p in collected.policies} == {
        p.id: sorted(e.app_id for e in p.exclusions) for p in served.policies
    }
    assert {name: s.state.value for name, s in collected.sources.items()} == {
        **dict.fromkeys(DEMO.sources, "complete"),
        "exclusions": exclusions,
    }
    methods = {(r.method, r.path.split("?")[0]) for r in emulator.requests}
    assert {m for m, _ in methods} <= {"GET", "POST"}
    assert {p for m, p in methods if m == "POST"} == {"/beta/$batch"}


def test_live_scan_reports_the_same_approver_findings_as_the_snapshot(
    emulator_url: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "scan",
            "--format",
            "json",
            "--config",
            str(demo_path("maa-guard.toml")),
            *live(emulator_url.url),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    live_failures = {
        (f["rule_id"], f["resource"]["id"])
        for f in report["findings"]
        if f["status"] == "fail" and f["rule_id"].startswith("MAA2")
    }
    assert code == 1
    assert report["tenant"]["id"] == DEMO.tenant.id
    code = main(["scan", "--demo", "--format", "json"])
    offline = json.loads(capsys.readouterr().out)
    assert live_failures == {
        (f["rule_id"], f["resource"]["id"])
        for f in offline["findings"]
        if f["status"] == "fail" and f["rule_id"].startswith("MAA2")
    }


CA_DENIED = (
    "conditional_access is failed (GET identity/conditionalAccess/policies: HTTP 403 "
    "Authorization_RequestDenied; missing permission Policy.Read.All); missing permission "
    "Policy.Read.All"
)
# Untrusted, the missing exclusion property is a second reason the rule cannot verify.
UNVERIFIED = {
    "default": CA_DENIED,
    "published": f"exclusions is partial ({UNTRUSTED}; exclusion history from audit category "
    f"'MultiAdminApproval'); {CA_DENIED}",
    "published-trusted": CA_DENIED,
}


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_NAMES)
def test_a_denied_permission_makes_the_scan_incomplete(
    variant: Variant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    for name, value in variant.environ.items():
        monkeypatch.setenv(name, value)
    faults = {"deny": {"identity/conditionalAccess/policies": "Policy.Read.All"}}
    with serving(variant.profile, faults=faults) as emulator:
        code = main(["scan", "--format", "json", "--rule", "MAA402", *live(emulator.url)])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert code == 3
    assert [(f["resource"]["id"], f["status"], f["message"]) for f in findings] == [
        (DEMO.tenant.id, "error", f"could not verify: {UNVERIFIED[variant.name]}")
    ]


def test_permissions_lists_least_privilege(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["permissions"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["permissions"] == [
        "Application.Read.All",
        "AuditLog.Read.All",
        "DeviceManagementApps.Read.All",
        "DeviceManagementRBAC.Read.All",
        "GroupMember.Read.All",
        "Policy.Read.All",
        "User.Read.All",
    ]
    assert listing["by_source"]["conditional_access"] == ["Policy.Read.All"]


def _jwt(roles: list[str]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'roles': roles})}.sig"


def test_permissions_check_names_what_the_token_lacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    granted = [
        "DeviceManagementRBAC.Read.All",
        "DeviceManagementApps.ReadWrite.All",
        "GroupMember.Read.All",
        "User.Read.All",
        "Application.Read.All",
        "Policy.Read.All",
    ]
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", _jwt(granted))
    code = main(["permissions", "--check", "--auth", "token"])
    assert code == 3
    assert json.loads(capsys.readouterr().out) == {
        "missing_by_source": {"sign_in_activity": ["AuditLog.Read.All"]}
    }
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", _jwt([*granted, "AuditLog.Read.All"]))
    assert main(["permissions", "--check", "--auth", "token"]) == 0


def test_emulate_serves_a_snapshot_until_stopped(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "maa_guard", "emulate", "--tenant", str(demo_path("snapshot.json"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = line.split("Graph emulator: ", 1)[1].split(";", 1)[0]
        token = process.stderr.readline().rstrip("\n").rpartition(": ")[2]  # the reader's
        answer = httpx.get(
            f"{url}/deviceManagement/operationApprovalPolicies",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200
        assert sorted(p["id"] for p in answer.json()["value"]) == sorted(
            p.id for p in DEMO.policies
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_debug_output_never_shows_the_token(
    profile: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-7f1e-never-printed"
    fixture = fixture_from_snapshot(DEMO)
    fixture["tokens"][secret] = fixture["tokens"][graphroles.READER_TOKEN]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", secret)
    with serving(profile, fixture=fixture) as emulator:
        code = main(["scan", "--debug", "--format", "json", *live(emulator.url)])
    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert code == 1
    assert "maa_guard.collect" in {record.name for record in caplog.records}  # it did log
    assert secret not in out and secret not in err and secret not in logged


# ---- scan --demo: the live path against the in-process emulator -------------------------------
# default profile only: collect_demo serves the demo from it (tests/test_demo.py also collects
# the demo from the published profile).

DEMO_ROWS = [
    "access_policies complete, 7 item(s)",
    # a long reason folds onto more lines (the console is 80 columns wide)
    "exclusions complete, 7 item(s) (from the access policies' property",
    "'excludedApplicationIds' and the audit log; exclusion",
    "history from audit category 'Role')",
    "approval_requests complete, 12 item(s)",
    "groups complete, 6 item(s)",
    "users complete, 15 item(s)",
    "service_principals complete, 8 item(s)",
    "conditional_access complete, 2 item(s)",
    "rbac complete, 6 item(s)",
    "audit_events complete, 35 item(s)",  # the 30-day window's
    "sign_in_activity complete, 8 item(s)",
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_scan_demo_collects_over_http_from_the_emulator_in_its_own_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    served: list[tuple[ServedRecording, int, list[LoggedRequest]]] = []
    close = ServedRecording.close

    def logged_close(recording: ServedRecording) -> None:
        served.append((recording, recording.process_id, recording.requests()))
        close(recording)

    monkeypatch.setattr(ServedRecording, "close", logged_close)
    code = main(["scan", "--demo", "--format", "json"])
    out, err = capsys.readouterr()
    ((recording, child, log),) = served
    tenant = recording.tenant()
    audit = [parse_qs(r.query)["$filter"][0] for r in log if r.path.endswith("/auditEvents")]
    report = json.loads(out)
    assert (code, err) == (1, "")  # as before; the progress display shows on a terminal only
    assert child != os.getpid()
    assert (recording.recording, urlsplit(tenant.url).hostname) == (
        demo_path("snapshot.json"),
        "127.0.0.1",
    )
    assert tenant.reader_token != graphroles.READER_TOKEN  # random, not the fixture's name
    assert recording.exit_code == 0  # ended with the command
    assert {(r.method, r.in_batch) for r in log} == {("GET", False), ("POST", False), ("GET", True)}
    assert {r.path for r in log if r.method == "POST"} == {"/beta/$batch"}
    assert {r.status for r in log} == {200, 404}  # 404: the deleted Win32 Packager's appId
    # The 30-day window, and the access-policy events before it: one slice each (none pages).
    assert sorted("category eq 'Role'" in f for f in audit) == [False, True]
    assert report["collected_at"] == "2026-11-01T08:00:00Z"
    assert {name: s["state"] for name, s in report["sources"].items()} == dict.fromkeys(
        DEMO.sources, "complete"
    )


def _rows(rendered: str) -> list[str]:
    """The rich display's last frame, colours removed and spaces collapsed."""
    frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", rendered.rsplit("\x1b[2K", 1)[-1])
    return [" ".join(row.split()) for row in frame.splitlines() if row.strip()]


def test_demo_progress_shows_on_a_terminal_unless_quiet() -> None:
    terminal, pipe, quiet = Terminal(), io.StringIO(), Terminal()
    with served_demo() as served:
        collect_demo(served, Settings(), {}, stream=terminal)
        collect_demo(served, Settings(), {}, stream=pipe)
        collect_demo(served, Settings(), {}, stream=quiet, quiet=True)
    assert _rows(terminal.getvalue()) == DEMO_ROWS
    assert (pipe.getvalue(), quiet.getvalue()) == ("", "")


def test_the_demo_emulator_clock_stops_before_a_recorded_approval_expires() -> None:
    """The recording holds an approved request past its expiry; served at ``collected_at``
    the emulator would expire it, and MAA302 would no longer see it approved."""
    assert recording_clock(DEMO) == datetime(2026, 10, 30, 8, 29, 59, tzinfo=timezone.utc)
    bitlocker = next(r for r in DEMO.approval_requests if r.id.startswith("c457bb01"))
    assert (bitlocker.status, bitlocker.expiration_date_time) == (
        "approved",
        datetime(2026, 10, 30, 8, 30, tzinfo=timezone.utc),
    )


def test_scan_demo_ignores_proxy_settings_for_its_loopback_graph(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: a proxy would fail
    code = main(["scan", "--demo", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {s["state"] for s in report["sources"].values()} == {"complete"}
