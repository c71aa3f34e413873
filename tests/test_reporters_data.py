"""The machine-readable reports: JSON (against docs/report-schema.json) and CSV."""

from __future__ import annotations

import csv
import io

from test_reporters_support import (
    TENANT_ID,
    by_rule_and_resource,
    fingerprint_of,
    json_report,
    scan,
    tenant_document,
    with_incomplete_sources,
)

from maa_guard.reporters import OutputFormat, render
from maa_guard.reporters.csv_report import COLUMNS


def test_json_envelope() -> None:
    report = json_report(scan())
    assert report["schema_version"] == 1
    assert report["tool"] == {"name": "maa-guard", "version": "0.1.0"}
    assert report["tenant"] == {"id": TENANT_ID, "display_name": "Contoso Reporting"}
    assert report["collected_at"] == "2026-11-01T08:00:00Z"
    assert report["window"] == {"start": "2026-10-02T08:00:00Z", "end": "2026-11-01T08:00:00Z"}
    assert report["settings"] == {"fail_on": "high", "allow_incomplete": False}
    assert report["warnings"] == [
        "suppression of MAA303 for req-self expired on 2026-10-01; the finding counts again"
    ]


def test_json_summary_counts_only_counted_failures_by_severity() -> None:
    summary = json_report(scan())["summary"]
    assert summary == {
        "verdict": "fail",
        "rules": 27,
        "checks": 56,
        "by_status": {"pass": 25, "fail": 21, "error": 1, "skipped": 9},
        "failing_by_severity": {"critical": 3, "high": 8, "medium": 6, "low": 3},
        "failing": 20,
        "suppressed": 1,
        "baselined": 0,
    }


def test_json_lists_passes_fails_errors_and_skips_per_rule_and_resource() -> None:
    findings = by_rule_and_resource(json_report(scan())["findings"])
    expected = {
        ("MAA103", "pol-roles"): ("fail", "critical", "the access policy has no approver group"),
        ("MAA103", "pol-apps"): ("pass", "critical", "1 approver group(s) assigned"),
        ("MAA201", "grp-deleted"): ("fail", "critical", "the approver group does not exist"),
        ("MAA208", "grp-helpdesk"): (
            "error",
            "medium",
            "could not verify the Intune licence of 1 approver(s)",
        ),
        ("MAA401", "app-gone"): (
            "skipped",
            "high",
            "the app has no service principal in the tenant (see MAA407)",
        ),
        ("MAA101", "compliancePolicy"): (
            "fail",
            "medium",
            "no access policy protects compliance policies",
        ),
    }
    for key, (status, severity, message) in expected.items():
        finding = findings[key]
        assert (finding["status"], finding["severity"], finding["message"]) == (
            status,
            severity,
            message,
        ), key
    assert findings[("MAA201", "grp-deleted")]["resource"] == {
        "type": "group",
        "id": "grp-deleted",
        "display_name": "",
    }
    assert findings[("MAA406", "app-patch")]["evidence"] == {
        "appOwnerOrganizationId": TENANT_ID,
        "tenantId": TENANT_ID,
    }


def test_json_suppressions_active_and_expired() -> None:
    findings = by_rule_and_resource(json_report(scan())["findings"])
    active = findings[("MAA304", "req-pending")]
    assert active["suppression"] == {
        "reason": "Change freeze until the request is withdrawn",
        "expires": "2026-12-31",
        "expired": False,
    }
    assert active["counts_as_failure"] is False
    expired = findings[("MAA303", "req-self")]
    assert expired["suppression"] == {
        "reason": "Accepted during the pilot",
        "expires": "2026-10-01",
        "expired": True,
    }
    assert expired["counts_as_failure"] is True
    assert findings[("MAA301", "req-self")]["suppression"] is None


