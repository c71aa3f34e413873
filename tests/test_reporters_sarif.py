"""SARIF 2.1.0: every log the tests produce is validated against the official schema."""

from __future__ import annotations

from datetime import date
from typing import Any

from test_reporters_support import (
    TENANT_ID,
    fingerprint_of,
    sarif,
    scan,
    tenant_document,
    with_incomplete_sources,
)

from maa_guard.catalogue import load_catalogue
from maa_guard.config import RuleSettings, SuppressionEntry
from maa_guard.model import Severity
from maa_guard.reporters import RenderOptions


def _results(log: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]): r
        for r in log["runs"][0]["results"]
    }


def _fqn(kind: str, resource_id: str) -> str:
    return f"tenant/{TENANT_ID}/{kind}/{resource_id}"


def test_driver_lists_the_catalogue_as_rules() -> None:
    log = sarif(scan())
    assert log["version"] == "2.1.0"
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("maa-guard", "0.1.0")
    assert "informationUri" not in driver  # no public home page yet; SARIF makes it optional
    assert [rule["id"] for rule in driver["rules"]] == list(load_catalogue())
    rule = driver["rules"][[r["id"] for r in driver["rules"]].index("MAA401")]
    catalogue = load_catalogue()["MAA401"]
    assert rule["name"] == "ExcludedAppClientSecret"
    assert rule["shortDescription"] == {"text": "Excluded app holds a client secret"}
    assert rule["fullDescription"] == {"text": catalogue.summary}
    assert rule["helpUri"] == catalogue.references[0]
    assert rule["help"]["markdown"].startswith("## Why it matters\n\n" + catalogue.rationale)
    assert catalogue.remediation in rule["help"]["text"]
    assert f"- <{catalogue.references[-1]}>" in rule["help"]["markdown"]
    assert rule["properties"]["security-severity"] == "7.0"
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert "exclusions" in rule["properties"]["tags"]


def test_security_severity_per_severity_and_overrides() -> None:
    overridden = scan(rules={"MAA401": RuleSettings(severity=Severity.LOW)})
    rules = {r["id"]: r for r in sarif(overridden)["runs"][0]["tool"]["driver"]["rules"]}
    assert {
        rid: rules[rid]["properties"]["security-severity"]
        for rid in ("MAA103", "MAA202", "MAA206", "MAA303", "MAA401")
    } == {"MAA103": "9.0", "MAA202": "7.0", "MAA206": "5.0", "MAA303": "3.0", "MAA401": "3.0"}
    assert rules["MAA401"]["defaultConfiguration"] == {"level": "note"}


def test_results_are_failures_and_unverified_checks_only() -> None:
    results = _results(sarif(scan()))
    assert len(results) == 22  # 21 failures + 1 error; passes and skips are no results
    role = results[("MAA103", _fqn("accessPolicy", "pol-roles"))]
    assert (role["kind"], role["level"]) == ("fail", "error")
    assert role["message"]["text"] == (
        "accessPolicy Role changes: the access policy has no approver group"
    )
    assert role["locations"] == [
        {
            "physicalLocation": {"artifactLocation": {"uri": _fqn("accessPolicy", "pol-roles")}},
            "logicalLocations": [
                {
                    "name": "Role changes",
                    "fullyQualifiedName": _fqn("accessPolicy", "pol-roles"),
                    "kind": "accessPolicy",
                }
            ],
        }
    ]
    assert role["ruleIndex"] == 2
    assert role["partialFingerprints"] == {
        "maaGuardFingerprint/v1": next(
            f.fingerprint
            for f in scan().findings
            if f.rule_id == "MAA103" and f.resource.id == "pol-roles"
        )
    }
    medium = results[("MAA207", _fqn("group", "grp-helpdesk"))]
    assert medium["level"] == "warning"
    low = results[("MAA409", _fqn("exclusion", "pol-scripts/app-gone"))]
    assert low["level"] == "note"
    unverified = results[("MAA208", _fqn("group", "grp-helpdesk"))]
    assert (unverified["kind"], unverified["level"]) == ("open", "none")
    assert ("MAA103", _fqn("accessPolicy", "pol-apps")) not in results
    assert ("MAA401", _fqn("application", "app-gone")) not in results


def test_suppressed_result_carries_an_accepted_external_suppression() -> None:
    results = _results(sarif(scan()))
    pending = results[("MAA304", _fqn("approvalRequest", "req-pending"))]
    assert pending["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "Change freeze until the request is withdrawn",
        }
    ]
    expired = results[("MAA303", _fqn("approvalRequest", "req-self"))]
    assert "suppressions" not in expired
    assert "baselineState" not in expired


def test_baseline_state_when_a_baseline_is_in_use(tmp_path: Any) -> None:
    known = frozenset({fingerprint_of(scan(), "MAA201", "grp-deleted")})
    results = _results(sarif(scan(known=known, baseline=tmp_path / "baseline.json")))
    assert results[("MAA201", _fqn("group", "grp-deleted"))]["baselineState"] == "unchanged"
    assert results[("MAA103", _fqn("accessPolicy", "pol-roles"))]["baselineState"] == "new"
    assert "baselineState" not in results[("MAA208", _fqn("group", "grp-helpdesk"))]


