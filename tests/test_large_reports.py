"""Long reports on a terminal: the first rows, most urgent first, then a line saying how many
more there are and how to get them all; a pipe or a file gets every row. Rows a terminal or a
display filter leaves out never change the summary or the outcome line.

The reports are the bundled demo's, each row copied many times under new identifiers.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from test_width_goldens import demo_scan

from maa_guard.cli import main
from maa_guard.cli.impact import shown_rows
from maa_guard.evaluate.engine import ScanResult
from maa_guard.impact.compute import compute_impact
from maa_guard.impact.model import ImpactReport, Verdict
from maa_guard.impact.render import ImpactFormat, ImpactRenderOptions, render
from maa_guard.reporters import OutputFormat, RenderOptions
from maa_guard.reporters import render as render_scan
from maa_guard.reporters.layout import PLAIN_ROWS, TERMINAL_ROWS
from maa_guard.reporters.summary import failing, summarise

# A block's first line, or a table row's first cell.
VERDICT_LINE = re.compile(
    r"^ ?(" + "|".join(v.value for v in Verdict) + r")(?: \(unverified\))?(?:$|   )", re.MULTILINE
)
FINDING_HEAD = re.compile(r"^(CRITICAL|HIGH|MEDIUM|LOW) MAA\d{3} \S+ fail$", re.MULTILINE)
TABLE_RULE = re.compile(r"^─{10,}$", re.MULTILINE)


def demo_impact() -> ImpactReport:
    result = demo_scan()
    return compute_impact(result.snapshot, result.settings.declared_exclusions, "0.1.0")


def many_apps(copies: int) -> ImpactReport:
    """The demo's 8 apps ``copies`` times over, sorted by verdict as the report sorts them."""
    report = demo_impact()
    rows = [
        replace(row, app_id=f"{row.app_id[:-6]}{copy:06d}")
        for copy in range(copies)
        for row in report.rows
    ]
    return replace(report, rows=tuple(sorted(rows, key=lambda row: row.verdict.rank)))


def many_findings(copies: int) -> ScanResult:
    """The demo scan's findings ``copies`` times over, each copy on resources of its own."""
    result = demo_scan()
    findings = tuple(
        replace(finding, resource=replace(finding.resource, id=f"{finding.resource.id}-{copy}"))
        for copy in range(copies)
        for finding in result.findings
    )
    return replace(result, findings=findings)


# ---- impact ---------------------------------------------------------------------------------


def test_a_terminal_shows_the_first_apps_and_says_how_to_get_them_all() -> None:
    report = many_apps(3250)
    assert len(report.rows) == 26000
    options = ImpactRenderOptions(width=120, max_rows=TERMINAL_ROWS)
    lines = render(report, ImpactFormat.TABLE, options).splitlines()
    verdicts = [line.split()[0] for line in lines if VERDICT_LINE.match(line)]
    assert verdicts == ["will-be-blocked"] * 200
    assert lines[-4:] == [
        "… 25800 more apps not shown: write them all with -o impact.csv",
        "",
        "26000 apps: 3250 will-be-blocked, 0 unprotected-workload, 13000 excluded, "
        "6500 inactive, 0 read-only, 3250 maa-aware",
        "3250 apps will be blocked by MAA (exit 1)",
    ]


def test_a_terminal_narrower_than_100_columns_gets_the_same_first_apps_as_blocks() -> None:
    options = ImpactRenderOptions(width=80, max_rows=TERMINAL_ROWS)
    text = render(many_apps(3250), ImpactFormat.TABLE, options)
    assert not TABLE_RULE.search(text)
    assert VERDICT_LINE.findall(text) == ["will-be-blocked"] * 200
    assert "… 25800 more apps not shown: write them all with -o impact.csv" in text


def test_a_pipe_gets_every_app_drawn_as_blocks_past_the_plain_limit() -> None:
    report = many_apps(70)
    assert len(report.rows) == 560 > PLAIN_ROWS
    text = render(report, ImpactFormat.TABLE, ImpactRenderOptions(width=200))
    assert not TABLE_RULE.search(text)
    assert len(VERDICT_LINE.findall(text)) == 560
    assert "more apps not shown" not in text
    assert all(row.app_id in text for row in report.rows)


def test_a_short_report_on_a_terminal_is_whole() -> None:
    options = ImpactRenderOptions(width=120, max_rows=TERMINAL_ROWS)
    text = render(demo_impact(), ImpactFormat.TABLE, options)
    assert len(VERDICT_LINE.findall(text)) == 8
    assert "not shown" not in text


def test_a_filter_that_hides_the_blocked_apps_keeps_the_outcome_of_the_whole_report() -> None:
    report = demo_impact()
    shown = shown_rows(report, ["excluded"], None)
    lines = render(shown, ImpactFormat.TABLE, ImpactRenderOptions(width=120)).splitlines()
    assert VERDICT_LINE.findall("\n".join(lines)) == ["excluded"] * 4
    assert lines[-3:] == [
        "8 apps: 1 will-be-blocked, 0 unprotected-workload, 4 excluded, 2 inactive, "
        "0 read-only, 1 maa-aware",
        "4 of 8 apps shown (display filter)",
        "1 app will be blocked by MAA (exit 1)",
    ]


def test_the_cli_table_under_a_filter_says_what_the_exit_code_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["impact", "--demo", "--format", "table", "--no-color", "--verdict", "inactive"]
    assert main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "2 of 8 apps shown (display filter)",
        "1 app will be blocked by MAA (exit 1)",
    ]


# ---- scan -----------------------------------------------------------------------------------


def test_a_terminal_shows_the_most_severe_findings_and_says_how_to_get_them_all() -> None:
    result = many_findings(600)
    total = len(failing(result))
    assert total == 51 * 600
    options = RenderOptions(width=80, max_rows=TERMINAL_ROWS)
    text = render_scan(result, OutputFormat.TABLE, options)
    heads = FINDING_HEAD.findall(text)
    assert heads == ["CRITICAL"] * 200
    assert "CRITICAL (3600)" in text.splitlines()
    assert "HIGH (" not in text
    hidden = f"… {total - 200} more findings not shown: write them all with -o findings.csv"
    assert hidden in text.splitlines()
    summary = summarise(result)
    assert summary.line in text
    assert f"{summary.failing_total} counted failures" in text


def test_a_pipe_gets_every_finding_drawn_as_blocks_past_the_plain_limit() -> None:
    result = many_findings(12)
    assert len(failing(result)) == 612 > PLAIN_ROWS
    text = render_scan(result, OutputFormat.TABLE, RenderOptions(width=200))
    assert not TABLE_RULE.search(text)
    assert len(FINDING_HEAD.findall(text)) == 612
    assert "not shown" not in text


def test_json_and_html_under_a_filter_state_the_whole_reports_outcome() -> None:
    shown = shown_rows(demo_impact(), ["excluded"], None)
    document = json.loads(render(shown, ImpactFormat.JSON, ImpactRenderOptions()))
    assert (document["exit_code"], len(document["rows"])) == (1, 4)
    page = render(shown, ImpactFormat.HTML, ImpactRenderOptions())
    assert "1 app will be blocked by MAA (exit 1)" in page
