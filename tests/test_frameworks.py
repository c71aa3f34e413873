"""Controls of other frameworks: the rule files' ``[[frameworks]]`` entries, how every report
shows them, and ``--framework`` on ``scan`` and ``rules list``."""

from __future__ import annotations

import html
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from builders import add_policy, approver_group, new_snapshot
from test_reporters_support import FIXTURE, json_report, sarif, scan

from maa_guard.catalogue import (
    FRAMEWORKS,
    ControlMapping,
    controls_text,
    framework_named,
    load_catalogue,
    load_rule,
    rules_mapped_to,
    validate_rule_data,
)
from maa_guard.catalogue.pages import render_page
from maa_guard.cli import main
from maa_guard.errors import EXIT_USAGE, CatalogueError, UsageError
from maa_guard.model import Status
from maa_guard.reporters import OutputFormat, render
from maa_guard.storage.tomlfile import read_toml

REPO = Path(__file__).resolve().parent.parent
RULE_FILE = REPO / "rules" / "requests" / "MAA303-weak-justification.toml"
CPRT = "https://csrc.nist.gov/projects/cprt/catalog#/cprt/framework/version/SP_800_53_5_2_0/home"
AC5 = {
    "name": "NIST SP 800-53 Rev. 5",
    "control": "AC-5",
    "title": "Separation of Duties",
    "source": f"{CPRT}?element=AC-05",
}
CHOICES = (
    "choose from nist-800-53 (NIST SP 800-53 Rev. 5), "
    "zero-trust-assessment (Microsoft Zero Trust Assessment)"
)
UNMAPPED = ["MAA208", "MAA405", "MAA406", "MAA501", "MAA502"]
NIST_RULES = [
    "MAA101",
    "MAA102",
    "MAA103",
    "MAA201",
    "MAA202",
    "MAA203",
    "MAA204",
    "MAA205",
    "MAA206",
    "MAA207",
    "MAA301",
    "MAA302",
    "MAA303",
    "MAA304",
    "MAA305",
    "MAA401",
    "MAA402",
    "MAA403",
    "MAA404",
    "MAA407",
    "MAA408",
    "MAA409",
]
ZTA_RULES = ["MAA101", "MAA103", "MAA401", "MAA402", "MAA403"]
BASE_TAGS = ["security", "intune", "multi-admin-approval"]


# ---- the rule files ----------------------------------------------------------------------


def test_the_catalogue_maps_exactly_these_rules() -> None:
    catalogue = load_catalogue()
    assert [rid for rid, rule in catalogue.items() if not rule.frameworks] == UNMAPPED
    assert sorted(rules_mapped_to(framework_named("nist-800-53"))) == NIST_RULES
    assert sorted(rules_mapped_to(framework_named("zero-trust-assessment"))) == ZTA_RULES
    assert [m.tag for m in catalogue["MAA402"].frameworks] == [
        "NIST-800-53:AC-2(11)",
        "MS-ZTA:21883",
        "MS-ZTA:21884",
    ]


def nist_element(control: str) -> str:
    """``CM-5(4)`` as NIST's catalogue spells it: ``CM-05(04)``."""
    return re.sub(r"\d+", lambda number: f"{int(number.group()):02d}", control)


def test_every_mapping_cites_the_page_of_its_control() -> None:
    assert nist_element("CM-5(4)") == "CM-05(04)" and nist_element("AC-2(11)") == "AC-02(11)"
    for rule in load_catalogue().values():
        for mapping in rule.frameworks:
            if mapping.framework == "NIST SP 800-53 Rev. 5":
                element = nist_element(mapping.control)
                assert mapping.source == f"{CPRT}?element={element}", rule.id
            else:
                assert mapping.source == (
                    "https://github.com/microsoft/zerotrustassessment/blob/main/src/powershell/"
                    f"tests/Test-Assessment.{mapping.control}.ps1"
                ), rule.id


def _with_frameworks(entries: Any) -> dict[str, Any]:
    data = read_toml(RULE_FILE)
    data["frameworks"] = entries
    return data


ENTRY = "[[frameworks]] entry"


