"""Every output format: registry, golden files, determinism, and hostile tenant strings."""

from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from test_reporters_support import TESTS, json_report, sarif, scan, tenant_document

from maa_guard.evaluate.engine import ScanResult
from maa_guard.reporters import REPORTER_MODULES, OutputFormat, RenderOptions, render, reporter_for

GOLDEN = TESTS / "golden"
GOLDEN_NAMES = {
    OutputFormat.TABLE: "report.txt",
    OutputFormat.JSON: "report.json",
    OutputFormat.SARIF: "report.sarif",
    OutputFormat.JUNIT: "report.junit.xml",
    OutputFormat.HTML: "report.html",
    OutputFormat.MARKDOWN: "report.md",
    OutputFormat.CSV: "report.csv",
}
GOLDEN_OPTIONS = RenderOptions(show_suppressed=True)

SCRIPT = "<script>alert(1)</script>"
MARKUP = "[bold red]x[/]"
ANSI = "\x1b[2J"
FORMULA = '=HYPERLINK("http://x")'
PIPE = "| pipe"
SP_NAME = ANSI + "Patch Pipeline"
JUSTIFICATION = "<i>" + ANSI  # short enough to fail MAA303, so SARIF carries its evidence
SGR = re.compile(r"\x1b\[[0-9;]*m")
# Ids a spreadsheet would run as formulas, for the policy, group and request that keep none.
HOSTILE_IDS = {
    "pol-scripts": '=HYPERLINK("http://x")',
    "grp-approvers": "+SUM(1+1)",
    "req-good": "@cmd|' /C calc'!A0",
}


def test_every_output_format_has_a_reporter_module_with_render() -> None:
    assert set(REPORTER_MODULES) == set(OutputFormat)
    for output_format in OutputFormat:
        module = importlib.import_module(REPORTER_MODULES[output_format])
        assert callable(module.render), output_format
        assert reporter_for(output_format) is module.render


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=str)
def test_report_matches_its_golden_file(output_format: OutputFormat) -> None:
    text = render(scan(), output_format, GOLDEN_OPTIONS)
    path = GOLDEN / GOLDEN_NAMES[output_format]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes() == text.encode("utf-8"), (
        f"{path.name} differs; if the change is intended, rerun with UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=str)
def test_render_is_deterministic_and_needs_no_context(output_format: OutputFormat) -> None:
    result = scan()
    first = render(result, output_format, GOLDEN_OPTIONS)
    assert render(scan(), output_format, GOLDEN_OPTIONS) == first
    assert render(dataclasses.replace(result, context=None), output_format, GOLDEN_OPTIONS) == first


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=str)
def test_render_ignores_the_environment(
    output_format: OutputFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = scan()
    expected = render(result, output_format)
    for name, value in {
        "COLUMNS": "40",
        "LINES": "5",
        "FORCE_COLOR": "1",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "TTY_COMPATIBLE": "1",
        "TZ": "Asia/Tokyo",
    }.items():
        monkeypatch.setenv(name, value)
    assert render(result, output_format) == expected


def test_importing_the_reporters_loads_neither_rich_nor_jinja2() -> None:
    modules = ", ".join(repr(m) for m in REPORTER_MODULES.values())
    code = (
        f"import importlib, sys\nfor m in ({modules},): importlib.import_module(m)\n"
        "print(sorted(n for n in ('rich', 'jinja2') if n in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    assert output.strip() == "[]"


# ---- hostile tenant strings ------------------------------------------------------------


def hostile_result() -> ScanResult:
    document = tenant_document()
    document["tenant"]["display_name"] = PIPE
    groups = {group["id"]: group for group in document["groups"]}
    groups["grp-helpdesk"]["displayName"] = SCRIPT
    policies = {policy["id"]: policy for policy in document["policies"]}
    policies["pol-roles"]["displayName"] = MARKUP
    document["service_principals"][0]["displayName"] = SP_NAME
    requests = {request["id"]: request for request in document["approval_requests"]}
    requests["req-self"]["requestor"]["user"]["displayName"] = FORMULA
    requests["req-self"]["requestJustification"] = JUSTIFICATION
    users = {user["id"]: user for user in document["users"]}
    users["usr-carol"]["displayName"] = MARKUP + ANSI
    encoded = json.dumps(document)
    for plain, hostile in HOSTILE_IDS.items():
        encoded = encoded.replace(json.dumps(plain), json.dumps(hostile))
    return scan(json.loads(encoded))


def _finding(report: dict[str, Any], rule_id: str, resource_id: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        f
        for f in report["findings"]
        if f["rule_id"] == rule_id and f["resource"]["id"] == resource_id
    ]
    assert len(matches) == 1, (rule_id, resource_id)
    return matches[0]


def test_json_keeps_hostile_strings_exactly() -> None:
    report = json_report(hostile_result())
    assert report["tenant"]["display_name"] == PIPE
    assert _finding(report, "MAA204", "grp-helpdesk")["resource"]["display_name"] == SCRIPT
    assert _finding(report, "MAA103", "pol-roles")["resource"]["display_name"] == MARKUP
    assert _finding(report, "MAA401", "app-patch")["resource"]["display_name"] == SP_NAME
    assert _finding(report, "MAA301", "req-self")["resource"]["display_name"] == FORMULA
    assert _finding(report, "MAA303", "req-self")["evidence"]["justification"] == JUSTIFICATION


def test_sarif_keeps_hostile_strings_exactly() -> None:
    run = sarif(hostile_result())["runs"][0]
    assert run["properties"]["tenant"]["displayName"] == PIPE
    names = {
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]) for r in run["results"]
    }
    assert {
        ("MAA204", SCRIPT),
        ("MAA103", MARKUP),
        ("MAA401", SP_NAME),
        ("MAA301", FORMULA),
    } <= names
    (weak,) = [r for r in run["results"] if r["ruleId"] == "MAA303"]
    assert weak["properties"]["evidence"]["justification"] == JUSTIFICATION


