"""maa-guard's own change workflow, run as documented, leaves the next scan as it was.

Against the emulated demo tenant (real HTTP, the real client stack, the CLI as a user runs it):
scan, `watch --once`; then an exclusion change (`exclusions draft`, `show`, `submit` as an Intune
administrator, a second administrator approves with their delegated token, `requests complete`)
and a protected write by automation (`request submit` as the app, approved by an approver of the
configuration policy, `requests complete`); then scan and `watch --once` again.

The only new failing finding is the one the change is meant to cause: MAA408 for the new
exclusion, which is in the tenant but not yet declared in `[[exclusions]]` (the demo
configuration). MAA's own events (requests filed, approved, completed; the exclusion added) are
not writes of anyone, the app that used the approval flow is MAA-aware, and the watch tells
exactly the one exclusion that changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_watch_receivers import Receiver

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.codec import format_datetime
from maa_guard.snapshot.file import load_snapshot

DEMO = load_snapshot(demo_path("snapshot.json"))
CONFIG = demo_path("maa-guard.toml")
DAYS = "3650"  # the demo's audit log lies in 2026; ten years keep all of it in the window
APPS_WINDOWS = "a44b31e5-8ba9-4337-9698-57b8e463df88"
REMEDIATION = "655cf484-0a06-4291-b237-96c21b609bde"  # Remediation Script Publisher: review ok
MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # Intune administrator who asks
ALEX = "5a7b46b1-de4f-481f-bce2-7f4ee40714eb"  # in the approver group of Apps - Windows
LEE = "7c32e15c-d4d0-49aa-9eb3-0793e032aa70"  # in the approver group of Configuration profiles
HOOK_KEY = "hmac-key-for-the-test"


def demo_now() -> datetime:
    """Before every demo request expires, so the emulator expires none while the test runs."""
    return min(r.request_date_time for r in DEMO.approval_requests)


def demo_fixture() -> dict[str, Any]:
    """The demo tenant, the new exclusion's app signed in yesterday: the scans judge staleness
    against today, and the test must not depend on the day it runs. The administrator who
    submits also holds the read scopes `exclusions submit` reviews the added app with."""
    fixture = fixture_from_snapshot(DEMO)
    yesterday = format_datetime(datetime.now(timezone.utc) - timedelta(days=1))
    for row in fixture["collections"]["reports/servicePrincipalSignInActivities"]:
        if row["appId"] == REMEDIATION:
            row["applicationAuthenticationClientSignInActivity"]["lastSignInDateTime"] = yesterday
    token = fixture["tokens"][graphroles.user_token(MEGAN)]
    token["scp"] += " Application.Read.All Policy.Read.All AuditLog.Read.All User.Read"
    return fixture


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAA_GUARD_STATE", raising=False)
    with Emulator(demo_fixture(), now=demo_now, fixed_tokens=True) as running:
        yield running


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


class Newcomer:
    """Runs `maa-guard` as the documentation shows, signed in with one token at a time."""

    def __init__(
        self,
        emulator: Emulator,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.emulator, self.tmp_path = emulator, tmp_path
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.state = tmp_path / "state.db"

    def run(self, token: str, *args: str) -> tuple[int, str, str]:
        self.monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", token)
        self.capsys.readouterr()
        code = main([*args, "--auth", "token", "--graph-endpoint", self.emulator.url])
        out, err = self.capsys.readouterr()
        return code, out, err

    def scan(self) -> dict[str, Any]:
        code, out, _ = self.run(
            graphroles.READER_TOKEN, "scan", "--format", "json", "--config", str(CONFIG),
            "--days", DAYS, "--quiet",
        )  # fmt: skip
        assert code == 1
        report: dict[str, Any] = json.loads(out)
        return report

    def approve(self, code: str, approver: str) -> None:
        url = f"{self.emulator.url}/beta/deviceManagement/operationApprovalRequests/{code}/approve"
        headers = {"Authorization": f"Bearer {graphroles.user_token(approver)}"}
        body = {
            "justification": "checked against the change ticket",
            "approvalSource": "adminConsole",
        }
        assert httpx.post(url, json=body, headers=headers).status_code == 200

    def complete(self, token: str, code: str) -> None:
        done = self.run(
            token, "requests", "complete", code, "--state", str(self.state), "--format", "json"
        )
        assert (done[0], json.loads(done[1])["outcome"]) == (0, "completed")

    def watch_once(self, config: Path, receiver: Receiver) -> list[str]:
        self.monkeypatch.setenv("HOOK_URL_VAR", receiver.url)
        self.monkeypatch.setenv("HOOK_KEY_VAR", HOOK_KEY)
        code, _, err = self.run(
            graphroles.READER_TOKEN, "watch", "--once", "--config", str(config),
            "--state", str(self.tmp_path / "watch.db"), "--days", DAYS, "--quiet",
        )  # fmt: skip
        assert code == 0, err
        return err.splitlines()


def failing(report: dict[str, Any]) -> set[tuple[str, str]]:
    """(rule, resource) of every failing finding."""
    return {
        (f["rule_id"], f["resource"]["id"]) for f in report["findings"] if f["status"] == "fail"
    }


def finding(report: dict[str, Any], rule_id: str, resource_id: str) -> dict[str, Any]:
    [found] = [
        f
        for f in report["findings"]
        if f["rule_id"] == rule_id and f["resource"]["id"] == resource_id
    ]
    return found


def watch_config(tmp_path: Path) -> Path:
    """The demo configuration and one webhook receiver."""
    path = tmp_path / "maa-guard.toml"
    receiver = '\n[[notify]]\nname = "hook"\ntype = "webhook"\nurl_env = "HOOK_URL_VAR"\n'
    receiver += 'secret_env = "HOOK_KEY_VAR"\n'
    path.write_text(CONFIG.read_text(encoding="utf-8") + receiver, encoding="utf-8")
    return path


def change_exclusion(newcomer: Newcomer) -> str:
    """Exclude the Remediation Script Publisher from Apps - Windows, as README.md shows."""
    draft = newcomer.tmp_path / "change.json"
    code, _, err = newcomer.run(
        graphroles.READER_TOKEN, "exclusions", "draft", "--policy", "Apps - Windows",
        "--add", "Remediation Script Publisher", "--justification",
        "Publishes the Company Portal remediation package nightly", "--ticket", "CHG0042001",
        "--config", str(CONFIG), "--days", DAYS, "--quiet", "-o", str(draft),
    )  # fmt: skip
    assert code == 0, err
    assert main(["exclusions", "show", str(draft)]) == 0
    megan = graphroles.user_token(MEGAN)
    code, out, err = newcomer.run(
        megan,
        "exclusions",
        "submit",
        str(draft),
        "--state",
        str(newcomer.state),
        "--format",
        "json",
    )
    assert code == 0, err
    filed = json.loads(out)
    assert filed["outcome"] == "pending"
    newcomer.approve(filed["code"], ALEX)
    newcomer.complete(megan, filed["code"])
    return str(filed["code"])


def protected_write(newcomer: Newcomer) -> str:
    """The app creates a configuration policy through the approval flow (`request submit`)."""
    body = newcomer.tmp_path / "policy.json"
    body.write_text(json.dumps({"name": "Baseline - Edge", "platforms": "windows10"}), "utf-8")
    app = graphroles.app_token(REMEDIATION)
    code, out, err = newcomer.run(
        app, "request", "submit", "--method", "POST", "--url",
        "/deviceManagement/configurationPolicies", "--body", str(body), "--justification",
        "CHG0042002 create the Edge baseline for the pilot ring", "--state",
        str(newcomer.state), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    filed = json.loads(out)
    assert filed["outcome"] == "pending"
    newcomer.approve(filed["code"], LEE)
    newcomer.complete(app, filed["code"])
    return str(filed["code"])


def test_the_documented_workflow_adds_only_the_findings_it_means_to(
    emulator: Emulator,
    hook: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    newcomer = Newcomer(emulator, tmp_path, monkeypatch, capsys)
    config = watch_config(tmp_path)
    before = newcomer.scan()
    newcomer.watch_once(config, hook)

    codes = (change_exclusion(newcomer), protected_write(newcomer))

    after = newcomer.scan()
    new, gone = failing(after) - failing(before), failing(before) - failing(after)
    assert new == {("MAA408", f"{APPS_WINDOWS}/{REMEDIATION}")}
    assert finding(after, "MAA408", f"{APPS_WINDOWS}/{REMEDIATION}")["message"] == (
        "excluded in the tenant but not declared in the configuration"
    )
    assert gone == set()
    # Its four script writes of the demo and the one through the approval flow: filing and
    # completing the request are MAA's events, not writes.
    publisher = finding(after, "MAA501", REMEDIATION)
    assert (publisher["status"], publisher["evidence"]["total_writes"]) == ("pass", 5)
    assert publisher["evidence"]["approval_flow"]["completed_requests"] == 1
    assert publisher["evidence"]["approval_flow"]["resubmissions"] == 1
    assert list(publisher["evidence"]["approval_flow"]["workloads"]) == ["configurationPolicy"]
    for rule_id in ("MAA401", "MAA402", "MAA403", "MAA404", "MAA405", "MAA406", "MAA407"):
        assert finding(after, rule_id, REMEDIATION)["status"] == "pass", rule_id
    for code in codes:  # both requests: filed, approved by a second admin in its group, done
        for rule_id in ("MAA301", "MAA302", "MAA303", "MAA305"):
            assert finding(after, rule_id, code)["status"] == "pass", (rule_id, code)

    assert newcomer.watch_once(config, hook) == []
    [told] = [post.json()["event"] for post in hook.posts]
    assert (told["type"], told["exclusion"]["verb"]) == ("exclusion.added", "added")
    assert (told["exclusion"]["policy_id"], told["exclusion"]["app_id"]) == (
        APPS_WINDOWS,
        REMEDIATION,
    )
