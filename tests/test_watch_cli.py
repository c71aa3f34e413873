"""`maa-guard watch` through the real CLI: exit codes, configuration errors, secrets that never
reach the output or the logs (--debug included), --scan, and a crash in the middle of a
delivery (a killed process) that repeats the message once with the same idempotency key."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_watch_receivers import (
    Receiver,
    smtp_server,
)
from test_watch_support import (
    SECRETS,
    environ_for,
    file_request,
    fixture,
    kinds,
)

from maa_guard import cli
from maa_guard.emulator import Emulator, fixture_from_snapshot
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot
from maa_guard.watch.state import WatchStore

TOKEN = "tok-Zq9!reader-never-printed"
Main = Callable[[list[str]], int]
HTTP_RECEIVERS = """
[[notify]]
name = "teams"
type = "teams"
url_env = "TEAMS_URL_VAR"

[[notify]]
name = "slack"
type = "slack"
url_env = "SLACK_URL_VAR"

[[notify]]
name = "hook"
type = "webhook"
url_env = "HOOK_URL_VAR"
secret_env = "HOOK_KEY_VAR"
"""


@pytest.fixture
def main() -> Main:
    return cli.main


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    started = {name: Receiver().start() for name in ("teams", "slack", "hook")}
    yield started
    for receiver in started.values():
        receiver.stop()


@pytest.fixture
def emulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, receivers: dict[str, Receiver]
) -> Iterator[Emulator]:
    """Real time (the CLI's clock); environment as a deployment would set it."""
    tenant = fixture()
    tenant["tokens"][TOKEN] = tenant["tokens"].pop("maa-guard-reader")
    monkeypatch.chdir(tmp_path)
    for name, value in {**environ_for(receivers), "MAA_GUARD_ACCESS_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAA_GUARD_STATE", str(tmp_path / "state.db"))
    (tmp_path / "maa-guard.toml").write_text(HTTP_RECEIVERS, encoding="utf-8")
    with Emulator(tenant, throttle=False, fixed_tokens=True) as running:
        yield running


def watch_args(emulator: Emulator, *extra: str) -> list[str]:
    return ["watch", "--once", "--auth", "token", "--graph-endpoint", emulator.url, *extra]


def test_watch_is_a_command(main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["watch", "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    for option in ("--interval", "--once", "--scan", "--warn-before", "--notify-existing",
                   "--state", "--auth", "--graph-endpoint"):  # fmt: skip
        assert option in out
    assert "exit codes with --once: 0" in " ".join(out.split())


def test_once_polls_and_delivers(
    main: Main,
    emulator: Emulator,
    receivers: dict[str, Receiver],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(watch_args(emulator)) == 0
    assert capsys.readouterr().err == (
        "watch: poll 1: baseline recorded; what exists now is not announced "
        "(--notify-existing announces open requests)\n"
    )
    request_id = file_request(emulator)
    assert main(watch_args(emulator)) == 0
    assert capsys.readouterr().err == (
        "watch: poll 2: 1 new event(s)\nwatch: delivered 3 message(s)\n"
    )
    assert [len(r.posts) for r in receivers.values()] == [1, 1, 1]
    assert receivers["hook"].posts[0].json()["event"]["request"]["id"] == request_id
    assert main([*watch_args(emulator), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_a_receiver_that_is_down_exits_3_and_keeps_the_message(
    main: Main,
    emulator: Emulator,
    receivers: dict[str, Receiver],
    capsys: pytest.CaptureFixture[str],
) -> None:
    receivers["slack"].stop()  # nothing listens on its port any more
    main(watch_args(emulator, "--quiet"))
    file_request(emulator)
    assert main(watch_args(emulator, "--quiet")) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(
        "watch: receiver 'slack' is unavailable (cannot connect (ConnectionRefusedError)); "
        "attempt 1, next after "
    )
    assert err[1].startswith("watch: receiver 'slack' has 1 queued and 0 refused message(s)")
    assert [len(receivers[n].posts) for n in ("teams", "hook")] == [1, 1]


# ---- configuration errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[notify]]\nname = "s"\ntype = "slack"\n'
            'url = "https://hooks.slack.com/services/T0/B0/LiteralSecret"\n',
            "error: {config}: notify[0].url: secrets do not belong in the config file",
        ),
        (
            '[[notify]]\nname = "s"\ntype = "slack"\n'
            'url_env = "https://hooks.slack.com/services/T0/B0/LiteralSecret"\n',
            "error: {config}: notify 's': url_env must name an environment variable "
            "(letters, digits and _)",
        ),
        (
            '[[notify]]\nname = "m"\ntype = "email"\nhost = "smtp.example.com"\n'
            'from = "a@example.com"\npassword = "LiteralSecret"\n',
            "error: {config}: notify[0].password: secrets do not belong in the config file",
        ),
        (
            '[[notify]]\nname = "s"\ntype = "slack"\nurl_env = "UNSET_VARIABLE_X"\n',
            "error: Slack receiver (UNSET_VARIABLE_X): environment variable UNSET_VARIABLE_X "
            "is not set",
        ),
        (
            '[[notify]]\nname = "s"\ntype = "pager"\nurl_env = "X"\n',
            "error: {config}: notify[0].type: expected one of teams, slack, webhook, email",
        ),
        (
            '[[notify]]\nname = "s"\ntype = "slack"\nurl_env = "SLACK_URL_VAR"\n'
            'events = ["request.approve"]\n',
            "error: {config}: notify 's': events: 'request.approve' matches no event type",
        ),
        (
            '[watch]\ninterval = "5 minutes"\n',
            "error: {config}: watch.interval: expected a duration such as 30s, 5m, 12h or "
            "1d, got '5 minutes'",
        ),
        (
            '[watch]\npoll = "5m"\n',
            "error: {config}: unknown key watch.poll",
        ),
    ],
)
def test_configuration_errors_exit_2_without_repeating_secrets(
    main: Main,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    config = tmp_path / "maa-guard.toml"
    config.write_text(text, encoding="utf-8")
    assert main(watch_args(emulator)) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == message.format(config=config)
    assert "LiteralSecret" not in err
    assert not (tmp_path / "state.db").exists()  # nothing half-done


def test_a_bad_interval_flag_is_a_usage_error(
    main: Main, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*watch_args(emulator), "--warn-before", "12x"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: --warn-before: expected a duration such as 30s, 5m, 12h or 1d, got '12x'"
    )


# ---- secrets ---------------------------------------------------------------------------------


def test_secrets_never_reach_the_output_or_the_logs_with_debug(
    main: Main,
    emulator: Emulator,
    receivers: dict[str, Receiver],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every path is taken: delivered (slack), refused (hook 404), down (teams), mailed."""
    caplog.set_level(logging.DEBUG)
    receivers["hook"].script = [404]
    receivers["teams"].script = [503]
    with smtp_server(tmp_path) as smtp:
        mail = (
            f'\n[[notify]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\n'
            f'port = {smtp.port}\nusername = "maa-guard"\npassword_env = "SMTP_PASSWORD_VAR"\n'
            f'from = "maa-guard@contoso.example"\nto = ["secops@contoso.example"]\n'
            f'ca_file = "{smtp.ca_file.as_posix()}"\n'
        )
        (tmp_path / "maa-guard.toml").write_text(HTTP_RECEIVERS + mail, encoding="utf-8")
        assert main([*watch_args(emulator), "--debug"]) == 0
        file_request(emulator)
        assert main([*watch_args(emulator), "--debug"]) == 2
        assert len(smtp.inbox.messages) == 1
    captured = capsys.readouterr()
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")
    )  # mail.log is the test SMTP server's own log
    assert "GET deviceManagement/operationApprovalRequests -> 200" in ours  # --debug was on
    assert "receiver 'hook' refused a message: HTTP 404" in captured.err
    secrets = [
        TOKEN,
        *(r.url for r in receivers.values()),
        "s3cr3t-path",
        SECRETS["HOOK_KEY_VAR"],
        SECRETS["SMTP_PASSWORD_VAR"],
    ]
    for secret in secrets:
        assert secret not in captured.out
        assert secret not in captured.err
        assert secret not in ours
    with WatchStore.open(tmp_path / "state.db") as store:
        stored = repr(store.outbox()) + repr(store.latest())
    assert not any(secret in stored for secret in secrets)


# ---- --scan ----------------------------------------------------------------------------------


def test_scan_tells_a_new_failing_finding_routed_by_type_and_severity(
    main: Main,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    demo = load_snapshot(demo_path("snapshot.json"))
    monkeypatch.chdir(tmp_path)
    for name, value in environ_for(receivers).items():
        monkeypatch.setenv(name, value)
    (tmp_path / "maa-guard.toml").write_text(
        '[[notify]]\nname = "findings"\ntype = "webhook"\nurl_env = "HOOK_URL_VAR"\n'
        'secret_env = "HOOK_KEY_VAR"\nevents = ["finding.*"]\n\n'
        '[[notify]]\nname = "critical-only"\ntype = "slack"\nurl_env = "SLACK_URL_VAR"\n'
        'min_severity = "critical"\n',
        encoding="utf-8",
    )
    now = min(r.request_date_time for r in demo.approval_requests)
    group = "2f991ba4-2604-497e-afa9-3c9b0d4f500c"  # three approvers: MAA202 passes
    with Emulator(fixture_from_snapshot(demo), now=lambda: now, fixed_tokens=True) as emulator:
        args = [*watch_args(emulator, "--scan", "--days", "365", "--state", "s.db")]
        main(args)
        members = [
            {"@odata.type": "#microsoft.graph.user", "id": "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"}
        ]
        for relation in ("groups/{id}/members", "groups/{id}/transitiveMembers"):
            emulator.change.set_relationship(relation, group, members)  # Graph's delta sees it
        main(args)
        assert (tmp_path / "s.snapshot.json").is_file()  # the next poll builds on it
        assert (tmp_path / "s.snapshot.delta.json").is_file()
    told = [post.json() for post in receivers["hook"].posts]
    assert {(b["type"], b["severity"]) for b in told} == {("finding.new", "high")}
    # Fewer approvers, and a past approval by someone no longer in the group.
    assert sorted((b["event"]["finding"]["rule_id"], b["event"]["finding"]["resource_id"])
                  for b in told) == [
        ("MAA202", group),
        ("MAA305", "9ac305b1-fb94-4883-99fa-e63ec807c77d"),
    ]  # fmt: skip
    assert receivers["slack"].posts == []  # all high, below this receiver's critical
    with WatchStore.open(tmp_path / "s.db") as store:
        keys = store.event_keys()
    assert [key.split(":")[0] for key in keys] == ["approvers", "finding", "finding"]


# ---- a crash in the middle of a delivery -----------------------------------------------------


def test_a_killed_delivery_is_repeated_once_with_the_same_key(
    main: Main, emulator: Emulator, receivers: dict[str, Receiver], tmp_path: Path
) -> None:
    assert main(watch_args(emulator, "--quiet")) == 0
    file_request(emulator)
    hook = receivers["hook"]
    hook.hold = True
    process = subprocess.Popen(
        [sys.executable, "-m", "maa_guard", *watch_args(emulator, "--quiet")],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert hook.arrived.wait(60), "the watch never reached the webhook"
    finally:
        process.kill()
        process.wait()
    hook.hold = False
    hook.release.set()
    assert main(watch_args(emulator, "--quiet")) == 0  # the dead owner's claim is taken over
    assert main(watch_args(emulator, "--quiet")) == 0
    first, second = (post.json() for post in hook.posts)
    assert len(hook.posts) == 2
    assert first["idempotency_key"] == second["idempotency_key"]
    assert hook.posts[0].headers["Idempotency-Key"] == hook.posts[1].headers["Idempotency-Key"]
    assert (first["delivery_attempt"], second["delivery_attempt"]) == (1, 2)
    assert [len(receivers[n].posts) for n in ("teams", "slack")] == [1, 1]
    assert kinds(hook) == ["request.needs_approval"] * 2
