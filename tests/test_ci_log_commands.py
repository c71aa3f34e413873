"""Tenant strings cannot run CI log commands through anything a command writes to stdout.

Azure Pipelines acts on ``##vso[area.event ...]`` anywhere in a line (and formats by ``##[...]``),
GitHub Actions on a line whose first non-space characters are ``::`` and on its legacy
``##[command]`` anywhere. .NET compares culture-sensitively, so characters it ignores (a
soft hyphen, a zero-width space) between the characters of a command count for nothing.

Every hostile string goes through the real commands; each output line is checked the way the
runners read it, and JSON on stdout must read back to exactly the data of the JSON file.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_approval_support import APP_URL, Clock, running

from maa_guard.cli import main
from maa_guard.emulator import Emulator, fixture_from_snapshot, graphroles
from maa_guard.reporters.cilog import neutral_json, neutral_lines, neutral_xml
from maa_guard.scan.served import demo_path
from maa_guard.snapshot.file import load_snapshot

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

VSO = "##vso[task.setvariable variable=x]1"
VSO_UPPER = "##VSO[task.prependpath]/tmp/evil"
GH_ERROR = "::error file=x::pwned"
GH_MASK = "::add-mask::secret"
LEGACY = "##[error]legacy"
INDENTED = "  ::warning::indented"
SOFT_HYPHEN = "#\u00ad#vso[task.complete]soft"
ZERO_WIDTH = "\u200b::error::zero-width"
NEWLINE = "ok\n::error::after a newline"
# Many short words: wherever rich wraps the cell, the next line starts with ``::notice``.
WRAPPING = "::notice::wrap " * 14
HOSTILE = (
    VSO,
    VSO_UPPER,
    GH_ERROR,
    GH_MASK,
    LEGACY,
    INDENTED,
    SOFT_HYPHEN,
    ZERO_WIDTH,
    NEWLINE,
    WRAPPING,
)
TAG_SYNC = "625d2bac-69df-4b31-b31c-6bd75b87a8bc"
PATCH_MY_PC = "350f6c08-5658-4455-a594-a9245970fd44"
_COMMAND = re.compile(r"##(?:vso)?\[", re.IGNORECASE)


def _visible(line: str) -> str:
    """The line as .NET matches it: control and format characters count for nothing."""
    return "".join(c for c in line if unicodedata.category(c) not in ("Cc", "Cf"))


def assert_inert(text: str) -> None:
    assert text, "the command wrote nothing"
    for line in re.split(r"\r\n|\r|\n", text):
        seen = _visible(line)
        assert not _COMMAND.search(seen), line
        assert not seen.lstrip().startswith("::"), line


def assert_wrapped_at_a_line_start(text: str) -> None:
    """The wrapping name did put a command at a line start, which came out neutralised."""
    assert any(line.lstrip().startswith("\\::notice::wrap") for line in text.splitlines())


def strings(data: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)


def hostile_snapshot() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(demo_path("snapshot.json").read_text(encoding="utf-8"))
    names = itertools.cycle(HOSTILE)
    document["tenant"]["display_name"] = VSO_UPPER
    for key in ("groups", "policies", "service_principals", "users"):
        for item in document[key]:
            item["displayName"] = next(names)
    for request in document["approval_requests"]:
        request["requestJustification"] = next(names)
        request["approvalJustification"] = next(names)
        for side in ("requestor", "approver"):
            if request.get(side) and request[side].get("user"):
                request[side]["user"]["displayName"] = next(names)
    for event in document["audit_events"]:
        event["actor"]["applicationDisplayName"] = next(names)
        for resource in event["resources"]:
            resource["displayName"] = next(names)
    (patch,) = [sp for sp in document["service_principals"] if sp["appId"] == PATCH_MY_PC]
    patch["displayName"] = WRAPPING  # a will-be-blocked app: the impact table shows its name
    return document


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(hostile_snapshot()), encoding="utf-8")
    return path


@pytest.fixture
def config() -> str:
    return str(demo_path("maa-guard.toml"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "internal error" not in err, err
    return code, out


# ---- the neutralising functions ---------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_neutral_lines_leaves_no_command(text: str) -> None:
    assert_inert(neutral_lines(text + "\n" + text))


def test_neutral_lines_marks_what_it_changes_and_nothing_else() -> None:
    assert (
        neutral_lines("a ##vso[x]1 ##VSO[y] ##[error]e") == "a #\\#vso[x]1 #\\#VSO[y] #\\#[error]e"
    )
    assert (
        neutral_lines("::error::x\n  ::add-mask::y\na::b")
        == "\\::error::x\n  \\::add-mask::y\na::b"
    )
    assert neutral_lines("###vso[x]") == "##\\#vso[x]"
    assert neutral_lines("## heading [x] and :: in the middle\n") == (
        "## heading [x] and :: in the middle\n"
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_neutral_json_reads_back_exactly(text: str) -> None:
    data = {text: [text, {"k": text}], "plain": "a::b ##vso["}
    for encoded in (
        json.dumps(data, ensure_ascii=False),
        json.dumps(data, indent=2),
        json.dumps(data, ensure_ascii=False, indent=2),
    ):
        escaped = neutral_json(encoded)
        assert_inert(escaped)
        assert "::" not in escaped
        assert json.loads(escaped) == data


def test_neutral_xml_reads_back_exactly() -> None:
    root = ET.Element("failure", message=VSO)
    root.text = "\n".join(HOSTILE)
    text = ET.tostring(root, encoding="unicode")
    escaped = neutral_xml(text)
    assert_inert(escaped)
    assert ET.canonicalize(escaped) == ET.canonicalize(text)


# ---- scan -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "html"])
def test_scan_text_formats_on_stdout_are_inert(
    fmt: str, snapshot: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["scan", "--snapshot", str(snapshot), "--config", config, "--format", fmt]
    code, out = run(capsys, *argv, "--show-suppressed")
    assert code == 1
    assert_inert(out)
    if fmt == "table":
        assert_wrapped_at_a_line_start(out)
        assert "#\\#VSO[task.prependpath]/tmp/evil" in out


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_scan_json_on_stdout_is_inert_and_reads_back_as_the_file(
    fmt: str, snapshot: Path, config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / f"report.{fmt}"
    argv = ["scan", "--snapshot", str(snapshot), "--config", config, "--format", fmt]
    code, out = run(capsys, *argv, "--output", f"{fmt}={file}")
    assert code == 1
    assert_inert(out)
    written = file.read_text(encoding="utf-8")
    assert VSO_UPPER in written  # the file keeps the exact data
    assert json.loads(out) == json.loads(written)


def test_scan_junit_on_stdout_is_inert_and_parses_as_the_file(
    snapshot: Path, config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "report.xml"
    argv = ["scan", "--snapshot", str(snapshot), "--config", config, "--format", "junit"]
    code, out = run(capsys, *argv, "--output", f"junit={file}")
    assert code == 1
    assert_inert(out)
    written = file.read_text(encoding="utf-8")
    assert _COMMAND.search(written)
    assert ET.canonicalize(out.split("\n", 1)[1]) == ET.canonicalize(written.split("\n", 1)[1])


def test_inventory_on_stdout_is_inert(
    snapshot: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("table", "json"):
        code, out = run(capsys, "inventory", "--snapshot", str(snapshot), "--format", fmt)
        assert code == 0
        assert_inert(out)
    assert json.loads(out)["tenant"]["display_name"] == VSO_UPPER


def test_exclusions_export_on_stdout_is_inert_and_valid_toml(
    snapshot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "exclusions", "export", "--snapshot", str(snapshot))
    assert code == 0
    assert_inert(out)
    policies = {entry["policy"] for entry in tomllib.loads(out)["exclusions"]}
    assert policies & set(HOSTILE)


# ---- impact, review -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "csv", "html"])
def test_impact_text_formats_on_stdout_are_inert(
    fmt: str, snapshot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "impact", "--snapshot", str(snapshot), "--format", fmt)
    assert code == 1
    assert_inert(out)
    if fmt == "table":
        assert_wrapped_at_a_line_start(out)


def test_impact_json_on_stdout_reads_back_as_the_file(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "impact.json"
    argv = ["impact", "--snapshot", str(snapshot), "--format", "json", "-o", f"json={file}"]
    code, out = run(capsys, *argv)
    assert code == 1
    assert_inert(out)
    written = json.loads(file.read_text(encoding="utf-8"))
    assert WRAPPING in set(strings(written))  # the file keeps the exact data
    assert json.loads(out) == written


@pytest.mark.parametrize("app", [TAG_SYNC, PATCH_MY_PC])
def test_review_on_stdout_is_inert_and_json_reads_back_as_the_file(
    app: str, snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("table", "markdown"):
        code, out = run(capsys, "review", app, "--snapshot", str(snapshot), "--format", fmt)
        assert code == 1
        assert_inert(out)
    file = tmp_path / "review.json"
    assert run(capsys, "review", app, "--snapshot", str(snapshot), "-o", str(file))[0] == 1
    code, out = run(capsys, "review", app, "--snapshot", str(snapshot), "--format", "json")
    assert_inert(out)
    written = file.read_text(encoding="utf-8")
    assert _COMMAND.search(written)
    assert json.loads(out) == json.loads(written)


# ---- history ------------------------------------------------------------------------------


def test_history_list_on_stdout_is_inert(
    snapshot: Path, config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = str(tmp_path / "history.db")
    argv = ["scan", "--snapshot", str(snapshot), "--config", config, "--format", "json"]
    assert run(capsys, *argv, "--record", "--history", history)[0] == 1
    code, out = run(capsys, "history", "list", "--history", history, "--format", "table")
    assert code == 0
    assert_inert(out)
    code, out = run(capsys, "history", "list", "--history", history, "--format", "json")
    assert code == 0
    assert_inert(out)
    assert [scan["tenant_name"] for scan in json.loads(out)["scans"]] == [VSO_UPPER]


def test_diff_on_stdout_is_inert_and_json_reads_back_as_the_file(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = hostile_snapshot()
    for offset, group in enumerate(changed["groups"]):
        group["displayName"] = HOSTILE[(offset + 3) % len(HOSTILE)]
    changed["service_principals"][0]["displayName"] = WRAPPING + "v2"
    after = tmp_path / "after.json"
    after.write_text(json.dumps(changed), encoding="utf-8")
    for fmt in ("table", "markdown"):
        code, out = run(capsys, "diff", str(snapshot), str(after), "--format", fmt)
        assert code == 0
        assert_inert(out)
    file = tmp_path / "drift.json"
    diff = ["diff", str(snapshot), str(after), "--format", "json"]
    assert run(capsys, *diff, "-o", str(file))[0] == 0
    code, out = run(capsys, *diff)
    assert code == 0
    assert_inert(out)
    written = file.read_text(encoding="utf-8")
    assert _COMMAND.search(written)
    assert json.loads(out) == json.loads(written)


# ---- requests -----------------------------------------------------------------------------


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAA_GUARD_ACCESS_TOKEN", "automation")
    monkeypatch.delenv("MAA_GUARD_STATE", raising=False)
    with running("403", Clock()) as started:
        yield started


def test_requests_on_stdout_are_inert(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"displayName": GH_ERROR}), encoding="utf-8")
    state = ["--state", str(tmp_path / "state.db")]
    live = ["--auth", "token", "--graph-endpoint", emulator.url]
    code, out = run(
        capsys, "request", "submit", "--method", "PATCH", "--url", APP_URL, "--body", str(body),
        "--justification", VSO + " " + GH_ERROR, "--label", GH_MASK, *state, *live,
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert_inert(out)
    filed = json.loads(out)
    assert filed["request"]["justification"].startswith(VSO + " " + GH_ERROR)
    request_code = filed["code"]
    for fmt in ("table", "json"):
        code, out = run(capsys, "requests", "list", "--offline", *state, "--format", fmt)
        assert code == 0
        assert_inert(out)
        code, out = run(capsys, "requests", "status", request_code, *state, *live, "--format", fmt)
        assert code == 0
        assert_inert(out)
    assert json.loads(out)["request"] == filed["request"]
    listed = run(capsys, "requests", "list", "--offline", *state, "--format", "json")[1]
    assert [change["label"] for change in json.loads(listed)["changes"]] == [GH_MASK]


# ---- fleet --------------------------------------------------------------------------------


FLEET_NAME = f"{VSO} {WRAPPING}"  # the operator's name for the tenant, from tenants.toml


def test_fleet_on_stdout_is_inert_and_json_reads_back_as_the_file(
    snapshot: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixture = fixture_from_snapshot(load_snapshot(snapshot))
    fixture["tokens"]["fleet-token"] = fixture["tokens"][graphroles.READER_TOKEN]
    monkeypatch.setenv("FLEET_TOKEN", "fleet-token")
    with Emulator(fixture, fixed_tokens=True) as tenant:
        tenants = tmp_path / "tenants.toml"
        tenants.write_text(
            f'[[tenants]]\nname = "{FLEET_NAME}"\ntenant_id = "{fixture["tenant"]["id"]}"\n'
            f'auth = "token"\ntoken_env = "FLEET_TOKEN"\ngraph_endpoint = "{tenant.url}"\n',
            encoding="utf-8",
        )
        fleet = ["fleet", "scan", "--tenants", str(tenants), "--quiet"]
        for fmt in ("table", "html"):
            code, out = run(capsys, *fleet, "--format", fmt)
            assert code == 1
            assert_inert(out)
        file = tmp_path / "fleet.json"
        code, out = run(capsys, *fleet, "--format", "json", "--output", f"json={file}")
    assert code == 1
    assert_inert(out)
    written = json.loads(file.read_text(encoding="utf-8"))
    assert [row["name"] for row in written["tenants"]] == [FLEET_NAME.strip()]
    assert json.loads(out) == written


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit", "html", "markdown", "csv"])
def test_without_commands_stdout_is_the_report_unchanged(
    fmt: str, config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "report"
    argv = ["scan", "--demo", "--config", config, "--format", fmt, "--output", f"{fmt}={file}"]
    code, out = run(capsys, *argv)
    assert code == 1
    assert out.encode("utf-8") == file.read_bytes()


def test_a_closed_pipe_ends_the_output_quietly(config: str) -> None:
    """`maa-guard scan ... | head -1`: the rest of the report is dropped, the verdict stays."""
    command = [sys.executable, "-m", "maa_guard", "scan", "--demo", "--config", config]
    with subprocess.Popen(
        [*command, "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == b"{\n"
        process.stdout.close()
        err = process.stderr.read().decode("utf-8")
        code = process.wait(timeout=120)
    assert (code, err) == (1, "")
