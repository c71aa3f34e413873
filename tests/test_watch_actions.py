"""`maa-guard watch test-notify` and `maa-guard watch outbox` through the real CLI, and the
`watch` invocations of the documentation still parsing as before.

test-notify runs against local receivers (webhook endpoints and an SMTP server with STARTTLS,
tests/test_watch_receivers.py); the outbox is one that real `watch --once` runs against the
emulator left behind."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_watch_receivers import Receiver, Smtp, free_port, smtp_server, verify_signature
from test_watch_support import SECRETS, environ_for, file_request, fixture

from maa_guard import cli
from maa_guard.cli.watch import OUTBOX_STATUSES
from maa_guard.emulator import Emulator
from maa_guard.watch.delivery import TEST_NOTE, TEST_TITLE
from maa_guard.watch.outbox import STATUS_FILTERS
from maa_guard.watch.state import WatchStore

REPO = Path(__file__).resolve().parent.parent
Main = Callable[[list[str]], int]
HTTP_RECEIVERS = """
[[notify]]
name = "teams"
type = "teams"
url_env = "TEAMS_URL_VAR"
events = ["request.*"]

[[notify]]
name = "slack"
type = "slack"
url_env = "SLACK_URL_VAR"
min_severity = "critical"

[[notify]]
name = "hook"
type = "webhook"
url_env = "HOOK_URL_VAR"
secret_env = "HOOK_KEY_VAR"
"""


def mail_receiver(smtp: Smtp, to: str = '["secops@contoso.example"]') -> str:
    return f"""
[[notify]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {smtp.port}
username = "maa-guard"
password_env = "SMTP_PASSWORD_VAR"
from = "maa-guard@contoso.example"
to = {to}
to_audience = true
ca_file = "{smtp.ca_file.as_posix()}"
events = ["exclusion.*"]
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
def smtp(tmp_path: Path) -> Iterator[Smtp]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def deployed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, receivers: dict[str, Receiver]
) -> Path:
    """The working folder of a deployment: secrets in the environment, a state file named by
    MAA_GUARD_STATE (that nothing here may create)."""
    monkeypatch.chdir(tmp_path)
    for name, value in environ_for(receivers).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAA_GUARD_STATE", str(tmp_path / "state.db"))
    return tmp_path


def write_config(folder: Path, text: str) -> None:
    (folder / "maa-guard.toml").write_text(text, encoding="utf-8")


# ---- test-notify -----------------------------------------------------------------------------


