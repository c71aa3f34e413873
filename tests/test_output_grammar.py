"""One output grammar on every command that renders: ``--format FORMAT`` for standard output,
repeatable ``-o/--output [FORMAT=]PATH`` for files, the format from the suffix when not named
(docs/output-formats.md).

Every command runs through the real CLI: offline with ``--demo``, snapshot files, a history
recorded by ``scan --record`` and a fleet tenant whose certificate is missing; ``probe``
against the Graph emulator serving the demo tenant, ``watch outbox`` on the state file a real
``watch --once`` run against the emulator left behind.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_watch_receivers import Receiver
from test_watch_support import file_request
from test_watch_support import fixture as watch_fixture

from maa_guard.cli import main
from maa_guard.cli.options import OUTPUT_FORMATS, SUFFIX_FORMATS, parse_outputs
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot
from maa_guard.storage.files import INPUT_HINT, KIND_HINT

REPO = Path(__file__).resolve().parent.parent
DEMO_FILE = demo_path("snapshot.json")
DEMO = load_snapshot(DEMO_FILE)
EXPLAIN_KEY = "MAA401:625d2bac-69df-4b31-b31c-6bd75b87a8bc"
BROKEN_TENANT = (
    '[[tenants]]\nname = "Broken"\ntenant_id = "0b5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f70"\n'
    'auth = "certificate"\nclient_id = "app"\ncertificate_path = "missing.pem"\n'
)
WEBHOOK = (
    '[[notify]]\nname = "hook"\ntype = "webhook"\nurl_env = "HOOK_URL_VAR"\n'
    'secret_env = "HOOK_KEY_VAR"\n'
)


@dataclass(frozen=True)
class Case:
    """A command as the tests run it: its arguments ({url}, {days} and {state} filled in), its
    exit code, formats, default when piped, and the suffixes its error hint lists."""

    argv: tuple[str, ...]
    code: int
    formats: tuple[str, ...]
    piped: str
    suffixes: str


SCAN = ("table", "json", "sarif", "junit", "html", "markdown", "csv")
TJ, TJM = ("table", "json"), ("table", "json", "markdown")
CASES: dict[str, Case] = {
    "scan": Case(("scan", "--demo"), 1, SCAN, "json",
                 ".json, .sarif, .html, .htm, .md, .markdown, .csv, .junit.xml, .xml or .txt"),
    "inventory": Case(("inventory", "--demo"), 0, TJ, "json", ".json or .txt"),
    "impact": Case(("impact", "--demo"), 1, ("table", "json", "csv", "html"), "json",
                   ".json, .html, .htm, .csv or .txt"),
    "review": Case(("review", "Intune Tag Sync", "--demo"), 1, TJM, "json",
                   ".json, .md, .markdown or .txt"),
    "diff": Case(("diff", "before.json", "after.json"), 0, TJM, "json",
                 ".json, .md, .markdown or .txt"),
    "history list": Case(("history", "list", "--history", "history.db"), 0, TJ, "json",
                         ".json or .txt"),
    "fleet scan": Case(("fleet", "scan", "--tenants", "tenants.toml", "--quiet"), 2,
                       ("table", "json", "html"), "json", ".json, .html, .htm or .txt"),
    "permissions": Case(("permissions",), 0, TJ, "json", ".json or .txt"),
    "rules list": Case(("rules", "list"), 0, TJ, "json", ".json or .txt"),
    "rules show": Case(("rules", "show", "MAA401"), 0, ("markdown", "json"), "markdown",
                       ".json, .md or .markdown"),
    "probe": Case(("probe", "--auth", "token", "--graph-endpoint", "{url}", "--days", "{days}"),
                  0, TJM, "table", ".json, .md, .markdown or .txt"),
    "explain": Case(("explain", EXPLAIN_KEY, "--demo"), 0, TJM, "table",
                    ".json, .md, .markdown or .txt"),
    "watch outbox": Case(("watch", "outbox", "--state", "{state}"), 0, TJ, "json",
                         ".json or .txt"),
}  # fmt: skip
# Reports that hold the time or a fresh salt: two runs differ, so only one run is compared.
CHANGING = frozenset({"fleet scan", "probe"})


@dataclass(frozen=True)
class Served:
    url: str
    days: str
    state: Path
    history: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The emulator for `probe`, a watch state with one delivered message, and a history with
    one recorded demo scan; made once for the module."""
    first = min(e.activity_date_time for e in DEMO.audit_events)
    days = str((datetime.now(timezone.utc) - first).days + 2)
    folder = tmp_path_factory.mktemp("served")
    fixture = fixture_from_snapshot(DEMO)
    with Emulator(fixture, fixed_tokens=True) as emulator, pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
        assert main(["scan", "--demo", "--record", "--history", "history.db", "-o", "r.json"]) == 1
        state = _watch_state(folder, patch)
        yield Served(emulator.url, days, state, folder / "history.db")