@pytest.mark.parametrize(
    ("entries", "problems"),
    [
        ([AC5], []),
        ([], []),
        ("AC-5", ["frameworks must be an array of tables ([[frameworks]] entries)"]),
        (
            [{**AC5, "url": "x"}],
            [f"{ENTRY} 1: unknown key(s) ['url'] (allowed: name, control, title, source)"],
        ),
        (
            [{k: v for k, v in AC5.items() if k != "source"}],
            [f"{ENTRY} 1: missing key(s) ['source']"],
        ),
        (
            [AC5, {**AC5, "title": " ", "control": 5}],
            [
                f"{ENTRY} 2: control must be a non-empty string",
                f"{ENTRY} 2: title must be a non-empty string",
            ],
        ),
        (
            [{**AC5, "name": "NIST 800-53"}],
            [
                f"{ENTRY} 1: unknown framework 'NIST 800-53' (choose from NIST SP 800-53 Rev. 5, "
                "Microsoft Zero Trust Assessment)"
            ],
        ),
        (
            [{**AC5, "control": "AC5"}],
            [f"{ENTRY} 1: control 'AC5' is not a NIST SP 800-53 Rev. 5 control (AC-5 or CM-5(4))"],
        ),
        (
            [{**AC5, "name": "Microsoft Zero Trust Assessment", "control": "2177"}],
            [
                f"{ENTRY} 1: control '2177' is not a Microsoft Zero Trust Assessment control "
                "(a five-digit test id such as 21772)",
                f"{ENTRY} 1: source must be the URL of the page that makes the link, under "
                "https://github.com/microsoft/zerotrustassessment/",
            ],
        ),
        (
            [{**AC5, "source": "http://csrc.nist.gov/AC-5"}],
            [
                f"{ENTRY} 1: source must be the URL of the page that makes the link, under "
                "https://csrc.nist.gov/"
            ],
        ),
        ([AC5, AC5], [f"{ENTRY} 2: NIST SP 800-53 Rev. 5 AC-5 is listed twice"]),
    ],
    ids=[
        "valid",
        "empty",
        "not-tables",
        "unknown-key",
        "missing-key",
        "empty-values",
        "unknown-framework",
        "bad-nist-control",
        "bad-zta-entry",
        "not-https",
        "duplicate",
    ],
)
def test_validation_names_each_bad_entry(entries: Any, problems: list[str]) -> None:
    assert validate_rule_data(_with_frameworks(entries), RULE_FILE) == problems


def test_a_bad_entry_stops_the_catalogue_with_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "requests"
    folder.mkdir()
    path = folder / RULE_FILE.name
    text = RULE_FILE.read_text(encoding="utf-8").replace('control = "CM-3"', 'control = "CM3"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as raised:
        load_rule(path)
    assert raised.value.message == (
        "MAA303-weak-justification.toml: [[frameworks]] entry 1: control 'CM3' is not a "
        "NIST SP 800-53 Rev. 5 control (AC-5 or CM-5(4))"
    )
    assert raised.value.exit_code == EXIT_USAGE


def test_the_loader_keeps_each_entry() -> None:
    rule = load_catalogue()["MAA303"]
    assert rule.frameworks == (
        ControlMapping(
            "NIST SP 800-53 Rev. 5", "CM-3", "Configuration Change Control", f"{CPRT}?element=CM-03"
        ),
    )
    assert rule.controls_in(framework_named("zero-trust-assessment")) == ()


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("nist-800-53", "nist-800-53"),
        ("NIST SP 800-53 Rev. 5", "nist-800-53"),
        ("  nist sp 800-53 rev. 5 ", "nist-800-53"),
        ("NIST-800-53", "nist-800-53"),
        ("zero-trust-assessment", "zero-trust-assessment"),
        ("Microsoft Zero Trust Assessment", "zero-trust-assessment"),
        ("ms-zta", "zero-trust-assessment"),
    ],
)
def test_a_framework_answers_to_its_name_slug_and_tag(name: str, slug: str) -> None:
    assert framework_named(name).slug == slug