def test_every_receiver_gets_one_marked_test_message(
    main: Main,
    deployed: Path,
    receivers: dict[str, Receiver],
    smtp: Smtp,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Routes do not apply: teams takes only request.*, slack only critical events, mail only
    # exclusion changes; each still gets the test.
    write_config(deployed, HTTP_RECEIVERS + mail_receiver(smtp))
    assert main(["watch", "test-notify"]) == 0
    assert capsys.readouterr() == (
        "teams: delivered (HTTP 200)\n"
        "slack: delivered (HTTP 200)\n"
        "hook: delivered (HTTP 200)\n"
        "mail: delivered (1 of 1 recipients accepted)\n",
        "",
    )
    assert [len(r.posts) for r in receivers.values()] == [1, 1, 1]
    card = receivers["teams"].posts[0].json()["attachments"][0]["content"]
    assert card["body"][0]["text"] == TEST_TITLE
    assert card["body"][1]["facts"][0] == {"title": "Receiver", "value": "teams"}
    assert receivers["slack"].posts[0].json()["text"] == TEST_TITLE
    hook = receivers["hook"].posts[0]
    assert verify_signature(hook, SECRETS["HOOK_KEY_VAR"])
    body = hook.json()
    assert (body["type"], body["title"], hook.headers["X-MAA-Guard-Event"]) == (
        "test",
        TEST_TITLE,
        "test",
    )
    assert {"label": "Test", "value": TEST_NOTE} in body["facts"]
    [mail] = smtp.inbox.messages
    assert (mail.recipients, mail.encrypted, mail.authenticated) == (
        ["secops@contoso.example"],
        True,
        True,
    )
    assert str(mail.message["Subject"]).strip() == f"[maa-guard] {TEST_TITLE}: mail"
    assert mail.message["X-MAA-Guard-Event"] == "test"
    assert not (deployed / "state.db").exists()


def test_each_run_is_a_new_message_for_the_receivers(
    main: Main, deployed: Path, receivers: dict[str, Receiver]
) -> None:
    """The outbox's exactly-once does not apply, and the idempotency key is new each run, so
    a receiver that drops repeated keys shows the second test too."""
    write_config(deployed, HTTP_RECEIVERS)
    assert main(["watch", "test-notify"]) == 0
    assert main(["watch", "test-notify", "--quiet"]) == 0
    keys = [post.headers["Idempotency-Key"] for post in receivers["hook"].posts]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert all(re.fullmatch(r"maa-guard-[0-9a-f]{32}", key) for key in keys)
    assert not (deployed / "state.db").exists()


def test_a_refusing_receiver_is_a_configuration_error(
    main: Main,
    deployed: Path,
    receivers: dict[str, Receiver],
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(deployed, HTTP_RECEIVERS)
    receivers["slack"].script = [404]
    assert main(["watch", "test-notify"]) == 2
    assert capsys.readouterr().out == (
        "teams: delivered (HTTP 200)\n"
        "slack: failed: refused (HTTP 404); fix the receiver's configuration\n"
        "hook: delivered (HTTP 200)\n"
    )


def test_an_unreachable_receiver_exits_3_and_a_refusal_wins(
    main: Main,
    deployed: Path,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(deployed, HTTP_RECEIVERS)
    monkeypatch.setenv("HOOK_URL_VAR", f"http://127.0.0.1:{free_port()}/hook")
    receivers["teams"].script = [503]
    assert main(["watch", "test-notify"]) == 3
    assert capsys.readouterr().out == (
        "teams: failed: unreachable (HTTP 503)\n"
        "slack: delivered (HTTP 200)\n"
        "hook: failed: unreachable (cannot connect (ConnectionRefusedError))\n"
    )
    receivers["slack"].script = [403]
    assert main(["watch", "test-notify"]) == 2
    assert capsys.readouterr().out == (
        "teams: delivered (HTTP 200)\n"
        "slack: failed: refused (HTTP 403); fix the receiver's configuration\n"
        "hook: failed: unreachable (cannot connect (ConnectionRefusedError))\n"
    )


def test_a_missing_secret_fails_that_receiver_only(
    main: Main,
    deployed: Path,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(deployed, HTTP_RECEIVERS)
    monkeypatch.delenv("HOOK_KEY_VAR")
    assert main(["watch", "test-notify"]) == 2
    assert capsys.readouterr().out == (
        "teams: delivered (HTTP 200)\n"
        "slack: delivered (HTTP 200)\n"
        "hook: failed: refused (webhook receiver (HOOK_URL_VAR): environment variable "
        "HOOK_KEY_VAR is not set); fix the receiver's configuration\n"
    )
    assert [len(r.posts) for r in receivers.values()] == [1, 1, 0]


def test_an_email_receiver_without_fixed_recipients_is_not_sent_to(
    main: Main, deployed: Path, smtp: Smtp, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(deployed, mail_receiver(smtp, to="[]"))
    assert main(["watch", "test-notify"]) == 0
    assert capsys.readouterr().out == (
        "mail: not sent (no fixed recipients: `to` is empty, and `to_audience` mails only the "
        "people an event names)\n"
    )
    assert smtp.inbox.messages == []


def test_no_receiver_is_a_configuration_error(
    main: Main, deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(deployed, '[watch]\ninterval = "5m"\n')
    assert main(["watch", "test-notify"]) == 2
    assert capsys.readouterr() == (
        "",
        "error: watch test-notify: no [[notify]] receivers configured\n"
        "hint: add [[notify]] tables to maa-guard.toml (docs/watch.md), or name the file with "
        "--config\n",
    )


# ---- outbox ----------------------------------------------------------------------------------


@pytest.fixture
def emulator(deployed: Path) -> Iterator[Emulator]:
    """Real time (the CLI's clock); the reader token the emulator's fixed tokens name."""
    with Emulator(fixture(), throttle=False, fixed_tokens=True) as running:
        yield running


def watch_once(main: Main, emulator: Emulator) -> int:
    argv = ["watch", "--once", "--quiet", "--auth", "token", "--graph-endpoint", emulator.url]
    return main(argv)


@pytest.fixture
def outbox_state(
    main: Main,
    deployed: Path,
    emulator: Emulator,
    receivers: dict[str, Receiver],
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """Two real `watch --once` runs: a baseline, then one new request told to three
    receivers: teams takes it, slack refuses it (blocked), the hook is down (queued)."""
    write_config(deployed, HTTP_RECEIVERS.replace('min_severity = "critical"\n', ""))
    assert watch_once(main, emulator) == 0
    file_request(emulator)
    receivers["slack"].script = [410]
    receivers["hook"].script = [503]
    assert watch_once(main, emulator) == 2
    capsys.readouterr()
    return deployed / "state.db"


def outbox_json(main: Main, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["watch", "outbox", "--format", "json", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    document: dict[str, object] = json.loads(out)
    return document


def test_outbox_lists_every_message_with_its_status(
    main: Main, outbox_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with WatchStore.open(outbox_state) as store:
        [key] = store.event_keys()
    document = outbox_json(main, capsys)
    assert (document["kind"], document["version"], document["state"]) == (
        "maa-guard-watch-outbox",
        1,
        str(outbox_state),
    )
    messages = document["messages"]
    assert isinstance(messages, list)
    fixed = ["receiver", "event_key", "event_type", "severity", "status", "attempts"]
    assert [[m[k] for k in [*fixed, "last_detail"]] for m in messages] == [
        ["teams", key, "request.needs_approval", "medium", "delivered", 1, "HTTP 200"],
        ["slack", key, "request.needs_approval", "medium", "blocked", 1, "HTTP 410"],
        ["hook", key, "request.needs_approval", "medium", "queued", 1, "HTTP 503"],
    ]
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    teams, slack, hook = messages
    assert stamp.fullmatch(teams["delivered_at"]) and teams["next_attempt_at"] is None
    assert slack["delivered_at"] is None and slack["next_attempt_at"] is None
    assert stamp.fullmatch(hook["next_attempt_at"]) and hook["delivered_at"] is None
    assert all(stamp.fullmatch(m["detected_at"]) for m in messages)
    assert all(m["lease_until"] is None for m in messages)


@pytest.mark.parametrize(
    ("status", "receivers_listed"),
    [
        ("queued", ["hook"]),
        ("sending", []),
        ("blocked", ["slack"]),
        ("delivered", ["teams"]),
        ("failed", ["slack", "hook"]),
    ],
)
def test_outbox_status_filter(
    main: Main,
    outbox_state: Path,
    capsys: pytest.CaptureFixture[str],
    status: str,
    receivers_listed: list[str],
) -> None:
    document = outbox_json(main, capsys, "--status", status)
    messages = document["messages"]
    assert isinstance(messages, list)
    assert [m["receiver"] for m in messages] == receivers_listed


def test_outbox_table(main: Main, outbox_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "outbox", "--format", "table", "--state", str(outbox_state)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"watch state {outbox_state}: 3 message(s) (1 queued, 1 blocked, 1 delivered)"
    )
    header = lines[1].split()
    assert header[:4] == ["Receiver", "Event", "Key", "Status"]
    rows = [
        line.split()[:2]
        for line in lines[3:]
        if line.split()[:1] in (["teams"], ["slack"], ["hook"])
    ]
    assert rows == [
        ["teams", "request.needs_approval"],
        ["slack", "request.needs_approval"],
        ["hook", "request.needs_approval"],
    ]
    text = "\n".join(lines)
    assert "at the next start of the watch" in text and "HTTP 410" in text


def test_outbox_reads_without_writing(
    main: Main, outbox_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = outbox_state.parent
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    content = outbox_state.read_bytes()
    outbox_json(main, capsys)
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert (after, outbox_state.read_bytes()) == (before, content)


def test_outbox_without_a_state_file_creates_none(
    main: Main, deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(deployed, HTTP_RECEIVERS)
    assert main(["watch", "outbox"]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: no watch state file at {deployed / 'state.db'}\n"
        "hint: run 'maa-guard watch --once' first, or name the state file with --state "
        "(or MAA_GUARD_STATE)\n",
    )
    assert not (deployed / "state.db").exists()


def test_outbox_of_a_file_without_watch_state(
    main: Main, deployed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = deployed / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE changes (id INTEGER)")
    db.close()
    content = other.read_bytes()
    assert main(["watch", "outbox", "--state", str(other)]) == 2
    assert capsys.readouterr().err == (
        f"error: {other} holds no watch state\n"
        "hint: run 'maa-guard watch --once' first, or name the state file with --state "
        "(or MAA_GUARD_STATE)\n"
    )
    assert other.read_bytes() == content
    (deployed / "text.db").write_text("not sqlite", encoding="utf-8")
    assert main(["watch", "outbox", "--state", "text.db"]) == 2
    assert capsys.readouterr().err == (
        "error: cannot read the watch state text.db: file is not a database\n"
        "hint: name the watch's SQLite state file with --state (or MAA_GUARD_STATE)\n"
    )


def test_the_outbox_statuses_of_the_parser_are_the_listings() -> None:
    assert OUTBOX_STATUSES == STATUS_FILTERS


# ---- the actions and their options -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (
            ["watch", "outbox", "--once"],
            "watch outbox: --once belongs to 'watch run'",
            "use it as 'maa-guard watch run --once ...', or leave it out",
        ),
        (
            ["watch", "test-notify", "--interval", "1m"],
            "watch test-notify: --interval belongs to 'watch run'",
            "use it as 'maa-guard watch run --interval ...', or leave it out",
        ),
        (
            ["watch", "--status", "queued"],
            "watch run: --status belongs to 'watch outbox'",
            "use it as 'maa-guard watch outbox --status ...', or leave it out",
        ),
        (
            ["watch", "test-notify", "--format", "json"],
            "watch test-notify: --format belongs to 'watch outbox'",
            "use it as 'maa-guard watch outbox --format ...', or leave it out",
        ),
        (
            ["watch", "test-notify", "--state", "s.db"],
            "watch test-notify: --state is not used here (nothing is read or recorded)",
            "leave --state out",
        ),
    ],
)
def test_an_option_of_another_action_is_refused(
    main: Main,
    deployed: Path,
    argv: list[str],
    message: str,
    hint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr() == ("", f"error: {message}\nhint: {hint}\n")


def documented_watch_commands() -> list[list[str]]:
    """Every complete `maa-guard watch` command line in the code blocks of README.md and
    docs/watch.md: from `maa-guard watch` to the first shell operator (a synopsis with
    [brackets] and a line shortened with ... are left out)."""
    found = []
    for name in ("README.md", "docs/watch.md"):
        text = (REPO / name).read_text(encoding="utf-8")
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            for line in block.splitlines():
                start = line.find("maa-guard watch")
                if start < 0 or "[" in line[start:] or "..." in line[start:]:
                    continue
                if start > 0 and line[start - 1] not in " /":  # Description=maa-guard watch
                    continue
                found.append(_command(shlex.split(line[start:], comments=True)))
    return found


def _command(words: list[str]) -> list[str]:
    command = []
    for word in words[1:]:
        if word in ("&&", "||", "|", ";") or word.startswith((">", "2>")):
            break
        command.append(word)
    return command


def test_the_documented_watch_commands_parse_as_before() -> None:
    """Each command without an action parses to `run` with exactly the options it names, and
    naming `run` changes nothing; the documented actions parse too."""
    commands = documented_watch_commands()
    assert ["watch", "--once"] in commands
    assert ["watch", "test-notify"] in commands
    assert ["watch", "outbox", "--status", "failed"] in commands
    parser = cli.build_parser()
    for command in commands:
        args = parser.parse_args(command)
        if command[1:2] in (["test-notify"], ["outbox"]):
            assert args.action == command[1]
            continue
        assert args.action == "run", command
        assert vars(args) == vars(parser.parse_args(["watch", "run", *command[1:]])), command
        assert (args.once, args.quiet) == ("--once" in command, "--quiet" in command)
        if "--state" in command:
            assert args.state == Path(command[command.index("--state") + 1])
        if "--config" in command:
            assert args.config == Path(command[command.index("--config") + 1])
        assert (args.status, args.format) == (None, None)
    runs = [c for c in commands if c[1:2] not in (["test-notify"], ["outbox"])]
    assert len(runs) >= 4