def _watch_state(folder: Path, patch: pytest.MonkeyPatch) -> Path:
    """Two `watch --once` runs: a quiet baseline, then one new request told to a webhook."""
    receiver = Receiver().start()
    try:
        with Emulator(watch_fixture(), throttle=False, fixed_tokens=True) as emulator:
            (folder / "maa-guard.toml").write_text(WEBHOOK, encoding="utf-8")
            patch.setenv("HOOK_URL_VAR", receiver.url)
            patch.setenv("HOOK_KEY_VAR", "a signing key of this test")
            patch.setenv("MAA_GUARD_STATE", str(folder / "state.db"))
            argv = ["watch", "--once", "--quiet", "--auth", "token", "--graph-endpoint"]
            assert main([*argv, emulator.url]) == 0
            file_request(emulator)
            assert main([*argv, emulator.url]) == 0
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
    assert len(receiver.posts) == 1
    return folder / "state.db"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: Served) -> Iterator[Path]:
    """An empty working folder with the inputs the cases name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", graphroles.READER_TOKEN)
    for name in ("MAA_GUARD_STATE", "MAA_GUARD_HISTORY", "MAA_GUARD_GRAPH_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    shutil.copyfile(DEMO_FILE, tmp_path / "before.json")
    shutil.copyfile(DEMO_FILE, tmp_path / "after.json")
    shutil.copyfile(served.history, tmp_path / "history.db")
    (tmp_path / "tenants.toml").write_text(BROKEN_TENANT, encoding="utf-8")
    yield tmp_path


def argv_of(command: str, served: Served, *extra: str) -> list[str]:
    fill = {"{url}": served.url, "{days}": served.days, "{state}": str(served.state)}
    return [fill.get(word, word) for word in CASES[command].argv] + list(extra)


def run(
    capsys: pytest.CaptureFixture[str], command: str, served: Served, *extra: str
) -> tuple[int, str, str]:
    code = main(argv_of(command, served, *extra))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def usage_error(
    capsys: pytest.CaptureFixture[str], command: str, served: Served, *extra: str
) -> tuple[int, str, str]:
    """A command that argparse or the handler refuses: (code, stdout, stderr)."""
    try:
        return run(capsys, command, served, *extra)
    except SystemExit as stopped:
        captured = capsys.readouterr()
        return int(str(stopped.code)), captured.out, captured.err


def read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def made_files(folder: Path) -> list[str]:
    """What a command wrote into the working folder (the prepared inputs left out)."""
    inputs = {"before.json", "after.json", "history.db", "tenants.toml"}
    return sorted(p.name for p in folder.iterdir() if p.name not in inputs)


# ---- inference, names, repetition ------------------------------------------------------------


@pytest.mark.parametrize("command", CASES)
def test_a_json_suffix_writes_json(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, command, served, "--format", "json", "-o", "report.json")
    assert (code, err) == (CASES[command].code, "")
    assert read("report.json") == out  # the same report, and JSON
    assert isinstance(json.loads(out), (dict, list))
    assert made_files(workspace) == ["report.json"]


@pytest.mark.parametrize("command", CASES)
def test_named_formats_and_repeated_outputs(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o md=a` and `--output markdown=b` (or `table=`): both files are what --format gives."""
    chosen = "markdown" if "markdown" in CASES[command].formats else "table"
    short = "md" if chosen == "markdown" else "table"
    code, out, err = run(
        capsys, command, served, "--format", chosen, "-o", f"{short}=a.out", "--output",
        f"{chosen}=b.out",
    )  # fmt: skip
    assert (code, err) == (CASES[command].code, "")
    assert read("a.out") == read("b.out") == out
    assert made_files(workspace) == ["a.out", "b.out"]


