"""The human-facing reports: terminal, Markdown, JUnit XML and HTML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from test_reporters_support import TENANT_ID, fingerprint_of, scan, with_incomplete_sources

from maa_guard.reporters import OutputFormat, RenderOptions, render

# ---- terminal --------------------------------------------------------------------------


def _terminal(show_suppressed: bool = False) -> str:
    options = RenderOptions(width=200, show_suppressed=show_suppressed)
    return render(scan(), OutputFormat.TABLE, options)


def test_terminal_groups_failures_by_severity_most_severe_first() -> None:
    text = _terminal()
    headings = re.findall(
        r"^(CRITICAL|HIGH|MEDIUM|LOW|COULD NOT VERIFY|SUPPRESSED[A-Z ]*) "
        r"\((\d+)\)$",
        text,
        flags=re.MULTILINE,
    )
    assert headings == [
        ("CRITICAL", "3"),
        ("HIGH", "8"),
        ("MEDIUM", "6"),
        ("LOW", "3"),
        ("COULD NOT VERIFY", "1"),
    ]
    critical = text[text.index("CRITICAL (3)") : text.index("HIGH (8)")]
    assert re.search(
        r"MAA103 policy-without-approvers +accessPolicy Role changes \(pol-roles\) "
        r"+the access policy has no approver group",
        critical,
    )
    assert re.search(
        r"MAA201 approver-group-missing +group grp-deleted "
        r"+the approver group does not exist",
        critical,
    )
    unverified = text[text.index("COULD NOT VERIFY (1)") :]
    assert re.search(
        r"MAA208 approver-without-intune-license +group Helpdesk Approvers "
        r"\(grp-helpdesk\) +could not verify the Intune licence of 1 approver\(s\)",
        unverified,
    )


def test_terminal_header_and_summary_line() -> None:
    lines = _terminal().splitlines()
    assert lines[0] == (
        f"maa-guard 0.1.0: tenant Contoso Reporting ({TENANT_ID}), collected 2026-11-01T08:00:00Z"
    )
    assert lines[1] == "FAIL (fail on high and above)"
    assert lines[-1] == (
        "27 rules, 56 checks: 25 pass, 21 fail, 1 error, 9 skipped "
        "(1 suppressed, 0 baselined, 20 counted failures)"
    )
    assert (
        "warning: suppression of MAA303 for req-self expired on 2026-10-01; the finding "
        "counts again"
    ) in lines


def test_terminal_shows_suppressed_findings_only_when_asked() -> None:
    assert "req-pending" not in _terminal()
    shown = _terminal(show_suppressed=True)
    section = shown[shown.index("SUPPRESSED AND BASELINED (1)") :]
    assert re.search(
        r"MAA304 pending-request-expiring +approvalRequest Bob Jones \(req-pending\) "
        r"+suppressed until 2026-12-31: Change freeze until the request is withdrawn",
        section,
    )


def test_terminal_respects_width_and_colour() -> None:
    narrow = render(scan(), OutputFormat.TABLE, RenderOptions(width=80))
    assert max(len(line) for line in narrow.splitlines()[2:-1]) <= 80
    coloured = render(scan(), OutputFormat.TABLE, RenderOptions(color=True))
    assert "\x1b[1;31mFAIL\x1b[0m" in coloured
    assert "\x1b" not in render(scan(), OutputFormat.TABLE, RenderOptions(color=False))


def test_terminal_lists_incomplete_sources() -> None:
    text = render(scan(with_incomplete_sources()), OutputFormat.TABLE, RenderOptions(width=200))
    assert (
        "incomplete: groups is failed (HTTP 403 on /groups); missing permission "
        "GroupMember.Read.All"
    ) in text
    assert (
        "incomplete: sign_in_activity is partial (first page only); missing licence "
        "Microsoft Entra ID P1"
    ) in text


# ---- Markdown --------------------------------------------------------------------------


def test_markdown_headline_counts_and_failing_table() -> None:
    text = render(scan(), OutputFormat.MARKDOWN)
    lines = text.splitlines()
    assert lines[0] == "## ❌ maa-guard: FAIL, 11 failing finding(s) at or above high"
    assert "| fail | 21 |" in lines and "| critical | 3 |" in lines
    assert (
        "| critical | MAA201 approver-group-missing | group grp-deleted | the approver group "
        "does not exist |"
    ) in lines
    assert (
        "| low | MAA409 exclusion-on-high-impact-workload | exclusion Retired sync job in "
        "Scripts (pol-scripts/app-gone) | exclusion on an access policy of type script: review it |"
    ) in lines
    failing = lines[lines.index("### Failing findings (20)") + 4 :]
    assert [line.split(" | ")[0] for line in failing[:4]] == ["| critical"] * 3 + ["| high"]


def test_markdown_errors_section_and_suppressed_only_on_request() -> None:
    text = render(scan(), OutputFormat.MARKDOWN)
    assert (
        "| MAA208 approver-without-intune-license | group Helpdesk Approvers (grp-helpdesk) "
        "| could not verify the Intune licence of 1 approver(s) |"
    ) in text
    assert "req-pending" not in text
    shown = render(scan(), OutputFormat.MARKDOWN, RenderOptions(show_suppressed=True))
    assert (
        "| low | MAA304 pending-request-expiring | approvalRequest Bob Jones (req-pending) "
        "| suppressed until 2026-12-31: Change freeze until the request is withdrawn |"
    ) in shown


def test_markdown_incomplete_and_passing_headlines() -> None:
    incomplete = render(scan(only_rules=("MAA208",)), OutputFormat.MARKDOWN)
    assert incomplete.startswith("## ⚠️ maa-guard: INCOMPLETE, 1 check(s) could not verify\n")
    passing = render(scan(only_rules=("MAA102",)), OutputFormat.MARKDOWN)
    assert passing.startswith("## ✅ maa-guard: PASS, no failing findings at or above high\n")
    assert "### Failing findings\n\nNone." in passing
    sources = render(scan(with_incomplete_sources()), OutputFormat.MARKDOWN)
    assert (
        "- groups is failed (HTTP 403 on /groups); missing permission GroupMember.Read.All"
    ) in sources


# ---- JUnit XML -------------------------------------------------------------------------


def test_junit_one_suite_per_rule_and_one_case_per_resource() -> None:
    root = ET.fromstring(render(scan(), OutputFormat.JUNIT))
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "56",
        "failures": "20",
        "errors": "1",
        "skipped": "10",
    }
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert len(suites) == 27
    suite = suites["MAA201 approver-group-missing"]
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {
        "group/grp-approvers/MAA Approvers",
        "group/grp-helpdesk/Helpdesk Approvers",
        "group/grp-deleted",
    }
    assert {case.get("classname") for case in cases.values()} == {"MAA201.approver-group-missing"}
    assert list(cases["group/grp-approvers/MAA Approvers"]) == []
    failure = cases["group/grp-deleted"].find("failure")
    assert failure is not None
    assert (failure.get("message"), failure.get("type")) == (
        "the approver group does not exist",
        "critical",
    )
    assert "How to fix:\n- Entra admin center > Groups > Deleted groups" in (failure.text or "")


def test_junit_error_skipped_and_suppressed() -> None:
    root = ET.fromstring(render(scan(), OutputFormat.JUNIT))
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    error = cases[
        ("MAA208.approver-without-intune-license", "group/grp-helpdesk/Helpdesk Approvers")
    ].find("error")
    assert error is not None and error.get("type") == "could-not-verify"
    assert error.get("message") == "could not verify the Intune licence of 1 approver(s)"
    skipped = cases[
        ("MAA401.excluded-app-client-secret", "application/app-gone/Retired sync job")
    ].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "the app has no service principal in the tenant (see MAA407)"
    suppressed = cases[
        ("MAA304.pending-request-expiring", "approvalRequest/req-pending/Bob Jones")
    ].find("skipped")
    assert suppressed is not None
    assert suppressed.get("message") == (
        "suppressed until 2026-12-31: Change freeze until the request is withdrawn"
    )
    expired = cases[("MAA303.weak-justification", "approvalRequest/req-self/Alice Smith")]
    assert expired.find("failure") is not None


def test_junit_baselined_failure_is_skipped() -> None:
    known = frozenset({fingerprint_of(scan(), "MAA201", "grp-deleted")})
    root = ET.fromstring(render(scan(known=known), OutputFormat.JUNIT))
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    skipped = cases[("MAA201.approver-group-missing", "group/grp-deleted")].find("skipped")
    assert skipped is not None and skipped.get("message") == "known from the baseline"


# ---- HTML ------------------------------------------------------------------------------


class _Collector(HTMLParser):
    """Collects the URLs a page would fetch and the ids of its sections."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.sections: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        self.fetches += [v for k, v in values.items() if k in ("src", "href") and v]
        if tag == "section" and values.get("id"):
            self.sections.append(values["id"] or "")


