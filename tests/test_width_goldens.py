"""Terminal output at 60, 80, 120 and 200 columns: a table where it fits, blocks where not.

Golden files under tests/golden/width/ for `scan` and `impact` over the bundled demo, `history
list`, `requests list` and `rules list`; rerun with UPDATE_GOLDEN=1 when a change to the output
is intended. The renderers take the width as a parameter; the CLI takes it from ``COLUMNS`` or
the terminal.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path

import pytest

from maa_guard.approval.model import Phase, RequestStatus, TrackedChange
from maa_guard.approval.render import changes_report, render_text
from maa_guard.catalogue import load_catalogue
from maa_guard.checks import all_checks
from maa_guard.cli import main
from maa_guard.config import find_config_file, load_settings
from maa_guard.evaluate.engine import ScanResult, evaluate
from maa_guard.history.listing import render_scans
from maa_guard.history.records import RecordedScan
from maa_guard.impact.compute import compute_impact
from maa_guard.impact.render import ImpactFormat, ImpactRenderOptions, render
from maa_guard.reporters import OutputFormat, RenderOptions
from maa_guard.reporters import render as render_scan
from maa_guard.reporters.layout import WIDE
from maa_guard.reporters.rules_list import rules_table
from maa_guard.snapshot.file import load_snapshot

GOLDEN = Path(__file__).resolve().parent / "golden" / "width"
DEMO = Path(__file__).resolve().parent.parent / "maa_guard" / "data" / "demo"
WIDTHS = (60, 80, 120, 200)
TENANT = "0b3c5d7e-1f2a-4b6c-8d9e-0a1b2c3d4e5f"
FABRIKAM = "7e3c0d51-0000-4000-8000-00000000aa01"
GRAPH = "https://graph.microsoft.com/beta/deviceManagement"
CODE = "2f9c4e1a-6b7d-4c3e-9a8f-1e2d3c4b5a69"


@cache
def demo_scan() -> ScanResult:
    snapshot = load_snapshot(DEMO / "snapshot.json")
    settings = load_settings(
        load_catalogue(), find_config_file(DEMO / "maa-guard.toml", DEMO), {}, {}
    )
    return evaluate(
        snapshot, load_catalogue(), all_checks(), settings, date(2026, 11, 1), tool_version="0.1.0"
    )


def scan_text(width: int) -> str:
    return render_scan(demo_scan(), OutputFormat.TABLE, RenderOptions(width=width))


def impact_text(width: int) -> str:
    result = demo_scan()
    report = compute_impact(result.snapshot, result.settings.declared_exclusions, "0.1.0")
    return render(report, ImpactFormat.TABLE, ImpactRenderOptions(width=width))


def moment(day: int, hour: int = 8) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=timezone.utc)


SCANS = (
    RecordedScan(12, TENANT, "Contoso Reporting", moment(8), moment(8, 9), "0.1.0", 20, 1),
    RecordedScan(11, TENANT, "Contoso Reporting", moment(1), moment(1, 9), "0.1.0", 23, 0),
    RecordedScan(3, FABRIKAM, "Fabrikam Retail Europe", moment(1), moment(1, 10), "0.0.9", 0, 2),
)


def history_text(width: int) -> str:
    return render_scans(SCANS, "history.db", False, False, width)


CHANGES = (
    TrackedChange(
        "3c1d8f0e-8a8e-4f0b-b6b1-6a2f0c1d9e77",
        moment(1),
        moment(1, 9),
        "POST",
        f"{GRAPH}/managedDevices/5d1c7a44-3e4b-4f6a-9c2d-8e7f6a5b4c3d/wipe",
        "wipe the kiosk in reception",
        None,
        Phase.PENDING,
        CODE,
        RequestStatus.NEEDS_APPROVAL,
        "https://graph.microsoft.com",
    ),
    TrackedChange(
        "9a7b6c5d-4e3f-4a1b-8c2d-0e1f2a3b4c5d",
        moment(2),
        moment(2, 9),
        "PATCH",
        f"{GRAPH}/deviceCompliancePolicies/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "raise the minimum OS version",
        None,
        Phase.APPLIED,
        None,
        None,
        "https://graph.microsoft.com",
    ),
)


def requests_text(width: int) -> str:
    return render_text(changes_report(CHANGES), False, width)


def rules_text(width: int) -> str:
    return rules_table(False, False, None, width)


VIEWS: dict[str, Callable[[int], str]] = {
    "scan": scan_text,
    "impact": impact_text,
    "history-list": history_text,
    "requests-list": requests_text,
    "rules-list": rules_text,
}
# What a person copies from each view, to find whole on one line at every width.
IDENTIFIERS = {
    "history-list": [TENANT, FABRIKAM],
    "requests-list": [CODE, *(c.change_id for c in CHANGES), *(c.url for c in CHANGES)],
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_matches_its_golden_file(view: str, width: int) -> None:
    text = VIEWS[view](width)
    path = GOLDEN / f"{view}-{width}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes() == text.encode("utf-8"), (
        f"{path.name} differs; if the change is intended, rerun with UPDATE_GOLDEN=1"
    )


TABLE_RULE = re.compile(r"^─{10,}$", re.MULTILINE)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_narrow_terminals_get_blocks_and_only_an_identifier_is_wider_than_the_terminal(
    view: str, width: int
) -> None:
    text = VIEWS[view](width)
    if width < WIDE:
        assert not TABLE_RULE.search(text)
    long_lines = [line for line in text.splitlines() if len(line) > width]
    assert all(" " not in line.strip() for line in long_lines), long_lines  # an identifier


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("view", sorted(IDENTIFIERS))
def test_identifiers_are_whole_on_one_line(view: str, width: int) -> None:
    lines = VIEWS[view](width).splitlines()
    for ident in IDENTIFIERS[view]:
        assert any(ident in line for line in lines), (view, width, ident)
        if width < WIDE:  # a block gives it a line of its own
            assert any(line.strip() == ident for line in lines), (view, width, ident)


@pytest.mark.parametrize("width", [60, 200])
def test_a_hostile_name_stays_inert_text_in_tables_and_blocks(width: int) -> None:
    hostile = RecordedScan(
        7, TENANT, "Evil \x1b[2J [red]x[/red]\nScan 8", moment(1), moment(1), "0.1.0", 0, 0
    )
    for color in (False, True):
        text = render_scans([hostile], "history.db", False, color, width)
        assert "\x1b[2J" not in text and "Evil \\x1b[2J [red]x[/red] Scan 8" in text
        assert not any(line.startswith("Scan 8") for line in text.splitlines())


def test_scan_ids_head_the_history_blocks() -> None:
    heads = [line for line in history_text(60).splitlines() if line.startswith("Scan ")]
    assert heads == ["Scan 12", "Scan 11", "Scan 3"]


def test_the_demo_scan_at_60_columns_is_a_block_per_finding() -> None:
    lines = scan_text(60).splitlines()
    heads = [line for line in lines if re.match(r"(CRITICAL|HIGH|MEDIUM|LOW) MAA\d{3} ", line)]
    assert len(heads) == sum(1 for f in demo_scan().findings if f.status.value in ("fail", "error"))
    assert heads[0] == "CRITICAL MAA103 policy-without-approvers fail"
    assert len(lines) < 300


def test_the_cli_takes_the_width_from_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["rules", "list", "--format", "table", "--no-color"]) == 0
    assert capsys.readouterr().out == rules_text(60)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["rules", "list", "--format", "table", "--no-color"]) == 0
    assert capsys.readouterr().out == rules_text(200)
    monkeypatch.delenv("COLUMNS")
    assert main(["rules", "list", "--format", "table", "--no-color"]) == 0
    assert capsys.readouterr().out == rules_text(120)  # off a terminal, without COLUMNS


def on_a_terminal(*argv: str, columns: int) -> tuple[int, str]:
    """``maa-guard ARGV`` with standard output on a pseudo-terminal, ``COLUMNS`` set as a
    terminal sets it: the exit code and what the terminal showed."""
    leader, follower = pty.openpty()
    environment = {**os.environ, "COLUMNS": str(columns)}
    environment.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "maa_guard", *argv]
    with subprocess.Popen(
        command, stdout=follower, stderr=subprocess.DEVNULL, env=environment
    ) as child:
        os.close(follower)
        shown = bytearray()
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closes when the child exits
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
    return child.returncode, shown.decode("utf-8").replace("\r\n", "\n")


def test_a_narrow_terminal_gets_blocks_from_the_cli() -> None:
    code, shown = on_a_terminal("impact", "--demo", "--no-color", columns=60)
    assert code == 1
    assert not TABLE_RULE.search(shown)
    assert (
        "\nwill-be-blocked\n  Contoso Helpdesk Portal\n  18d49f3a-717b-42ea-9c63-b45765caa752\n"
        in shown
    )
    assert shown.endswith("1 app will be blocked by MAA (exit 1)\n")
