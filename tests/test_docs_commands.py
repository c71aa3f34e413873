"""Every shell command in README.md and docs/*.md runs as written.

Which blocks hold commands: a fenced block with no language, or ``sh``, ``bash``, ``shell`` or
``console``. Output, synopses and diagrams are fenced as ``text`` (a synopsis is checked against
its command's parser instead); ``yaml``, ``toml``, ``json``, ``python``, ``cron`` and ``ini`` are
not shell (the runbook ``docs/examples/runbook.py`` runs in ``tests/test_approval_runbook.py``).
In a ``console`` block only what follows a ``$ `` prompt is a command. A line ending in ``\\``
goes on in the next.

How: each block runs in an empty folder of its own, with a ``HOME`` of its own (so the default
state and history files are new), command by command through ``bash`` (``maa-guard`` is this
interpreter's), against a loopback Graph emulator of its own serving the demo tenant,
``Emulator(fixture_from_snapshot(demo), fixed_tokens=True)`` (a block may write to it: file
requests, change exclusions). A line ending in ``&`` starts in the background and is waited for
until its port answers; ``kill %1`` stops it, and so does the end of the block. ``AZURE_*``,
``MAA_GUARD_*`` and ``XDG_*`` variables of the test run are left out.

Placeholders, replaced in a command or prepared in the block's folder before it runs:

- ``--auth METHOD`` (``env``, ``azure-cli``, ...) and ``MAA_GUARD_AUTH=METHOD``: ``--auth token``
  and ``MAA_GUARD_AUTH=token`` with the emulator as ``--graph-endpoint`` /
  ``MAA_GUARD_GRAPH_ENDPOINT`` (kept where the command names one; ``127.0.0.1:8765`` and
  ``127.0.0.1:8080`` become the emulator's port, or a free port for a block that starts its own
  emulator). ``MAA_GUARD_ACCESS_TOKEN`` is the reader's token (``maa-guard-reader``), or in a
  block that writes (``exclusions submit``, ``request submit``, ``requests complete``) the token
  of an Intune administrator (Megan Bowen, delegated, with the reader's read permissions: the
  submit reviews the app again, live), which the harness adds to the fixture.
- A command that collects with no input flag through the default sign-in chain
  (``snapshot``, ``probe``, ``watch``, ``exclusions submit``, ``request submit``,
  ``requests ...``) and names no connection: ``--auth token --graph-endpoint <emulator>``. Other
  commands get no connection: ``scan``, ``review``, ``impact`` or ``exclusions draft`` without
  an input flag fail, as they would for a user without a configured connection.
- ``tenant.json``: a snapshot of the emulator's tenant, written once by ``maa-guard snapshot``.
- ``maa_guard/data/demo/snapshot.json``: the demo snapshot of the installed package.
- ``APP``: ``"Remediation Script Publisher"``, a demo app whose review says ``ok``.
- ``CODE`` and ``9e0e406b-...``: the code of the request the block filed last; a second
  administrator (Isaiah Langer, in the approver groups) approves it as soon as it is filed.
- ``/deviceManagement/...``: a demo role definition; ``/mobileApps/4f1c...``: the demo's app;
  a ``--body FILE`` the block did not write: ``{"displayName": "maa-guard docs"}``.
- ``tenants.toml``, ``t.toml``: a fleet file with one tenant, the demo on the emulator.
- ``before.json``, ``after.json``: the demo snapshot and ``tenant.json``.
- ``maa-guard diff`` of recorded scans: one scan of the demo recorded in the block's default
  history first; ``diff 12 15``: ``diff 1 2``.
- ``postgresql://...``: ``MAA_GUARD_TEST_POSTGRES_URL`` in a schema of its own (that command is
  skipped, saying so, without a server).
- ``maa-guard watch``: a ``maa-guard.toml`` with one ``[[notify]]`` webhook, a loopback receiver
  that takes every message; ``watch outbox`` first in a block: one ``watch --once`` before it.

Exit codes: a command must exit 0 unless ``EXIT_CODES`` names it with the code the docs give
(the demo tenant fails rules, so a scan of it exits 1); a traceback or ``internal error`` fails
it whatever its code. Commands that cannot run here are in ``SKIPPED``, each with its reason.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_history_helpers import NO_POSTGRES, POSTGRES_URL, postgres_schema

from maa_guard.cli import build_parser
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
SHELL_LANGUAGES = frozenset({"", "sh", "bash", "shell", "console"})
OTHER_LANGUAGES = frozenset({"text", "yaml", "toml", "json", "python", "cron", "ini"})
DEMO = demo_path("snapshot.json")
BIN = Path(sys.executable).parent
TIMEOUT = 120.0

MEGAN = "d3ba6514-92d0-4ae4-bf0b-503c75a0026f"  # Intune administrator: files requests
APPROVER = "b8e9ad6c-3b4e-427d-81c8-2b9eff7487f7"  # Isaiah Langer: in the approver groups
ADMIN_TOKEN = "maa-guard-admin"
APP = "Remediation Script Publisher"
ROLE_DEFINITION = "9776242c-f762-4f5d-98c5-8312e1bd3590"
MOBILE_APP = "1fe65449-87d2-53d5-a461-0124d7ec729d"
SAMPLE_CODE = "9e0e406b-6822-45bb-b015-bfc1bfa5dd58"
WEBHOOK_VARIABLE = "MAA_DOCS_WEBHOOK_URL"

DEMO_FAILS = 1  # README: the demo is "a tenant in which every rule fails somewhere"
VERDICT_NOT_OK = 1  # docs/review.md: needs-hardening or do-not-exclude
BLOCKED = 1  # docs/impact.md: at least one will-be-blocked app
WORST_TENANT = 1  # docs/fleet.md: the worst tenant's code; the demo's scan exits 1

# (document, command as written less its comment): the exit code the docs give for it.
EXIT_CODES: dict[tuple[str, str], int] = {
    ("README.md", "maa-guard scan --demo"): DEMO_FAILS,
    (
        "README.md",
        "maa-guard scan --snapshot tenant.json --output sarif=maa-guard.sarif "
        "--output html=report.html",
    ): DEMO_FAILS,
    ("README.md", "maa-guard scan --auth workload-identity --output sarif=maa-guard.sarif"): (
        DEMO_FAILS
    ),
    (
        "README.md",
        "MAA_GUARD_AUTH=azure-cli MAA_GUARD_TENANT_ID=contoso.onmicrosoft.com maa-guard scan",
    ): DEMO_FAILS,
    (
        "README.md",
        "MAA_GUARD_ACCESS_TOKEN=maa-guard-reader maa-guard scan --auth token "
        "--graph-endpoint http://127.0.0.1:8765 --days 365",
    ): DEMO_FAILS,
    ("README.md", 'maa-guard review "Intune Tag Sync" --demo'): VERDICT_NOT_OK,
    ("README.md", "maa-guard impact --demo --output html=impact.html"): BLOCKED,
    ("README.md", "maa-guard scan --auth env --record"): DEMO_FAILS,
    ("README.md", "maa-guard scan --auth env --since tenant.json"): DEMO_FAILS,
    (
        "README.md",
        "maa-guard fleet scan --tenants tenants.toml --parallel 8 --out-dir reports/",
    ): WORST_TENANT,
    ("docs/configuration.md", "MAA_GUARD_TRUST_DECLARED_EXCLUSIONS=yes maa-guard scan --demo"): (
        DEMO_FAILS
    ),
    (
        "docs/fleet.md",
        "maa-guard fleet scan --tenants tenants.toml --parallel 8 --out-dir reports/ "
        "--output html=reports/fleet.html --output json=reports/fleet.json",
    ): WORST_TENANT,
    ("docs/history.md", "maa-guard scan --auth env --record"): DEMO_FAILS,
    (
        "docs/history.md",
        "maa-guard fleet scan --tenants t.toml --record --history postgresql://maa@db.internal/maa",
    ): WORST_TENANT,
    (
        "docs/output-formats.md",
        'maa-guard scan --demo --format table --severity high --status fail --resource "tag sync"',
    ): DEMO_FAILS,
    ("docs/output-formats.md", "maa-guard scan --demo --framework nist-800-53 --format markdown"): (
        DEMO_FAILS
    ),
    (
        "docs/output-formats.md",
        "maa-guard scan --demo -o report.sarif -o md=summary.md --output html=report.html",
    ): DEMO_FAILS,
    ("docs/output-formats.md", "maa-guard impact --demo --format table -o impact.html"): BLOCKED,
    ("docs/review.md", 'maa-guard review --demo "Intune Tag Sync"'): VERDICT_NOT_OK,
    (
        "docs/review.md",
        "maa-guard review 625d2bac-69df-4b31-b31c-6bd75b87a8bc --auth azure-cli -o review.md",
    ): VERDICT_NOT_OK,
    (
        "docs/review.md",
        'maa-guard review "Patch My PC Cloud" --snapshot tenant.json --format json',
    ): VERDICT_NOT_OK,
}

INSTALLS = "installs the package: .ci/run installs this checkout the same way"
CI_RUNS_IT = ".ci/run runs it (the test suite, lint and type checks of the checkout)"
# (document, command as written less its comment): why it cannot run here.
SKIPPED: dict[tuple[str, str], str] = {
    ("README.md", "git clone <this repository> maa-guard && cd maa-guard"): INSTALLS,
    ("README.md", "python3 -m venv .venv && . .venv/bin/activate"): INSTALLS,
    ("README.md", "pip install ."): INSTALLS,
    ("README.md", 'pip install ".[postgres]"'): INSTALLS,
    ("README.md", 'pip install -e ".[test]"'): INSTALLS,
    ("README.md", "python -m pytest"): CI_RUNS_IT,
    ("README.md", "ruff check . && mypy --strict maa_guard"): CI_RUNS_IT,
    ("README.md", "python tests/benchmarks/bench_scan.py"): "a benchmark of minutes, not a check",
    ("docs/history.md", 'eval "$(.ci/postgres)"'): CI_RUNS_IT,
    ("docs/history.md", "python -m pytest tests/test_history*.py"): CI_RUNS_IT,
    ("docs/history.md", ".ci/postgres stop"): CI_RUNS_IT,
    # Grants admin consent in a real tenant with the Azure CLI.
    **{
        ("docs/permissions.md", key): "needs `az login` to a real tenant, as a Global Administrator"
        for key in (
            "APP_ID=<the auditor application's appId>",
            "GRAPH=00000003-0000-0000-c000-000000000000",
            "for permission in DeviceManagementRBAC.Read.All DeviceManagementApps.Read.All "
            "Application.Read.All GroupMember.Read.All User.Read.All Policy.Read.All "
            "AuditLog.Read.All",
            "do",
            'role=$(az ad sp show --id "$GRAPH" --query '
            "\"appRoles[?value=='$permission'].id\" -o tsv)",
            'az ad app permission add --id "$APP_ID" --api "$GRAPH" --api-permissions "$role=Role"',
            "done",
            'az ad app permission admin-consent --id "$APP_ID"',
        )
    },
}


@dataclass(frozen=True)
class Command:
    line: int
    text: str

    @property
    def key(self) -> str:
        return " ".join(re.sub(r"(^|\s)#\s.*$", "", self.text).split())


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    language: str
    commands: tuple[Command, ...]

    @property
    def name(self) -> str:
        return f"{self.document}:{self.line}"


def fenced_blocks(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line of the opening fence, language, lines) of every fenced block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^(```+|~~~+)\s*([\w-]*)", lines[index])
        if opening is None:
            index += 1
            continue
        fence, language = opening.groups()
        end = index + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        yield index + 1, language, lines[index + 1 : end]
        index = end + 1


def commands_of(language: str, first_line: int, lines: list[str]) -> tuple[Command, ...]:
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, first_line + 1):
        line = raw
        if not pending:
            if language == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        found.append(Command(start, " ".join(part.strip() for part in [*pending, line])))
        pending = []
    return tuple(found)


def shell_blocks() -> list[Block]:
    blocks: list[Block] = []
    for path in DOCUMENTS:
        document = str(path.relative_to(REPO))
        for line, language, lines in fenced_blocks(path):
            if language in SHELL_LANGUAGES:
                commands = commands_of(language, line, lines)
                blocks.append(Block(document, line, language, commands))
    return blocks


BLOCKS = shell_blocks()


# -- the tenant, the receiver and the block's run ------------------------------------------------


@dataclass(frozen=True)
class Served:
    fixture: dict[str, Any]
    snapshot: Path
    webhook: str


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that takes every message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _admin_fixture() -> dict[str, Any]:
    fixture = fixture_from_snapshot(load_snapshot(DEMO))
    scopes = [*graphroles.READER_ROLES, *graphroles.DELEGATED_SCOPES]
    fixture["tokens"][ADMIN_TOKEN] = {"kind": "user", "userId": MEGAN, "scp": " ".join(scopes)}
    return fixture


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    folder = tmp_path_factory.mktemp("docs-tenant")
    fixture = _admin_fixture()
    try:
        with Emulator(copy.deepcopy(fixture), fixed_tokens=True) as emulator:
            command = (
                f"maa-guard snapshot -o tenant.json --auth token --graph-endpoint {emulator.url}"
            )
            written = _bash(command, folder, _environment(folder, graphroles.READER_TOKEN))
        assert written.returncode == 0, written.stderr
        webhook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        yield Served(fixture, folder / "tenant.json", webhook)
    finally:
        receiver.shutdown()
        receiver.server_close()


def _environment(home: Path, token: str) -> dict[str, str]:
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MAA_GUARD_", "AZURE_", "XDG_"))
    }
    return {
        **kept,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "MAA_GUARD_ACCESS_TOKEN": token,
    }


def _bash(
    command: str, folder: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the background command exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after 30 s")


WRITES = re.compile(r"maa-guard (exclusions submit|request submit|requests complete)\b")
FILES = re.compile(r"maa-guard (exclusions submit|request submit)\b")
CODE_SHOWN = re.compile(r'(?:"code":\s*"|^code\s+)([0-9a-f]{8}-[0-9a-f-]{27})', re.MULTILINE)
# Commands that collect from Graph with no input flag, through the default sign-in chain.
ALWAYS_LIVE = re.compile(
    r"maa-guard (requests (list|status|wait|complete|cancel)|request submit|exclusions submit"
    r"|snapshot|probe|watch( run)?(?! test-notify| outbox))\b"
)
RECORDED_DIFF = re.compile(r"^maa-guard diff( \d| -|$)")


@dataclass
class BlockRun:
    block: Block
    served: Served
    emulator: Emulator
    folder: Path
    environment: dict[str, str]
    own_port: int | None = None
    code: str | None = None
    postgres_url: str | None = None
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.own_port or self.emulator.port

    def substitute(self, text: str) -> str:
        text = text.replace("maa_guard/data/demo/snapshot.json", str(DEMO))
        text = re.sub(r"127\.0\.0\.1:(8765|8080)\b", f"127.0.0.1:{self.port}", text)
        text = re.sub(r"--port (8765|8080)\b", f"--port {self.port}", text)
        text = re.sub(r"\bAPP\b", f'"{APP}"', text)
        text = text.replace(
            "/deviceManagement/...", f"/deviceManagement/roleDefinitions/{ROLE_DEFINITION}"
        )
        text = text.replace("/mobileApps/4f1c...", f"/mobileApps/{MOBILE_APP}")
        text = re.sub(r"\bdiff 12 15\b", "diff 1 2", text)
        if self.postgres_url is not None:
            text = re.sub(r"postgresql://\S+", shlex.quote(self.postgres_url), text)
        if re.search(rf"\bCODE\b|{SAMPLE_CODE}", text):
            text = re.sub(rf"\bCODE\b|{SAMPLE_CODE}", self.code or "(no request filed)", text)
        parts = re.split(r"(\s(?:&&|\|\||;|\|)\s|;\s)", text)
        return "".join(self._connected(part) for part in parts)

    def _connected(self, command: str) -> str:
        """The sign-in a simple command names, or the default chain it falls back to, made the
        emulator's: a named method becomes ``--auth token``."""
        endpoint = f"http://127.0.0.1:{self.port}"
        if re.search(r"\bMAA_GUARD_AUTH=", command):
            command = re.sub(r"\bMAA_GUARD_AUTH=\S+", "MAA_GUARD_AUTH=token", command)
            if "MAA_GUARD_GRAPH_ENDPOINT=" not in command:
                command = f"MAA_GUARD_GRAPH_ENDPOINT={endpoint} {command}"
        if re.search(r"--auth\b", command):
            command = re.sub(r"--auth [\w-]+", "--auth token", command)
            if "--graph-endpoint" not in command:
                command = re.sub(
                    r"--auth token", f"--auth token --graph-endpoint {endpoint}", command
                )
        elif "--graph-endpoint" not in command and "MAA_GUARD_AUTH=" not in command:
            command = ALWAYS_LIVE.sub(rf"\g<0> --auth token --graph-endpoint {endpoint}", command)
        return command

    def prepare(self) -> None:
        keys = [command.key for command in self.block.commands]
        text = "\n".join(keys)
        if "tenant.json" in text:
            shutil.copyfile(self.served.snapshot, self.folder / "tenant.json")
        if "before.json" in text:
            shutil.copyfile(DEMO, self.folder / "before.json")
            shutil.copyfile(self.served.snapshot, self.folder / "after.json")
        for name in ("tenants.toml", "t.toml"):
            if name in text:
                self._fleet_file(self.folder / name)
        if "maa-guard watch" in text:
            self._watch_config()
        if any(RECORDED_DIFF.match(key) for key in keys):
            self._prepared("maa-guard scan --demo --record --quiet --format json", 1)
        if keys and keys[0].startswith("maa-guard watch outbox"):
            self._prepared(self.substitute("maa-guard watch --once --quiet"), 0)
        if any(key.endswith("&") for key in keys):
            self.own_port = _free_port()

    def _fleet_file(self, path: Path) -> None:
        tenant = load_snapshot(DEMO).tenant.id
        path.write_text(
            "[[tenants]]\n"
            'name = "Contoso demo"\n'
            f'tenant_id = "{tenant}"\n'
            'auth = "token"\n'
            f'graph_endpoint = "{self.emulator.url}"\n'
            'token_env = "DEMO_TENANT_TOKEN"\n',
            encoding="utf-8",
        )
        self.environment["DEMO_TENANT_TOKEN"] = graphroles.READER_TOKEN

    def _watch_config(self) -> None:
        (self.folder / "maa-guard.toml").write_text(
            "[[notify]]\n"
            'name = "siem"\n'
            'type = "webhook"\n'
            f'url_env = "{WEBHOOK_VARIABLE}"\n'
            'secret_env = "MAA_DOCS_WEBHOOK_KEY"\n',
            encoding="utf-8",
        )
        self.environment[WEBHOOK_VARIABLE] = self.served.webhook
        self.environment["MAA_DOCS_WEBHOOK_KEY"] = "docs-test-signing-key"

    def _prepared(self, command: str, exit_code: int) -> None:
        done = _bash(command, self.folder, self.environment)
        assert done.returncode == exit_code, f"{command}: {done.stderr}"

    def run(self, command: Command) -> None:
        text = self.substitute(command.text)
        if command.key == "kill %1":
            self.stop_background()
            return
        if command.key.endswith("&"):
            self.start_background(text.rstrip()[:-1])
            return
        body = re.search(r"--body (\S+)", text)
        if body is not None and not (self.folder / body.group(1)).exists():
            (self.folder / body.group(1)).write_text('{"displayName": "maa-guard docs"}\n')
        done = _bash(text, self.folder, self.environment)
        expected = EXIT_CODES.get((self.block.document, command.key), 0)
        problem = ""
        if done.returncode != expected:
            problem = f"exit {done.returncode}, expected {expected}"
        elif "Traceback" in done.stderr or "internal error" in done.stderr + done.stdout:
            problem = "a traceback or an internal error"
        if problem:
            self.failures.append(
                f"{self.block.document}:{command.line}: {command.text}\n  ran: {text}\n"
                f"  {problem}\n  stdout: {done.stdout[-1500:]}\n  stderr: {done.stderr[-1500:]}"
            )
        if FILES.search(text):
            self._approve(done.stdout + "\n" + done.stderr)

    def _approve(self, output: str) -> None:
        """A second administrator approves the request the command filed."""
        shown = CODE_SHOWN.search(output)
        if shown is None:
            return
        self.code = shown.group(1)
        url = f"{self.emulator.url}/beta/deviceManagement/operationApprovalRequests"
        answer = httpx.post(
            f"{url}/{self.code}/approve",
            json={"justification": "checked", "approvalSource": "adminConsole"},
            headers={"Authorization": f"Bearer {graphroles.user_token(APPROVER)}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    def start_background(self, text: str) -> None:
        with (self.folder.parent / f"background-{len(self.background)}.log").open("wb") as log:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                cwd=self.folder,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.background.append(process)
        _wait_for_port(self.port, process)

    def stop_background(self) -> None:
        """Ctrl-C to every background command, as ``kill %1`` or the end of the block."""
        while self.background:
            number = len(self.background) - 1
            process = self.background.pop()
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            log = (self.folder.parent / f"background-{number}.log").read_text(errors="replace")
            if "Traceback" in log or "internal error" in log:
                self.failures.append(f"{self.block.name}: a background command failed:\n{log}")


def _token_for(block: Block) -> str:
    writes = any(WRITES.search(command.text) for command in block.commands)
    return ADMIN_TOKEN if writes else graphroles.READER_TOKEN


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_every_command_of_the_block_runs_as_written(
    block: Block, served: Served, tmp_path: Path
) -> None:
    skipped = {
        c.key: SKIPPED[(block.document, c.key)] for c in block.commands if _skipped(block, c)
    }
    if len(skipped) == len(block.commands):
        pytest.skip("; ".join(sorted(set(skipped.values()))))
    needs_postgres = [c.key for c in block.commands if "postgresql://" in c.key]
    if needs_postgres and not POSTGRES_URL:
        skipped.update((key, NO_POSTGRES) for key in needs_postgres)
    folder = tmp_path / "work"
    folder.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(Emulator(copy.deepcopy(served.fixture), fixed_tokens=True))
        run = BlockRun(block, served, emulator, folder, _environment(home, _token_for(block)))
        if needs_postgres and POSTGRES_URL:
            run.postgres_url = stack.enter_context(postgres_schema())
        stack.callback(run.stop_background)
        run.prepare()
        for command in block.commands:
            if command.key not in skipped:
                run.run(command)
    assert not run.failures, "\n\n".join(run.failures)
    if skipped:
        pytest.skip(f"every other command ran; not run: {skipped}")


def _skipped(block: Block, command: Command) -> bool:
    return (block.document, command.key) in SKIPPED


# -- the tables and the other blocks ------------------------------------------------------------


def test_every_fenced_block_says_whether_it_holds_commands() -> None:
    unknown = [
        f"{path.relative_to(REPO)}:{line}: {language!r}"
        for path in DOCUMENTS
        for line, language, _ in fenced_blocks(path)
        if language not in SHELL_LANGUAGES | OTHER_LANGUAGES
    ]
    assert unknown == []


def test_every_table_entry_names_a_command_of_the_docs() -> None:
    written = {(block.document, command.key) for block in BLOCKS for command in block.commands}
    assert sorted(set(EXIT_CODES) - written) == []
    assert sorted(set(SKIPPED) - written) == []


def _synopses() -> Iterator[tuple[str, str]]:
    """(where, text) of each ``maa-guard ...`` synopsis in a ``text`` block; continuation lines
    are indented."""
    for path in DOCUMENTS:
        for line, language, lines in fenced_blocks(path):
            if language != "text":
                continue
            current: list[str] = []
            for number, text in enumerate(lines, line + 1):
                if text.startswith("maa-guard "):
                    if current:
                        yield current[0], " ".join(current[1:])
                    current = [f"{path.relative_to(REPO)}:{number}", text]
                elif current and text.startswith(" "):
                    current.append(text.strip())
            if current:
                yield current[0], " ".join(current[1:])


SYNOPSES = list(_synopses())


def _options_of(words: list[str]) -> tuple[list[str], set[str]]:
    """The command a synopsis names (its leading words that are subcommands) and the options
    its parser accepts."""
    parser = build_parser()
    command: list[str] = []
    for word in words:
        choices = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not choices or word not in choices[0].choices:
            break
        parser = choices[0].choices[word]
        command.append(word)
    return command, {option for action in parser._actions for option in action.option_strings}


@pytest.mark.parametrize(("where", "synopsis"), SYNOPSES, ids=[w for w, _ in SYNOPSES])
def test_a_synopsis_names_only_options_its_command_has(where: str, synopsis: str) -> None:
    # A ``text`` block is not run, so a command in one must read as a synopsis, not a command.
    assert re.search(r"[\[(|]|\b[A-Z]{2,}\b", synopsis), f"{where}: a command in a text block"
    command, accepted = _options_of(synopsis.split()[1:])
    assert command, f"{where}: names no maa-guard command"
    named = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", synopsis))
    assert sorted(named - accepted) == [], f"{where}: maa-guard {' '.join(command)}"
