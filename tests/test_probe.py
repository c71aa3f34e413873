"""`maa-guard probe`: the report model from canned observations, verdicts, redaction, docs, CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from maa_guard.errors import UsageError
from maa_guard.probe.assumptions import ASSUMPTION_KEYS, ASSUMPTIONS
from maa_guard.probe.model import build_report, enum_counts, named, shapes
from maa_guard.probe.observe import Answer, Observations, maa_categories, reached
from maa_guard.probe.redact import Redactor, microsoft_text
from maa_guard.probe.render import render, report_json
from maa_guard.probe.report import ProbeReport, PropertyShape, Shapes, ValueCount
from maa_guard.probe.targets import all_targets, in_function_call
from maa_guard.probe.verdicts import RULES

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 10, 30, 12, 0, tzinfo=timezone.utc)
SALT = b"fixed salt for tests"
POLICY_A = "0b7c7f5e-1111-4c3b-9a55-1d2f3e4a5b6c"
POLICY_B = "0b7c7f5e-2222-4c3b-9a55-1d2f3e4a5b6c"
APP_SP = "6a1e2b3c-3333-4d5e-8f90-112233445566"


def answer(key: str, body: Mapping[str, Any] | None = None, status: int = 200, **kw: Any) -> Answer:
    return Answer(key, status, body=body, **kw)


def page(*items: Any) -> dict[str, Any]:
    return {"value": list(items)}


def policy(policy_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.operationApprovalPolicy",
        "id": policy_id,
        "displayName": "Apps",
        "description": "second admin approves",
        "lastModifiedDateTime": "2026-06-12T09:14:03Z",
        "policyType": "app",
        "policyPlatform": "notApplicable",
        "policySet": {"policyType": "app", "policyPlatform": "notApplicable"},
        "approverGroupIds": ["2f991ba4-2604-497e-afa9-3c9b0d4f500c"],
        **extra,
    }


def request(status: str, requestor: Any, approver: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"req-{status}",
        "status": status,
        "requestor": requestor,
        "approver": approver,
        "requestDateTime": "2026-10-06T09:12:44Z",
        "expirationDateTime": "2026-10-09T09:12:44Z",
        "lastModifiedDateTime": "2026-10-06T11:40:02Z",
        "requestJustification": "CHG0041233",
        "approvalJustification": "ok",
        "requiredOperationApprovalPolicyTypes": ["app"],
        **extra,
    }


USER = {"user": {"id": "u1", "displayName": "Adele Vance"}, "application": None, "device": None}
EMPTY_IDENTITY = {"user": None, "application": None, "device": None}


def exclusion_event(event_id: str, verb: str, category: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "activity": f"{verb} exclusion to access policy",
        "activityType": f"{verb} OperationApprovalPolicyExclusion",
        "componentName": "MultiAdminApproval",
        "category": category,
        "resources": [
            {"resourceId": POLICY_A, "displayName": "Apps", "type": "OperationApprovalPolicy"},
            {
                "resourceId": APP_SP,
                "displayName": "Tag Sync",
                "type": "ServicePrincipal",
                "modifiedProperties": [{"displayName": "ExcludedApplications[0].AppId"}],
            },
        ],
    }


def published_like() -> Observations:
    """A tenant as Microsoft's published Graph would answer: no exclusion property, null
    identities, payload fields, MAA events in their own category; sign-in report refused."""
    requests = [
        request("completed", None, None, payloadName="Company Portal", payloadId="p1"),
        request("needsApproval", EMPTY_IDENTITY, None, payloadName="CP", payloadId=None),
    ]
    events = [
        exclusion_event("e1", "Add", "MultiAdminApproval"),
        exclusion_event("e2", "Remove", "MultiAdminApproval"),
        {"id": "e3", "activity": "Wipe ManagedDevice", "activityType": "Wipe ManagedDevice",
         "componentName": "Device", "category": "Device", "resources": []},
    ]  # fmt: skip
    listed = [{k: v for k, v in policy(POLICY_A).items() if k != "approverGroupIds"}]
    answers = [
        answer("policies.list", page(*listed, policy(POLICY_B))),
        answer("policies.get", policy(POLICY_A), fill=POLICY_A),
        answer("policies.get", policy(POLICY_B, policyType="tenantConfiguration"), fill=POLICY_B),
        answer("requests.list", page(*requests)),
        answer("requests.select", page(), status=400, code="BadRequest"),
        answer("tenant.conditionalAccess", status=403, code="Authorization_RequestDenied"),
        answer("audit.events", {**page(*events), "@odata.nextLink": "https://next"}),
        answer("audit.categories", page("Device", "MultiAdminApproval")),
        answer("audit.activityTypes", page("Wipe ManagedDevice"), fill="Device"),
        answer(
            "audit.activityTypes",
            page("Add OperationApprovalPolicyExclusion", "Remove OperationApprovalPolicyExclusion"),
            fill="MultiAdminApproval",
        ),
        answer("audit.eventsByCategory", page(events[0]), fill="MultiAdminApproval"),
        answer("signIns.report", status=404, code="Request_ResourceNotFound"),
        answer("signIns.log", page()),
        answer("tenant.organization", page({"id": "4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58"})),
    ]
    return Observations(NOW, 30, tuple(answers))


def report_of(observations: Observations, salt: bytes = SALT) -> ProbeReport:
    return build_report(
        observations,
        Redactor(salt),
        tool_version="0.1.0",
        generated_at=NOW,
        cloud="global",
        custom_endpoint=False,
    )


def verdicts(report: ProbeReport) -> dict[str, tuple[str, str]]:
    return {j.key: (j.verdict.value, j.observation) for j in report.assumptions}


# ---- shapes, enums, identities -------------------------------------------------------------


def test_shapes_name_every_path_with_its_json_types_and_how_often() -> None:
    found = shapes(
        [
            {"a": 1, "b": None, "c": [1, "x"], "d": {"e": True, "f": [{"g": 1.5}]}, "h": []},
            {"a": "text", "d": None},
        ],
        Redactor(SALT),
    )
    assert found == Shapes(
        2,
        (
            PropertyShape("a", ("number", "string"), 2),
            PropertyShape("b", ("null",), 1),
            PropertyShape("c", ("array<number|string>",), 1),
            PropertyShape("d", ("null", "object"), 2),
            PropertyShape("d.e", ("boolean",), 1),
            PropertyShape("d.f", ("array<object>",), 1),
            PropertyShape("d.f[].g", ("number",), 1),
            PropertyShape("h", ("array<empty>",), 1),
        ),
    )


def test_enum_counts_count_members_of_arrays_and_show_other_types_by_type() -> None:
    counted = enum_counts(
        [{"t": "app"}, {"t": ["role", "app"]}, {"t": None}, {"t": 3}, {}], "t", Redactor(SALT)
    )
    assert counted.values == (
        ValueCount("app", 2),
        ValueCount("<null>", 1),
        ValueCount("<number>", 1),
        ValueCount("role", 1),
    )


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (None, False),
        ("someone", False),
        ({}, False),
        (EMPTY_IDENTITY, False),
        ({"user": {"id": None, "displayName": ""}}, False),
        ({"@odata.type": "#microsoft.graph.identitySet", "user": None}, False),
        (USER, True),
        ({"application": {"id": "a1"}}, True),
    ],
)
def test_an_identity_set_names_someone_only_with_a_non_empty_member(
    identity: object, expected: bool
) -> None:
    assert named(identity) is expected


# ---- the report from canned observations ----------------------------------------------------


def test_policy_section_finds_the_exclusion_property_and_counts_enums() -> None:
    observations = published_like()
    answers = [
        a
        if a.key != "policies.get"
        else answer("policies.get", policy(a.fill, ExcludedAppIDs=[APP_SP]), fill=a.fill)
        for a in observations.answers
    ]
    section = report_of(Observations(NOW, 30, tuple(answers))).evidence.policies
    assert (section.listed, section.read_by_id) == (2, 2)
    assert section.exclusion_property == PropertyShape("ExcludedAppIDs", ("array<string>",), 2)
    assert section.undocumented == ("ExcludedAppIDs",)
    assert [(e.field, e.values) for e in section.enums] == [
        ("policyType", (ValueCount("app", 2),)),
        ("policyPlatform", (ValueCount("notApplicable", 2),)),
    ]
    assert section.list_shapes.count("approverGroupIds") == 1


def test_request_section_shares_of_null_identities_and_payload_fields() -> None:
    section = report_of(published_like()).evidence.requests
    assert (section.read, section.decided, section.decided_without_approver) == (2, 1, 1)
    assert (section.null_requestor.count, section.null_requestor.total) == (2, 2)
    assert section.null_requestor.percent() == "100%"
    assert (section.null_approver.count, section.null_approver.fraction) == (2, 1.0)
    fields = {f.name: (f.present, f.non_null, f.total) for f in section.payload_fields}
    assert fields == {
        "payload": (0, 0, 2),
        "payloadName": (2, 2, 2),
        "payloadType": (0, 0, 2),
        "payloadSubtype": (0, 0, 2),
        "payloadOperation": (0, 0, 2),
        "payloadId": (2, 1, 2),
        "displayPayload": (0, 0, 2),
    }
    assert section.undocumented == ("payloadId", "payloadName")


def test_audit_section_groups_maa_events_once_each() -> None:
    section = report_of(published_like()).evidence.audit
    assert section.categories == ("Device", "MultiAdminApproval")
    assert section.events_read == 3  # e1 read twice (window and category), counted once
    assert section.more_events is True
    assert [(t.category, t.activity_type, t.resource_types, t.modified_properties, t.count)
            for t in section.maa_events] == [
        ("MultiAdminApproval", "Add OperationApprovalPolicyExclusion",
         ("OperationApprovalPolicy", "ServicePrincipal"), ("ExcludedApplications[].AppId",), 1),
        ("MultiAdminApproval", "Remove OperationApprovalPolicyExclusion",
         ("OperationApprovalPolicy", "ServicePrincipal"), ("ExcludedApplications[].AppId",), 1),
    ]  # fmt: skip
    assert (section.exclusion_events, section.exclusion_events_named) == (2, 2)


def test_every_assumption_of_a_published_like_tenant_gets_its_verdict() -> None:
    assert verdicts(report_of(published_like())) == {
        "policy.documented-properties": (
            "confirmed",
            "all present on each of 2 policies read by id",
        ),
        "policy.exclusion-property": (
            "confirmed",
            "no property name contains 'exclu' on 2 policies",
        ),
        "policy.approverGroupIds-on-list": (
            "confirmed",
            "the list left approverGroupIds out on 1 of 2 policies",
        ),
        "enum.policyType-members": (
            "confirmed",
            "policyType seen: app (1), tenantConfiguration (1); "
            "requiredOperationApprovalPolicyTypes seen: app (2)",
        ),
        "enum.policyPlatform-members": ("confirmed", "policyPlatform seen: notApplicable (2)"),
        "enum.requestStatus-members": (
            "confirmed",
            "status seen: completed (1), needsApproval (1)",
        ),
        "enum.unknown-members-prefer": ("confirmed", "returned by name: tenantConfiguration (1)"),
        "request.documented-properties": ("confirmed", "all present on each of 2 requests"),
        "request.requestor-populated": (
            "contradicted",
            "requestor null on 2 of 2 requests (100%)",
        ),
        "request.approver-populated": (
            "contradicted",
            "approver null on 1 of 1 decided requests",
        ),
        "request.payload-fields": (
            "confirmed",
            "present: payloadName (2 of 2), payloadId (2 of 2)",
        ),
        "approval.filed-412": (
            "not seen",
            "the probe sends no writes, so it never files a request",
        ),
        "audit.functions": ("confirmed", "2 categories; activity types of 2 of 2 read"),
        "audit.maa-category": (
            "confirmed",
            "exclusion events in MultiAdminApproval (2 events), chosen by its activity types",
        ),
        "audit.exclusion-events": (
            "confirmed",
            "2 exclusion events, each naming an access policy and an application",
        ),
        "audit.event-filters": (
            "confirmed",
            "audit.events: 1 of 1 answered, audit.eventsByCategory: 1 of 1 answered",
        ),
        "query.select-accepted": ("contradicted", "HTTP 400 from requests.select"),
        "signin.activity-report": (
            "contradicted",
            "signIns.report answered HTTP 404 Request_ResourceNotFound; "
            "signIns.log answered HTTP 200",
        ),
    }


def test_verdicts_turn_when_the_tenant_answers_otherwise() -> None:
    base = published_like().answers
    changed = [
        answer("policies.get", policy(a.fill, excludedApplicationIds=[APP_SP]), fill=a.fill)
        if a.key == "policies.get"
        else answer("policies.list", page(policy(POLICY_A)))
        if a.key == "policies.list"
        else answer("requests.list", page(request("rejected", USER, USER, policyType="x")))
        if a.key == "requests.list"
        else answer("audit.activityTypes", page("Wipe ManagedDevice"), fill=a.fill)
        if a.key == "audit.activityTypes"
        else a
        for a in base
        if a.key not in ("requests.select", "signIns.report")
    ]
    result = verdicts(report_of(Observations(NOW, 30, tuple(changed))))
    assert result["policy.exclusion-property"] == (
        "contradicted",
        "excludedApplicationIds (array<string>) on 2 of 2 policies",
    )
    assert result["policy.approverGroupIds-on-list"] == (
        "contradicted",
        "the list carried approverGroupIds on all 1 policies",
    )
    assert result["request.requestor-populated"] == (
        "confirmed",
        "requestor named on all 1 requests",
    )
    assert result["request.approver-populated"] == (
        "confirmed",
        "approver named on all 1 decided requests",
    )
    assert result["request.payload-fields"] == (
        "contradicted",
        "none of the 7 payload fields on 1 requests",
    )
    assert result["audit.maa-category"] == (
        "contradicted",
        "exclusion events in MultiAdminApproval (2 events), whose activity types mention no "
        "exclusion or approval",
    )
    assert result["query.select-accepted"] == (
        "confirmed",
        "accepted by 4 of 5 endpoints; not answered: tenant.conditionalAccess HTTP 403 "
        "Authorization_RequestDenied",
    )
    assert result["signin.activity-report"] == ("not seen", "signIns.report not read")


def test_an_unknown_enum_member_and_the_sentinel_contradict() -> None:
    answers = [
        answer("policies.get", policy(POLICY_A, policyType="unknownFutureValue",
                                      policyPlatform=["macOS", "linux"]), fill=POLICY_A),
        answer("requests.list", page(request("parked", USER, None))),
    ]  # fmt: skip
    result = verdicts(report_of(Observations(NOW, 30, tuple(answers))))
    assert result["enum.unknown-members-prefer"] == (
        "contradicted",
        "unknownFutureValue seen in policyType (1)",
    )
    assert result["enum.policyPlatform-members"] == (
        "contradicted",
        "policyPlatform is array<string>",
    )
    assert result["enum.requestStatus-members"] == (
        "contradicted",
        "not documented in status: parked (1)",
    )


def test_nothing_read_is_not_seen_with_the_reason() -> None:
    answers = [
        answer("policies.list", status=403, code="Authorization_RequestDenied"),
        answer("requests.list", status=403, code="Authorization_RequestDenied"),
        answer("audit.categories", status=403, code="Authorization_RequestDenied"),
    ]
    result = verdicts(report_of(Observations(NOW, 30, tuple(answers))))
    assert result["policy.documented-properties"] == (
        "not seen",
        "policies.get not read (no access policy was listed)",
    )
    assert result["policy.exclusion-property"] == (
        "not seen",
        "policies.list answered HTTP 403 Authorization_RequestDenied",
    )
    assert result["request.requestor-populated"] == (
        "not seen",
        "requests.list answered HTTP 403 Authorization_RequestDenied",
    )
    assert result["audit.functions"] == (
        "not seen",
        "audit.categories answered HTTP 403 Authorization_RequestDenied",
    )
    assert {v for v, _ in result.values()} == {"not seen"}


def test_endpoint_rows_keep_the_worst_status_and_say_why_one_was_not_read() -> None:
    rows = {row.key: row for row in report_of(published_like()).evidence.endpoints}
    assert [row.key for row in rows.values()] == [t.key for t in all_targets(NOW, 30)]
    assert (rows["policies.get"].calls, rows["policies.get"].ok, rows["policies.get"].status) == (
        2,
        2,
        200,
    )
    assert (rows["requests.select"].status, rows["requests.select"].codes) == (400, ("BadRequest",))
    assert (rows["audit.events"].items, rows["audit.events"].more) == (3, True)
    assert (rows["directory.users"].status, rows["directory.users"].note) == (None, "")
    assert rows["apps.graphAppRoleAssignedTo"].note == (
        "the Microsoft Graph service principal was not read"
    )


def test_maa_categories_come_from_names_activity_types_and_events() -> None:
    answers = [
        answer("audit.categories", page("Device", "MultiAdminApproval", "Other")),
        answer("audit.activityTypes", page("Approve OperationApprovalRequest"), fill="Role"),
        answer("audit.activityTypes", page("Wipe ManagedDevice"), fill="Device"),
        answer("audit.events", page({"category": "Enrollment", "activity": "Exclusion added"})),
    ]
    assert maa_categories(answers) == ["MultiAdminApproval", "Role", "Enrollment"]


def test_graph_is_reached_by_any_answer_but_401_and_our_own_failures() -> None:
    assert reached([answer("policies.list", status=403)]) is True
    assert (
        reached([answer("x", status=599), answer("y", status=401), answer("z", status=0)]) is False
    )


# ---- redaction -----------------------------------------------------------------------------


def test_names_pass_or_become_salted_hashes() -> None:
    one, other = Redactor(SALT), Redactor(b"another salt")
    assert one.name("approverGroupIds") == "approverGroupIds"
    assert one.name("@odata.type") == "@odata.type"
    for hostile in ("Adele Vance", "x" * 65, "a/b", "name\u202e", ""):
        hashed = one.name(hostile)
        assert re.fullmatch(r"h:[0-9a-f]{12}", hashed)
        assert hashed == Redactor(SALT).name(hostile) != other.name(hostile)
    assert one.path(("requestor", "user name", "id")) == (f"requestor.{one.hash('user name')}.id")
    assert one.property_name("Assignments[12].Target") == "Assignments[].Target"
    assert re.fullmatch(r"h:[0-9a-f]{12}", one.property_name("Name: Adele"))
    assert "salt" in repr(one) and SALT.decode() not in repr(one)


def test_microsoft_text_is_one_inert_line_of_at_most_120_characters() -> None:
    assert microsoft_text("Add\x1b[31m exclusion\u202e\nto policy") == (
        "Add\\x1b[31m exclusion\\u202e to policy"
    )
    assert microsoft_text("a" * 200) == "a" * 119 + "…"
    assert microsoft_text(None) == ""


def test_a_category_is_quoted_for_the_function_call_as_the_collector_does() -> None:
    assert in_function_call("Device Configuration") == "Device%20Configuration"
    assert in_function_call("O'Brien") == "O''Brien"


# ---- docs and data agree -------------------------------------------------------------------


def _table(heading: str) -> list[list[str]]:
    text = (REPO / "docs" / "assumptions.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_docs_assumptions_list_exactly_the_probes_assumptions() -> None:
    rows = [(key.strip("`"), statement) for key, statement, _ in _table("Assumptions")]
    assert rows == [(a.key, a.statement) for a in ASSUMPTIONS]
    assert 10 <= len(rows) <= 20
    assert all(source for _, _, source in _table("Assumptions"))


def test_docs_list_every_endpoint_with_its_permission() -> None:
    rows = [
        (key.strip("`"), request.strip("`"), permission)
        for key, request, permission, _ in _table("Endpoints and permissions")
    ]
    assert rows == [
        (t.key, f"GET /{t.version}/{t.path}", t.permission) for t in all_targets(NOW, 30)
    ]


def test_every_assumption_has_one_rule() -> None:
    assert tuple(RULES) == ASSUMPTION_KEYS
    assert len(set(ASSUMPTION_KEYS)) == len(ASSUMPTION_KEYS)


# ---- rendering -----------------------------------------------------------------------------


def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((REPO / "docs" / "probe-schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_json_report_validates_against_its_schema() -> None:
    document = json.loads(render(report_of(published_like()), "json"))
    assert list(schema_validator().iter_errors(document)) == []
    assert document == report_json(report_of(published_like()))
    assert document["tenant"] == Redactor(SALT).hash("4c8e2f1a-7b3d-4e59-a1c6-9d0f2b7e3a58")
    assert document["approval_requests"]["null_requestor"] == {"count": 2, "total": 2, "share": 1.0}


def test_markdown_and_terminal_start_with_the_assumptions() -> None:
    report = report_of(published_like())
    markdown = render(report, "markdown")
    assert markdown.startswith("## maa-guard 0.1.0 probe: tenant h:")
    assert "### Assumptions (13 confirmed, 4 contradicted, 1 not seen)\n" in markdown
    assert "| request.requestor-populated | contradicted | requestor null on 2 of 2 requests " \
           "(100%) |" in markdown  # fmt: skip
    terminal = render(report, "table")
    assert "Assumptions (13 confirmed, 4 contradicted, 1 not seen)" in terminal
    assert "\x1b" not in terminal


# ---- command line --------------------------------------------------------------------------


def _probe_outputs(specs: list[str]) -> list[tuple[str, Path]]:
    from maa_guard.cli.options import OUTPUT_FORMATS, parse_outputs

    files = parse_outputs([("-o", spec) for spec in specs], OUTPUT_FORMATS["probe"])
    return [(file.format, file.path) for file in files]


def test_output_options_take_the_format_from_the_name_or_the_suffix(tmp_path: Path) -> None:
    assert _probe_outputs([str(tmp_path / "p.md"), f"json={tmp_path / 'p.txt'}", "x.TXT"]) == [
        ("markdown", tmp_path / "p.md"),
        ("json", tmp_path / "p.txt"),
        ("table", Path("x.TXT")),
    ]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["probe.pdf"], "-o 'probe.pdf': cannot tell the format from the file name"),
        (["json="], "-o 'json=': no file after '='"),
        ([""], "-o needs a file name"),
        (["a.json", "json=a.json"], "two -o options name the same file"),
    ],
)
def test_bad_output_options_are_usage_errors(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError) as raised:
        _probe_outputs(specs)
    assert raised.value.message == message