def test_json_reports_incomplete_sources_with_their_reasons() -> None:
    report = json_report(scan(with_incomplete_sources()))
    assert report["sources"]["groups"] == {
        "state": "failed",
        "reason": "HTTP 403 on /groups",
        "missing_permission": "GroupMember.Read.All",
        "missing_licence": None,
    }
    assert report["sources"]["sign_in_activity"] == {
        "state": "partial",
        "reason": "first page only",
        "missing_permission": None,
        "missing_licence": "Microsoft Entra ID P1",
    }
    errored = by_rule_and_resource(report["findings"])[("MAA201", TENANT_ID)]
    assert errored["status"] == "error"
    assert errored["message"] == (
        "could not verify: groups is failed (HTTP 403 on /groups); "
        "missing permission GroupMember.Read.All"
    )
    assert report["summary"]["verdict"] == "fail"


def test_json_reports_a_source_missing_from_the_snapshot_as_failed() -> None:
    document = with_incomplete_sources()
    del document["sources"]["rbac"]
    report = json_report(scan(document))
    assert report["sources"]["rbac"] == {
        "state": "failed",
        "reason": "not recorded in the snapshot",
        "missing_permission": None,
        "missing_licence": None,
    }


def test_json_verdict_incomplete_and_pass() -> None:
    only_errors = scan(only_rules=("MAA208",))
    assert json_report(only_errors)["summary"]["verdict"] == "incomplete"
    allowed = scan(only_rules=("MAA208",), allow_incomplete=True)
    assert json_report(allowed)["summary"]["verdict"] == "pass"
    report_only = scan(exit_zero=True)
    assert json_report(report_only)["summary"]["verdict"] == "fail"


def test_json_baselined_failure_does_not_count() -> None:
    known = frozenset({fingerprint_of(scan(), "MAA201", "grp-deleted")})
    report = json_report(scan(known=known))
    finding = by_rule_and_resource(report["findings"])[("MAA201", "grp-deleted")]
    assert (finding["status"], finding["baselined"], finding["counts_as_failure"]) == (
        "fail",
        True,
        False,
    )
    assert report["summary"]["failing_by_severity"]["critical"] == 2
    assert (report["summary"]["failing"], report["summary"]["baselined"]) == (19, 1)


def test_json_layout_keeps_non_ascii_and_ends_with_one_newline() -> None:
    document = tenant_document()
    document["tenant"]["display_name"] = "Contoso Zoë ✓"
    text = render(scan(document), OutputFormat.JSON)
    assert text.startswith('{\n  "schema_version": 1,\n  "tool": {\n    "name": "maa-guard",')
    assert '"display_name": "Contoso Zoë ✓"' in text
    assert text.endswith("}\n") and not text.endswith("\n\n")


def test_csv_has_a_header_and_one_row_per_finding_in_engine_order() -> None:
    result = scan()
    rows = list(csv.reader(io.StringIO(render(result, OutputFormat.CSV), newline="")))
    assert tuple(rows[0]) == COLUMNS
    assert [(r[0], r[5], r[3]) for r in rows[1:]] == [
        (f.rule_id, f.resource.id, f.status.value) for f in result.findings
    ]


def test_csv_row_content_and_suppressed_flag() -> None:
    text = render(scan(), OutputFormat.CSV)
    rows = {
        (r["rule_id"], r["resource_id"]): r for r in csv.DictReader(io.StringIO(text, newline=""))
    }
    deleted = rows[("MAA201", "grp-deleted")]
    assert deleted["slug"] == "approver-group-missing"
    assert (deleted["severity"], deleted["status"], deleted["resource_type"]) == (
        "critical",
        "fail",
        "group",
    )
    assert deleted["message"] == "the approver group does not exist"
    assert deleted["suppressed"] == "false"
    assert len(deleted["fingerprint"]) == 32
    assert rows[("MAA304", "req-pending")]["suppressed"] == "true"
    assert rows[("MAA303", "req-self")]["suppressed"] == "false"  # expired suppression
    # Remediation starts with a Markdown bullet "- ": neutralised like any other leading "-".
    assert deleted["remediation"].startswith("'- ")
    assert "\r\n" in text and text.endswith("\r\n")