def test_an_unknown_framework_lists_the_choices() -> None:
    with pytest.raises(UsageError) as raised:
        framework_named("nist")
    assert (raised.value.message, raised.value.hint) == ("unknown framework 'nist'", CHOICES)
    assert [f.slug for f in FRAMEWORKS] == ["nist-800-53", "zero-trust-assessment"]


def test_rule_pages_have_a_controls_section() -> None:
    page = render_page(load_catalogue()["MAA401"])
    section = page[page.index("## Controls") : page.index("## References")]
    assert section == (
        "## Controls\n\n"
        f"- NIST SP 800-53 Rev. 5 [IA-5](<{CPRT}?element=IA-05>): Authenticator Management\n"
        "- Microsoft Zero Trust Assessment [21772](<https://github.com/microsoft/"
        "zerotrustassessment/blob/main/src/powershell/tests/Test-Assessment.21772.ps1>): "
        "Applications don't have client secrets configured\n\n"
    )
    page = render_page(load_catalogue()["MAA501"])
    section = page[page.index("## Controls") : page.index("## References")]
    assert section == "## Controls\n\nNo control of a framework maa-guard cites is mapped.\n\n"


# ---- the reports -------------------------------------------------------------------------


def test_sarif_tags_name_every_control_of_every_rule() -> None:
    catalogue = load_catalogue()
    rules = sarif(scan())["runs"][0]["tool"]["driver"]["rules"]
    tags = {rule["id"]: rule["properties"]["tags"] for rule in rules}
    assert tags == {
        rule.id: [*BASE_TAGS, rule.area, *(m.tag for m in rule.frameworks)]
        for rule in catalogue.values()
    }
    assert tags["MAA301"] == [
        *BASE_TAGS,
        "requests",
        "NIST-800-53:AC-5",
        "NIST-800-53:AU-6",
        "NIST-800-53:CM-5(4)",
    ]


def test_json_report_carries_every_rule_with_its_controls() -> None:
    report = json_report(scan())
    assert report["rules"] == {
        rule.id: {
            "slug": rule.slug,
            "title": rule.title,
            "frameworks": [
                {"name": m.framework, "control": m.control, "title": m.title, "source": m.source}
                for m in rule.frameworks
            ],
        }
        for rule in load_catalogue().values()
    }
    assert report["rules"]["MAA502"]["frameworks"] == []
    assert report["rules"]["MAA303"]["frameworks"] == [
        {
            **AC5,
            "control": "CM-3",
            "title": "Configuration Change Control",
            "source": f"{CPRT}?element=CM-03",
        }
    ]


def test_html_shows_the_controls_on_each_finding() -> None:
    result = scan()
    page = render(result, OutputFormat.HTML)
    shown = re.findall(r'<p class="small">Controls: (.*)</p>\n', page)
    catalogue = load_catalogue()
    expected = [controls_text(catalogue[f.rule_id].frameworks) for f in result.findings]
    assert Counter(html.unescape(text) for text in shown) == Counter(t for t in expected if t)
    assert (
        '<p class="small">Controls: NIST SP 800-53 Rev. 5: IA-5 (Authenticator Management); '
        "Microsoft Zero Trust Assessment: 21772 (Applications don&#39;t have client secrets "
        "configured)</p>"
    ) in page


def test_markdown_lists_the_controls_of_the_rules_it_shows() -> None:
    result = scan()
    text = render(result, OutputFormat.MARKDOWN)
    section = text[text.index("### Controls\n") :].split("\n\n")[1]
    listed = sorted(
        {f.rule_id for f in result.findings if f.status is Status.ERROR or f.counts_as_failure}
    )
    catalogue = load_catalogue()
    expected = [rid for rid in listed if catalogue[rid].frameworks]
    assert [line[2:8] for line in section.splitlines()] == expected
    assert "- MAA301 self-approved-request: NIST SP 800-53 Rev. 5: AC-5 (Separation of " in section
    assert (
        "- MAA402 excluded-app-without-workload-ca: NIST SP 800-53 Rev. 5: AC-2(11) (Account "
        "Management \\| Usage Conditions); Microsoft Zero Trust Assessment: 21883 (Workload "
        "Identities are configured with risk-based policies), 21884 (Conditional Access policies "
        "for workload identities based on known networks are configured)"
    ) in section.splitlines()