@pytest.mark.parametrize("command", CASES)
def test_only_files_leave_standard_output_empty(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "report.md" if "markdown" in CASES[command].formats else "report.txt"
    code, out, err = run(capsys, command, served, "-o", "report.json", "--output", other)
    said = f"wrote report.json\nwrote {other}\n"
    if command == "review":
        said = f"review of Intune Tag Sync: do-not-exclude; wrote report.json, {other}\n"
    assert (code, out, err) == (CASES[command].code, "", said)
    assert json.loads(read("report.json"))
    assert made_files(workspace) == sorted(["report.json", other])


def test_every_suffix_names_its_format(tmp_path: Path) -> None:
    specs = ["a.json", "b.sarif", "c.html", "d.htm", "e.md", "f.markdown", "g.csv",
             "h.junit.xml", "i.xml", "j.txt", "k.JSON", "l.Junit.XML"]  # fmt: skip
    files = parse_outputs([("-o", spec) for spec in specs], OUTPUT_FORMATS["scan"])
    assert [(file.format, file.path, file.option) for file in files] == [
        (name, Path(spec), "-o")
        for name, spec in zip(
            ["json", "sarif", "html", "html", "markdown", "markdown", "csv", "junit", "junit",
             "table", "json", "junit"],
            specs,
            strict=True,
        )
    ]  # fmt: skip


# ---- standard output ------------------------------------------------------------------------


@pytest.mark.parametrize("command", CASES)
def test_format_chooses_standard_output_and_the_default_when_piped(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[command]
    code, default, err = run(capsys, command, served)
    assert (code, err) == (case.code, "")
    _, chosen, _ = run(capsys, command, served, "--format", case.piped)
    if command not in CHANGING:
        assert default == chosen
    elif case.piped == "json":
        assert json.loads(default).keys() == json.loads(chosen).keys()
    else:
        assert default.splitlines()[0][:24] == chosen.splitlines()[0][:24]
    for name in case.formats:
        code, out, err = run(capsys, command, served, "--format", name)
        assert (code, err) == (case.code, "") and out.endswith("\n")
        if name == "json":
            json.loads(out)
    assert made_files(workspace) == []


@pytest.mark.parametrize("command", CASES)
def test_an_unknown_stdout_format_is_exit_2_with_the_list(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = usage_error(capsys, command, served, "--format", "pdf")
    line = err.splitlines()[-1]
    assert (code, out) == (2, "")
    assert "error: argument --format: invalid choice: 'pdf' (choose from " in line
    listed = line.split("choose from ")[1].rstrip(")").split(", ")  # quoted before Python 3.12.8
    assert [name.strip("'") for name in listed] == list(CASES[command].formats)


# ---- refused outputs ------------------------------------------------------------------------


@pytest.mark.parametrize("command", CASES)
def test_an_unknown_suffix_is_exit_2_with_the_formats(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[command]
    code, out, err = usage_error(capsys, command, served, "-o", "report.pdf")
    assert (code, out, err) == (
        2,
        "",
        "error: -o 'report.pdf': cannot tell the format from the file name\n"
        f"hint: write FORMAT=FILE, with FORMAT one of {', '.join(case.formats)}, or end the "
        f"name in {case.suffixes}\n",
    )
    assert made_files(workspace) == []


@pytest.mark.parametrize("command", CASES)
def test_an_unknown_format_name_is_exit_2_with_the_formats(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = usage_error(capsys, command, served, "--output", "pdf=report.json")
    assert (code, out, err) == (
        2,
        "",
        "error: --output 'pdf=report.json': unknown format 'pdf'\n"
        f"hint: choose from {', '.join(CASES[command].formats)}\n",
    )
    assert made_files(workspace) == []


@pytest.mark.parametrize("command", [name for name in CASES if name != "scan"])
def test_a_format_the_command_does_not_write_is_exit_2(
    command: str, workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = usage_error(capsys, command, served, "-o", "report.sarif")
    assert (code, out, err) == (
        2,
        "",
        f"error: -o 'report.sarif': {command} does not write sarif\n"
        f"hint: choose from {', '.join(CASES[command].formats)}\n",
    )
    assert made_files(workspace) == []


@pytest.mark.parametrize(
    ("extra", "message", "hint"),
    [
        (["-o", "md="], "-o 'md=': no file after '='", "e.g. -o markdown=finding.md"),
        (["--output", ""], "--output needs a file name", "e.g. --output finding.md"),
        (["-o", "a.json", "--output", "json=./a.json"], "two --output options name the same "
         "file", "give each report its own file"),
    ],
)  # fmt: skip
def test_incomplete_or_repeated_outputs_are_exit_2(
    extra: list[str],
    message: str,
    hint: str,
    workspace: Path,
    served: Served,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "explain", served, *extra)
    assert (code, out, err) == (2, "", f"error: {message}\nhint: {hint}\n")
    assert made_files(workspace) == []


def test_nothing_is_written_when_the_work_fails(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain", "MAA999:nothing", "--demo", "-o", "finding.json", "-o", "finding.md"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err.splitlines()[0]) == (
        "",
        "error: no finding 'MAA999:nothing' in the demo tenant, evaluated now",
    )
    assert made_files(workspace) == []


def test_all_files_or_none(
    workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "blocker").write_text("a file, not a folder", encoding="utf-8")
    code, out, err = run(capsys, "explain", served, "-o", "good.json", "-o", "blocker/bad.md")
    assert (code, out) == (2, "")
    assert err.startswith("error: cannot write blocker/bad.md: ")
    assert made_files(workspace) == ["blocker"]


def test_a_target_that_is_not_a_regular_file_is_refused_before_any_work(
    workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "folder.json").mkdir()
    code, out, err = run(capsys, "rules list", served, "-o", "folder.json")
    assert (code, out) == (2, "")
    assert err == (
        f"error: cannot write folder.json: it is a folder, not a regular file\nhint: {KIND_HINT}\n"
    )


@pytest.mark.parametrize(
    ("command", "target", "label"),
    [
        ("watch outbox", "{state}", "the state file"),
        ("history list", "history.db", "--history"),
        ("diff", "after.json", "B"),
    ],
)
def test_an_input_is_never_an_output(
    command: str,
    target: str,
    label: str,
    workspace: Path,
    served: Served,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(served.state) if target == "{state}" else target
    before = Path(path).read_bytes()
    code, out, err = run(capsys, command, served, "-o", f"json={path}")
    assert (code, out) == (2, "")
    assert err == (
        f"error: cannot write {path}: it is an input of this command ({label})\n"
        f"hint: {INPUT_HINT}\n"
    )
    assert Path(path).read_bytes() == before


def test_explain_never_writes_over_its_report(
    workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--demo", "-o", "report.json"]) == 1
    assert capsys.readouterr() == ("", "wrote report.json\n")
    before = read("report.json")
    code = main(["explain", EXPLAIN_KEY, "--report", "report.json", "-o", "report.json"])
    assert (code, capsys.readouterr().err) == (
        2,
        "error: cannot write report.json: it is an input of this command (--report)\n"
        f"hint: {INPUT_HINT}\n",
    )
    assert read("report.json") == before


def test_watch_outputs_belong_to_the_outbox(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", "--once", "-o", "events.json"]) == 2
    assert capsys.readouterr() == (
        "",
        "error: watch run: --output belongs to 'watch outbox'\n"
        "hint: use it as 'maa-guard watch outbox --output ...', or leave it out\n",
    )
    assert made_files(workspace) == []


# ---- the spellings of before -----------------------------------------------------------------


def test_the_earlier_spellings_still_work(
    workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """As README.md, docs/ci.md, action.yml and the command docs wrote them."""
    assert main(["scan", "--demo", "--output", "sarif=x.sarif", "--output=junit=x.xml"]) == 1
    assert json.loads(read("x.sarif"))["version"] == "2.1.0"
    assert read("x.xml").startswith("<?xml")
    assert main(["scan", "--demo", "--format", "markdown", "--output", "html=x.html"]) == 1
    assert capsys.readouterr().out.startswith("## ❌ maa-guard: FAIL, ")
    assert main(["impact", "--demo", "-o", "impact.html", "-o", "csv=impact.data"]) == 1
    assert read("impact.data").startswith("verdict,app_id,")
    assert main(["review", "Intune Tag Sync", "--demo", "-o", "review.md"]) == 1
    assert read("review.md").startswith("## ❌ maa-guard review: DO-NOT-EXCLUDE\n")
    assert main(["fleet", "scan", "--tenants", "tenants.toml", "--quiet", "--format", "json",
                 "--output", "html=fleet.html", "--output", "json=fleet.json"]) == 2  # fmt: skip
    assert json.loads(capsys.readouterr().out)["counts"]["error"] == 1
    assert json.loads(read("fleet.json"))["counts"]["error"] == 1
    assert main(argv_of("probe", served, "-o", "probe.md", "-o", "json=probe.data")) == 0
    assert json.loads(read("probe.data"))["schema_version"] == 1
    assert main(["diff", "before.json", "after.json", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("## maa-guard diff: ")
    assert made_files(workspace) == sorted(
        ["x.sarif", "x.xml", "x.html", "impact.html", "impact.data", "review.md", "fleet.html",
         "fleet.json", "probe.md", "probe.data"]
    )  # fmt: skip


# ---- permissions -----------------------------------------------------------------------------

PERMISSIONS_TABLE = """\
maa-guard needs 7 Microsoft Graph application permissions (read-only):
  Application.Read.All
  AuditLog.Read.All
  DeviceManagementApps.Read.All
  DeviceManagementRBAC.Read.All
  GroupMember.Read.All
  Policy.Read.All
  User.Read.All
 Data source          Permissions
───────────────────────────────────────────────────────────────────────────────────
 access_policies      DeviceManagementRBAC.Read.All
 exclusions           DeviceManagementRBAC.Read.All, DeviceManagementApps.Read.All
 approval_requests    DeviceManagementRBAC.Read.All
 rbac                 DeviceManagementRBAC.Read.All
 groups               GroupMember.Read.All
 users                User.Read.All
 service_principals   Application.Read.All
 conditional_access   Policy.Read.All
 audit_events         DeviceManagementApps.Read.All
 sign_in_activity     AuditLog.Read.All
"""


def test_permissions_as_json_and_as_a_table(
    workspace: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "permissions", served, "--format", "table") == (0, PERMISSIONS_TABLE, "")
    code, out, err = run(capsys, "permissions", served, "--format", "json")
    document = json.loads(out)
    assert (code, err, document["permissions"]) == (
        0,
        "",
        [
            "Application.Read.All",
            "AuditLog.Read.All",
            "DeviceManagementApps.Read.All",
            "DeviceManagementRBAC.Read.All",
            "GroupMember.Read.All",
            "Policy.Read.All",
            "User.Read.All",
        ],
    )
    assert document["by_source"]["exclusions"] == [
        "DeviceManagementRBAC.Read.All",
        "DeviceManagementApps.Read.All",
    ]
    assert run(capsys, "permissions", served) == (0, out, "")  # piped: JSON, as before


def _jwt(roles: list[str]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'roles': roles})}.sig"


def test_permissions_check_as_a_table_and_as_json(
    workspace: Path,
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    granted = ["DeviceManagementRBAC.Read.All", "DeviceManagementApps.Read.All",
               "GroupMember.Read.All", "User.Read.All", "Application.Read.All"]  # fmt: skip
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", _jwt(granted))
    flags = ["--check", "--auth", "token", "-o", "missing.json", "--format"]
    assert run(capsys, "permissions", served, *flags, "table") == (
        3,
        "the token lacks 2 permission(s): AuditLog.Read.All, Policy.Read.All\n"
        " Data source          Permissions\n"
        "────────────────────────────────────────\n"
        " conditional_access   Policy.Read.All\n"
        " sign_in_activity     AuditLog.Read.All\n",
        "",
    )
    assert json.loads(read("missing.json")) == {
        "missing_by_source": {
            "conditional_access": ["Policy.Read.All"],
            "sign_in_activity": ["AuditLog.Read.All"],
        }
    }
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", _jwt([*granted, "AuditLog.Read.All",
                                                      "Policy.Read.All"]))  # fmt: skip
    assert run(capsys, "permissions", served, *flags, "table") == (
        0,
        "the token holds every permission maa-guard needs\n",
        "",
    )


# ---- the documentation -----------------------------------------------------------------------


def _doc_table(first_header: str) -> list[list[str]]:
    text = (REPO / "docs" / "output-formats.md").read_text(encoding="utf-8")
    start = text.index(f"| {first_header} |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _words(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_documented_table_is_the_code_table() -> None:
    documented = {
        _words(command)[0]: (tuple(_words(formats)), *_words(terminal), *_words(piped))
        for command, formats, terminal, piped in _doc_table("command")
    }
    assert documented == {
        name: (f.formats, f.terminal, f.piped) for name, f in OUTPUT_FORMATS.items()
    }
    assert {name: (case.formats, case.piped) for name, case in CASES.items()} == {
        name: (f.formats, f.piped) for name, f in OUTPUT_FORMATS.items()
    }
    suffixes = {
        suffix: _words(name)[0] for cell, name in _doc_table("suffix") for suffix in _words(cell)
    }
    assert suffixes == SUFFIX_FORMATS