def _html() -> str:
    return render(scan(), OutputFormat.HTML)


def test_html_is_self_contained_and_has_every_section() -> None:
    page = _html()
    parser = _Collector()
    parser.feed(page)
    assert parser.fetches == []
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "@import" not in page and "url(" not in page
    assert parser.sections == ["summary", "coverage", "approvers", "exclusions", "findings"]
    assert "default-src 'none'" in page


def test_html_severity_chart_has_a_bar_per_severity() -> None:
    page = _html()
    bars = re.findall(
        r'<text x="0" y="\d+" font-size="14">(\w+)</text>\n<rect x="80" y="\d+" '
        r'width="(\d+)" height="22" fill="#\w+"></rect>\n<text x="\d+" y="\d+" '
        r'font-size="14">(\d+)</text>',
        page,
    )
    assert bars == [
        ("critical", "112", "3"),
        ("high", "300", "8"),
        ("medium", "225", "6"),
        ("low", "112", "3"),
    ]


def test_html_coverage_matrix_ticks_policy_types() -> None:
    page = _html()
    assert (
        '<tr><td>Scripts</td><td class="tick"></td><td class="tick">✓</td>'
        '<td class="tick"></td><td class="tick">yes</td></tr>'
    ) in page
    assert (
        '<tr><td>Compliance policies</td><td class="tick"></td><td class="tick"></td>'
        '<td class="tick"></td><td class="gap">no</td></tr>'
    ) in page