def test_html_escapes_hostile_strings() -> None:
    page = render(hostile_result(), OutputFormat.HTML)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "\x1b" not in page
    assert "\\x1b[2JPatch Pipeline" in page
    assert "[bold red]x[/]" in page
    assert "<td>[bold red]x[/]\\x1b[2J</td>" in page  # the guest approver's display name


def test_terminal_output_shows_hostile_strings_as_text() -> None:
    options = RenderOptions(width=250)
    text = render(hostile_result(), OutputFormat.TABLE, options)
    assert "\x1b" not in text
    assert "accessPolicy [bold red]x[/] (pol-roles)" in text
    assert "application \\x1b[2JPatch Pipeline (app-patch)" in text
    assert f"group {SCRIPT} (grp-helpdesk)" in text
    assert f"tenant {PIPE} (" in text


def test_terminal_colour_output_holds_only_its_own_colour_codes() -> None:
    text = render(hostile_result(), OutputFormat.TABLE, RenderOptions(color=True, width=250))
    assert SGR.search(text), "colour output should style something"
    plain = SGR.sub("", text)
    assert "\x1b" not in plain
    assert "accessPolicy [bold red]x[/] (pol-roles)" in plain
    assert "\\x1b[2JPatch Pipeline" in plain


def test_csv_neutralises_formulas_and_controls() -> None:
    text = render(hostile_result(), OutputFormat.CSV)
    assert "\x1b" not in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    (self_approved,) = [
        r for r in rows if r["rule_id"] == "MAA301" and r["resource_id"] == "req-self"
    ]
    assert self_approved["resource_name"] == "'" + FORMULA
    (secret,) = [r for r in rows if r["rule_id"] == "MAA401" and r["resource_id"] == "app-patch"]
    assert secret["resource_name"] == "\\x1b[2JPatch Pipeline"
    cells = [cell for row in rows for cell in row.values()]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    ids = {row["resource_id"] for row in rows}
    assert {"'" + hostile for hostile in HOSTILE_IDS.values()} <= ids
    assert not set(HOSTILE_IDS.values()) & ids


def test_junit_parses_and_holds_no_control_characters() -> None:
    text = render(hostile_result(), OutputFormat.JUNIT)
    assert "\x1b" not in text
    root = ET.fromstring(text)
    names = {(case.get("classname"), case.get("name")) for case in root.iter("testcase")}
    assert ("MAA204.approver-group-not-security-group", f"group/grp-helpdesk/{SCRIPT}") in names
    assert (
        "MAA401.excluded-app-client-secret",
        "application/app-patch/\\x1b[2JPatch Pipeline",
    ) in names
    assert ("MAA103.policy-without-approvers", f"accessPolicy/pol-roles/{MARKUP}") in names
    assert "&lt;script&gt;" in text


def test_markdown_escapes_hostile_strings() -> None:
    text = render(hostile_result(), OutputFormat.MARKDOWN)
    assert "<script>" not in text and "\x1b" not in text
    assert "group &lt;script&gt;alert(1)&lt;/script&gt; (grp-helpdesk)" in text
    assert "accessPolicy \\[bold red\\]x\\[/\\] (pol-roles)" in text
    assert "application \\\\x1b\\[2JPatch Pipeline (app-patch)" in text
    assert "Tenant **\\| pipe**" in text
    for line in text.splitlines():
        if line.startswith(("| critical | MAA", "| high | MAA")):
            assert len(re.findall(r"(?<!\\)\|", line)) == 5, line