def test_tenant_level_result_and_incomplete_sources_become_notifications() -> None:
    log = sarif(scan(with_incomplete_sources()))
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notifications = {n["descriptor"]["id"]: n for n in invocation["toolExecutionNotifications"]}
    groups = notifications["maa-guard/source/groups"]
    assert groups["level"] == "error"
    assert groups["message"]["text"] == (
        "groups is failed (HTTP 403 on /groups); missing permission GroupMember.Read.All"
    )
    sign_ins = notifications["maa-guard/source/sign_in_activity"]
    assert sign_ins["level"] == "warning"
    assert sign_ins["properties"] == {
        "source": "sign_in_activity",
        "state": "partial",
        "missingLicence": "Microsoft Entra ID P1",
    }
    assert notifications["maa-guard/warning"]["message"]["text"] == (
        "suppression of MAA303 for req-self expired on 2026-10-01; the finding counts again"
    )
    results = _results(log)
    tenant = results[("MAA201", f"tenant/{TENANT_ID}")]
    assert (tenant["kind"], tenant["level"]) == ("open", "none")
    assert tenant["locations"][0]["logicalLocations"][0]["kind"] == "tenant"


def test_complete_clean_run_is_successful() -> None:
    log = sarif(scan(only_rules=("MAA102", "MAA406")), RenderOptions())
    run = log["runs"][0]
    assert run["invocations"][0] == {"executionSuccessful": True, "toolExecutionNotifications": []}
    assert run["results"] == []
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["MAA102", "MAA406"]


def test_artifact_uri_is_the_percent_encoded_logical_path() -> None:
    document = tenant_document()
    document["policies"][2]["id"] = "pol roles/ü<x>"
    results = _results(sarif(scan(document)))
    role = results[("MAA103", _fqn("accessPolicy", "pol roles/ü<x>"))]
    uri = role["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == f"tenant/{TENANT_ID}/accessPolicy/pol%20roles/%C3%BC%3Cx%3E"


# Bidirectional embeddings, overrides, isolates and marks, the Arabic letter mark, zero-width
# space, (non-)joiner, word joiner and byte order mark: each could disguise a finding in a view.
HIDING = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u200e\u200f\u061c\u200b\u200c\u200d\u2060\ufeff"
)
HIDING_SHOWN = (
    "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
    "\\u200e\\u200f\\u061c\\u200b\\u200c\\u200d\\u2060\\ufeff"
)
VIEWER_KEYS = ("text", "markdown", "name", "fullyQualifiedName", "justification")


def _viewer_strings(node: Any) -> list[str]:
    """Every string a code-scanning view shows: messages, rule texts, names, justifications."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                continue
            found += [value] if key in VIEWER_KEYS and isinstance(value, str) else []
            found += _viewer_strings(value)
    elif isinstance(node, list):
        for value in node:
            found += _viewer_strings(value)
    return found


def test_viewer_text_shows_bidi_and_zero_width_characters_as_escapes() -> None:
    document = tenant_document()
    document["tenant"]["display_name"] = "Contoso" + HIDING
    groups = {group["id"]: group for group in document["groups"]}
    groups["grp-helpdesk"]["displayName"] = "Help" + HIDING + "desk"
    reason = "frozen" + HIDING
    suppressions = (SuppressionEntry("MAA304", "req-pending", reason, date(2026, 12, 31)),)
    result = scan(document, suppressions=suppressions)
    log = sarif(result)
    viewer = _viewer_strings(log)
    assert viewer and not [text for text in viewer if set(text) & set(HIDING)]
    results = _results(log)
    message = next(
        f.message
        for f in result.findings
        if (f.rule_id, f.resource.id) == ("MAA204", "grp-helpdesk")
    )
    shown = results[("MAA204", _fqn("group", "grp-helpdesk"))]
    assert shown["message"]["text"] == f"group Help{HIDING_SHOWN}desk: {message}"
    assert shown["locations"][0]["logicalLocations"][0]["name"] == f"Help{HIDING_SHOWN}desk"
    pending = results[("MAA304", _fqn("approvalRequest", "req-pending"))]
    assert pending["suppressions"][0]["justification"] == "frozen" + HIDING_SHOWN
    run = log["runs"][0]
    assert run["properties"]["tenant"]["displayName"] == "Contoso" + HIDING  # data: exact


def test_viewer_text_keeps_other_characters() -> None:
    document = tenant_document()
    groups = {group["id"]: group for group in document["groups"]}
    groups["grp-helpdesk"]["displayName"] = "Hélp\U0001f600 \\u202e <b>"
    shown = _results(sarif(scan(document)))[("MAA204", _fqn("group", "grp-helpdesk"))]
    assert shown["locations"][0]["logicalLocations"][0]["name"] == "Hélp\U0001f600 \\u202e <b>"