# ---- the command line --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAA_GUARD_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, "scan", "--snapshot", str(FIXTURE), "--format", "json", *argv)
    return code, json.loads(out)


@pytest.mark.parametrize(
    ("name", "expected", "framework"),
    [
        ("nist-800-53", NIST_RULES, "NIST SP 800-53 Rev. 5"),
        ("NIST SP 800-53 Rev. 5", NIST_RULES, "NIST SP 800-53 Rev. 5"),
        ("MS-ZTA", ZTA_RULES, "Microsoft Zero Trust Assessment"),
    ],
)
def test_scan_framework_shows_exactly_the_mapped_rules_findings(
    capsys: pytest.CaptureFixture[str], name: str, expected: list[str], framework: str
) -> None:
    full_code, full = scan_json(capsys)
    code, shown = scan_json(capsys, "--framework", name)
    wanted = [f for f in full["findings"] if f["rule_id"] in expected]
    assert shown["findings"] == wanted
    assert {f["rule_id"] for f in full["findings"]} - set(expected)  # something was hidden
    assert (code, shown["summary"], shown["rules"]) == (full_code, full["summary"], full["rules"])
    assert shown["display_filter"] == {
        "severity": None,
        "status": [],
        "resource": None,
        "framework": framework,
        "shown": len(wanted),
        "total": len(full["findings"]),
    }


def test_scan_framework_never_changes_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every workload protected, but the one approver group has a single member: only MAA202
    (mapped to NIST, not to the Zero Trust Assessment) fails."""
    snap = new_snapshot()
    approver_group(snap, users=("u-1",))
    for policy_type in (
        "app",
        "script",
        "role",
        "deviceAction",
        "compliancePolicy",
        "configurationPolicy",
        "tenantConfiguration",
    ):
        add_policy(snap, f"pol-{policy_type}", policy_type)
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(snap), encoding="utf-8")
    argv = ("scan", "--snapshot", str(path), "--format", "json")
    code, out, _ = run(capsys, *argv, "--framework", "zero-trust-assessment")
    report = json.loads(out)
    assert code == 1
    assert report["summary"]["verdict"] == "fail"
    assert report["findings"] and not [f for f in report["findings"] if f["status"] == "fail"]
    assert {f["rule_id"] for f in report["findings"]} <= set(ZTA_RULES)
    code, out, _ = run(capsys, *argv)
    failing = {f["rule_id"] for f in json.loads(out)["findings"] if f["counts_as_failure"]}
    assert (code, failing) == (1, {"MAA202"})


def test_scan_with_an_unknown_framework_is_exit_2_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.sarif"
    code, out, err = run(
        capsys,
        "scan",
        "--snapshot",
        str(FIXTURE),
        "--framework",
        "iso-27001",
        "--output",
        f"sarif={target}",
    )
    assert (code, out) == (2, "")
    assert err == f"error: unknown framework 'iso-27001'\nhint: {CHOICES}\n"
    assert not target.exists()


def test_rules_list_framework_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "list", "--format", "json", "--framework", "ms-zta")
    rules = json.loads(out)
    assert code == 0
    assert [rule["id"] for rule in rules] == ZTA_RULES
    assert [m["control"] for m in rules[3]["frameworks"]] == ["AC-2(11)", "21883", "21884"]
    code, out, _ = run(capsys, "rules", "list", "--format", "json")
    assert len(json.loads(out)) == len(load_catalogue())


def test_rules_list_framework_table_has_a_controls_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "rules", "list", "--format", "table", "--framework", "nist-800-53", "--no-color"
    )
    assert code == 0
    assert "maa-guard rules mapped to NIST SP 800-53 Rev. 5" in out
    assert re.search(r"^ MAA301 .* AC-5, AU-6, CM-5\(4\)$", out, re.MULTILINE)
    assert "MAA501" not in out and "MAA208" not in out


def test_rules_list_with_an_unknown_framework_is_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "rules", "list", "--framework", "cis")
    assert (code, out) == (2, "")
    assert err == f"error: unknown framework 'cis'\nhint: {CHOICES}\n"