def test_html_approver_groups_with_members() -> None:
    page = _html()
    assert (
        "<tr><td>Carol Guest</td><td>carol_fabrikam.example#EXT#@contoso.example</td>"
        "<td>Guest</td><td>yes</td><td>unknown</td></tr>"
    ) in page
    assert "<p>Other members: group Nested Team</p>" in page
    assert (
        '<h3>grp-deleted</h3>\n<p class="meta">Group grp-deleted; approver for Scripts</p>\n'
        '<p class="gap">The group does not exist in the tenant.</p>'
    ) in page


def _hardening_row(page: str, app_id: str) -> list[tuple[str, str]]:
    row = re.search(rf'<tr><td>[^<]*<br><span class="small">{app_id}</span></td>.*</tr>', page)
    assert row is not None, app_id
    return re.findall(
        r'<td title="([^"]*)"><span class="status status-\w+">(\w+)</span>', row.group()
    )


def test_html_exclusions_show_the_hardening_status_per_app() -> None:
    page = _html()
    assert [status for _, status in _hardening_row(page, "app-patch")] == [
        "fail",
        "fail",
        "pass",
        "pass",
        "fail",
        "pass",
        "pass",
    ]
    gone = _hardening_row(page, "app-gone")
    assert [status for _, status in gone] == ["skipped"] * 6 + ["fail"]
    assert gone[-1][0] == "the excluded app no longer exists in the tenant"


def test_html_hardening_shows_error_and_unselected_rules() -> None:
    page = render(scan(with_incomplete_sources(), skip_rules=("MAA405",)), OutputFormat.HTML)
    cells = _hardening_row(page, "app-patch")
    assert cells[4] == ("rule not selected", "none")
    assert cells[6] == ("could not verify", "error")


def test_html_lists_failing_findings_first_with_remediation() -> None:
    page = _html()
    headings = re.findall(r'<h3 id="(\w+)">([^<]+)</h3>', page)
    assert headings == [
        ("failing", "Failing findings (20)"),
        ("unverified", "Could not verify (1)"),
        ("quieted", "Suppressed and baselined (1)"),
    ]
    assert '<details id="passed">\n<summary>Passed and skipped (34)</summary>' in page
    failing = page[page.index('<h3 id="failing">') : page.index('<h3 id="unverified">')]
    severities = re.findall(r'<span class="sev sev-(\w+)">', failing)
    assert severities == ["critical"] * 3 + ["high"] * 8 + ["medium"] * 6 + ["low"] * 3
    assert (
        "<p><strong>group grp-deleted</strong>: the approver group does not exist</p>\n"
        '<div class="remediation">- Entra admin center &gt; Groups &gt; Deleted groups'
    ) in failing


def test_html_coverage_matrix_shows_partial_device_action_coverage() -> None:
    from builders import add_policy, approver_group, new_snapshot
    from builders import scan as scan_snapshot

    snap = new_snapshot()
    approver_group(snap)
    add_policy(snap, "pol-wipe", "deviceWipe")
    page = render(scan_snapshot(snap), OutputFormat.HTML, RenderOptions())
    assert (
        '<tr><td>Device actions (wipe, retire, delete)</td><td class="tick">✓</td>'
        '<td class="gap">partial: not deviceRetire, deviceDelete</td></tr>'
    ) in page
