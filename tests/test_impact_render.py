"""Impact report formats: golden files, JSON shape, hostile strings, a self-contained page."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from builders import set_source
from test_impact_support import (
    ANSI,
    EXPECTED_ORDER,
    FORMULA,
    HOSTILE_NAME,
    MARKUP,
    SCRIPT,
    hostile_tenant,
    report_of,
    verdict_tenant,
)

from maa_guard.impact.chart import LIMIT, writes_chart
from maa_guard.impact.model import ImpactReport
from maa_guard.impact.render import (
    RENDERER_MODULES,
    ImpactFormat,
    ImpactRenderOptions,
    render,
)

GOLDEN = Path(__file__).parent / "golden"
EXTENSIONS = {
    ImpactFormat.TABLE: "txt",
    ImpactFormat.JSON: "json",
    ImpactFormat.CSV: "csv",
    ImpactFormat.HTML: "html",
}
SGR = re.compile(r"\x1b\[[0-9;]*m")


def incomplete_tenant() -> dict[str, object]:
    snap = verdict_tenant()
    set_source(
        snap, "sign_in_activity", "failed", "HTTP 403", missing_permission="AuditLog.Read.All"
    )
    return snap


CASES = {"verdicts": verdict_tenant, "incomplete": incomplete_tenant}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes() == text.encode("utf-8"), (
        f"{path.name} differs; if the change is intended, rerun with UPDATE_GOLDEN=1"
    )


def test_every_format_has_a_renderer_module() -> None:
    assert set(RENDERER_MODULES) == set(ImpactFormat)
    for module_name in RENDERER_MODULES.values():
        assert callable(importlib.import_module(module_name).render_chunks)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("output_format", list(ImpactFormat), ids=str)
def test_report_matches_its_golden_file(case: str, output_format: ImpactFormat) -> None:
    text = render(report_of(CASES[case]()), output_format)
    check_golden(f"impact-{case}.{EXTENSIONS[output_format]}", text)


def test_rendering_twice_gives_the_same_bytes() -> None:
    report = report_of(verdict_tenant())
    for output_format in ImpactFormat:
        assert render(report, output_format) == render(report, output_format)


# ---- JSON ------------------------------------------------------------------------------------


def test_json_shape() -> None:
    document = json.loads(render(report_of(verdict_tenant()), ImpactFormat.JSON))
    assert list(document) == [
        "schema_version",
        "kind",
        "tool",
        "tenant",
        "collected_at",
        "window",
        "complete",
        "exit_code",
        "sources",
        "summary",
        "rows",
    ]
    assert (document["schema_version"], document["kind"]) == (1, "maa-guard-impact")
    assert (document["complete"], document["exit_code"]) == (True, 1)
    assert document["summary"] == {
        "apps": 8,
        "by_verdict": {
            "will-be-blocked": 2,
            "unprotected-workload": 1,
            "excluded": 1,
            "inactive": 1,
            "read-only": 1,
            "maa-aware": 2,
        },
    }
    assert [(r["app_id"], r["verdict"]) for r in document["rows"]] == list(EXPECTED_ORDER)


def test_json_blocked_row() -> None:
    rows = json.loads(render(report_of(verdict_tenant()), ImpactFormat.JSON))["rows"]
    assert rows[1] == {
        "app_id": "app-helpdesk",
        "display_name": "Helpdesk Wipe",
        "verdict": "will-be-blocked",
        "action": "its next write to a protected workload needs an approval: exclude it after "
        "a review, or adopt the approval flow",
        "writes": 1,
        "last_write": "2026-10-21T15:00:00Z",
        "last_app_only_sign_in": None,
        "workloads": [
            {
                "policy_type": "deviceWipe",
                "label": "Device action: wipe",
                "writes": 1,
                "last_write": "2026-10-21T15:00:00Z",
                "approval_failures": 0,
                "coverage": "protected",
                "gating_policies": [{"id": "p-wipe", "name": "Device wipe"}],
            }
        ],
        "write_permissions": [
            "DeviceManagementManagedDevices.ReadWrite.All",
            "DeviceManagementManagedDevices.PrivilegedOperations.All",
        ],
        "protected": "yes",
        "excluded_from": [],
        "declared_only": [],
        "maa_aware": False,
        "maa_evidence": {"completed_requests": 0, "resubmissions": 0, "other_requests": 0},
        "approval_failures": 0,
        "ways_out": [
            {
                "kind": "exclude",
                "summary": "review it with 'maa-guard review app-helpdesk', then exclude it "
                "from: Device wipe",
                "commands": ["maa-guard review app-helpdesk"],
            },
            {
                "kind": "approval-flow",
                "summary": "adopt the approval flow: send each write with a justification, and "
                "once approved resubmit it with the approval code (maa_guard.approval in Python, "
                "or 'maa-guard request submit')",
                "commands": ["maa_guard.approval", "maa-guard request submit"],
            },
        ],
        "unverified": [],
    }


def test_json_of_an_incomplete_report_marks_rows_and_sources() -> None:
    document = json.loads(render(report_of(incomplete_tenant()), ImpactFormat.JSON))
    assert (document["complete"], document["exit_code"]) == (False, 1)
    assert document["sources"]["sign_in_activity"] == {
        "state": "failed",
        "reason": "HTTP 403",
        "missing_permission": "AuditLog.Read.All",
        "missing_licence": None,
    }
    unverified = {r["app_id"]: r["unverified"] for r in document["rows"]}
    assert unverified["app-store"] == ["last_app_only_sign_in"]
    assert unverified["app-reader"] == ["last_app_only_sign_in", "verdict"]


def test_json_of_an_empty_report_is_valid() -> None:
    from builders import new_snapshot

    document = json.loads(render(report_of(new_snapshot()), ImpactFormat.JSON))
    assert (document["rows"], document["exit_code"]) == ([], 0)


# ---- hostile strings -----------------------------------------------------------------------


def hostile() -> ImpactReport:
    return report_of(hostile_tenant())


def test_json_keeps_hostile_strings_exactly() -> None:
    document = json.loads(render(hostile(), ImpactFormat.JSON))
    names = {r["app_id"]: r["display_name"] for r in document["rows"]}
    assert names["app-hostile"] == HOSTILE_NAME
    assert names[FORMULA] == f"{ANSI}{MARKUP}"
    assert document["sources"]["approval_requests"]["reason"] == f"{ANSI}{SCRIPT}{FORMULA}"


@pytest.mark.parametrize("color", [False, True])
def test_terminal_shows_hostile_strings_literally(color: bool) -> None:
    text = render(hostile(), ImpactFormat.TABLE, ImpactRenderOptions(color=color, width=200))
    plain = SGR.sub("", text)
    assert "\x1b" not in plain and "\x07" not in plain
    assert "\\x1b[2J\\x1b]0;title\\x07" in plain
    assert "[bold red]owned[/]" in plain  # shown, not applied
    assert "<script>alert(1)</script>" in plain
    assert "line one verdict: excluded" in plain  # a newline cannot forge a report line
    assert not any(line.startswith("verdict: excluded") for line in plain.splitlines())
    if not color:
        assert "\x1b" not in text


def test_csv_cells_are_inert() -> None:
    rows = list(csv.reader(io.StringIO(render(hostile(), ImpactFormat.CSV))))
    by_app = {row[1]: row for row in rows[1:]}
    formula_row = by_app["'" + FORMULA]
    assert formula_row[2] == "\\x1b[2J\\x1b]0;title\\x07[bold red]owned[/]"
    assert by_app["app-hostile"][9] == ""
    every_cell = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in every_cell)
    assert not any("\x1b" in cell or "\x07" in cell for cell in every_cell)


def test_csv_escapes_a_formula_in_a_policy_name() -> None:
    from builders import add_event, add_policy, new_snapshot

    snap = new_snapshot()
    add_policy(snap, "p-a", "app", name=FORMULA, exclusions=["app-w"])
    add_event(snap, "app-w", "Create MobileApp")
    (_, row) = list(csv.reader(io.StringIO(render(report_of(snap), ImpactFormat.CSV))))
    assert row[9] == "'" + FORMULA


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def test_html_escapes_hostile_strings() -> None:
    page = render(hostile(), ImpactFormat.HTML)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=&#34;https://evil.example/x.png&#34;&gt;" in page
    assert "\x1b" not in page and "\\x1b[2J" in page
    assert {tag for tag, _ in elements(page)} <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
        "span", "section", "table", "tr", "th", "td", "br", "svg", "g", "text", "rect", "strong",
    }  # fmt: skip


@pytest.mark.parametrize("tenant", [verdict_tenant, hostile_tenant])
def test_html_requests_nothing(tenant: object) -> None:
    page = render(report_of(tenant()), ImpactFormat.HTML)  # type: ignore[operator]
    for tag, attributes in elements(page):
        assert not {"src", "href", "xlink:href", "action", "srcset"} & set(attributes), tag
        assert "url(" not in (attributes.get("style") or "")
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'; style-src 'unsafe-inline'" in page


def test_html_of_a_clean_tenant_names_no_url_at_all() -> None:
    page = render(report_of(verdict_tenant()), ImpactFormat.HTML)
    assert "http://" not in page and "https://" not in page


# ---- the chart -----------------------------------------------------------------------------


def test_chart_stacks_writes_per_app_and_policy_type() -> None:
    chart = writes_chart(report_of(verdict_tenant()).rows)
    assert [(bar.label, bar.total) for bar in chart.bars] == [
        ("Store Publisher", 3),
        ("Patch Vendor", 2),
        ("Helpdesk Wipe", 1),
        ("Compliance Sync", 1),
        ("Wipe Orchestrator", 1),
        ("Script Pipeline", 1),
    ]
    first = chart.bars[0].segments[0]
    assert (first.x, first.width, first.policy_type, first.writes) == (220, 480, "app", 3)
    assert [s.width for bar in chart.bars[1:] for s in bar.segments] == [320, 160, 160, 160, 160]
    assert [item.policy_type for item in chart.legend] == [
        "app",
        "compliancePolicy",
        "deviceWipe",
        "script",
    ]


def test_chart_shows_the_busiest_apps_only() -> None:
    from builders import add_event, new_snapshot

    snap = new_snapshot()
    for number in range(LIMIT + 5):
        for _ in range(number + 1):
            add_event(snap, f"app-{number:02}", "Create MobileApp")
    chart = writes_chart(report_of(snap).rows)
    assert (len(chart.bars), chart.writers) == (LIMIT, LIMIT + 5)
    assert chart.bars[0].label == f"app-{LIMIT + 4:02}"
    page = render(report_of(snap), ImpactFormat.HTML)
    assert f"the {LIMIT} apps with the most writes of {LIMIT + 5}" in page


def test_the_docs_name_every_verdict_column_and_json_key() -> None:
    from maa_guard.impact.model import Column, Verdict
    from maa_guard.impact.render_json import envelope, row_json

    docs = (Path(__file__).parent.parent / "docs" / "impact.md").read_text(encoding="utf-8")
    report = report_of(verdict_tenant())
    names = [
        *(f"`{v.value}`" for v in Verdict),
        *(f"`{c.value}`" for c in Column),
        *(f'"{key}"' for key in envelope(report)),
        *(f'"{key}"' for key in row_json(report.rows[0])),
        *(f'"{key}"' for key in row_json(report.rows[0])["workloads"][0]),
    ]
    assert [name for name in names if name not in docs] == []
